// Package transit imports GTFS feeds into PostGIS: `gusu import gtfs`.
// One or more feeds become one new version, in one transaction: the
// layers transit_stops and transit_routes (in the catalog and the tiles)
// and the timetable tables the transit engine reads. A feed with problems
// changes nothing.
package transit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gusu-gis/gusu/data/audit"
	"github.com/gusu-gis/gusu/data/sqlkit"
	"github.com/gusu-gis/gusu/geo/gtfs"
)

// Layer names in the catalog.
const (
	StopsLayer  = "transit_stops"
	RoutesLayer = "transit_routes"
)

// FeedInfo describes one imported feed.
type FeedInfo struct {
	ID        string    `json:"id"`
	File      string    `json:"file"`
	Stops     int       `json:"stops"`
	Routes    int       `json:"routes"`
	Trips     int       `json:"trips"`
	StopTimes int       `json:"stop_times"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
}

// Result reports an import.
type Result struct {
	Version int        `json:"version"`
	Feeds   []FeedInfo `json:"feeds"`
	Took    time.Duration
}

// FeedError is a feed that failed validation: which file, and its problems.
type FeedError struct {
	File string
	Errs *gtfs.Errors
}

func (e *FeedError) Error() string { return e.File + ": " + e.Errs.Error() }

var feedIDChars = regexp.MustCompile(`[^a-z0-9_]+`)

// feedID names a feed by its file: lower case, a-z0-9_.
func feedID(path string) string {
	base := strings.TrimSuffix(strings.ToLower(filepath.Base(path)), ".zip")
	id := strings.Trim(feedIDChars.ReplaceAllString(base, "_"), "_")
	if id == "" {
		id = "feed"
	}
	return id
}

// readFeeds reads and validates every file first: nothing is written unless
// all are sound.
func readFeeds(paths []string) ([]string, []*gtfs.Feed, error) {
	var ids []string
	var feeds []*gtfs.Feed
	seen := map[string]bool{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		feed, err := gtfs.Read(f, st.Size())
		f.Close()
		var ge *gtfs.Errors
		if errors.As(err, &ge) {
			return nil, nil, &FeedError{File: filepath.Base(p), Errs: ge}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		id := feedID(p)
		for n := 2; seen[id]; n++ {
			id = fmt.Sprintf("%s_%d", feedID(p), n)
		}
		seen[id] = true
		ids, feeds = append(ids, id), append(feeds, feed)
	}
	return ids, feeds, nil
}

// routeMode names a GTFS route_type as gusu's transit modes.
func routeMode(t int) string {
	switch {
	case t == 0 || (t >= 900 && t < 1000):
		return "tram"
	case t == 1 || (t >= 400 && t < 500):
		return "metro"
	case t == 2 || (t >= 100 && t < 200):
		return "rail"
	case t == 3 || (t >= 700 && t < 800):
		return "bus"
	case t == 4 || (t >= 1000 && t < 1100):
		return "ferry"
	}
	return "other"
}

// Import reads the GTFS zips at paths and makes them the transit network:
// a new version of transit_stops and transit_routes and of the timetable
// tables, replacing the previous import whole.
func Import(ctx context.Context, pool *pgxpool.Pool, paths []string, user string) (*Result, error) {
	start := time.Now()
	if len(paths) == 0 {
		return nil, errors.New("no GTFS file given")
	}
	ids, feeds, err := readFeeds(paths)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('gusu_transit_import'))"); err != nil {
			return err
		}
		// The new version is past both layers' numbers; the previous import's
		// tables are named by the stops table's suffix.
		var prev int
		var prevTable *string
		err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0), max(table_name) FILTER (WHERE name = $1)
			FROM gusu_layers WHERE name IN ($1, $2)`, StopsLayer, RoutesLayer).Scan(&prev, &prevTable)
		if err != nil {
			return err
		}
		v := prev + 1
		res.Version = v
		t := func(name string) string { return fmt.Sprintf("%s_v%d", name, v) }
		for _, sql := range []string{
			fmt.Sprintf(`CREATE TABLE %s (id bigserial PRIMARY KEY, feed text NOT NULL, stop_id text NOT NULL, name text, code text,
				location_type int NOT NULL, parent text, geom geometry(Point, 4326))`, sqlkit.Ident(t("transit_stops"))),
			fmt.Sprintf(`CREATE TABLE %s (id bigserial PRIMARY KEY, feed text NOT NULL, route_id text NOT NULL, short_name text, long_name text,
				route_type int NOT NULL, mode text NOT NULL, color text, trips int NOT NULL, geom geometry(MultiLineString, 4326))`, sqlkit.Ident(t("transit_routes"))),
			fmt.Sprintf(`CREATE TABLE %s (feed text NOT NULL, trip_id text NOT NULL, route_id text NOT NULL, service_id text NOT NULL,
				direction int NOT NULL, shape_id text, PRIMARY KEY (feed, trip_id))`, sqlkit.Ident(t("gtfs_trips"))),
			fmt.Sprintf(`CREATE TABLE %s (feed text NOT NULL, trip_id text NOT NULL, stop_id text NOT NULL, seq int NOT NULL,
				arrival int, departure int)`, sqlkit.Ident(t("gtfs_stop_times"))),
			fmt.Sprintf(`CREATE TABLE %s (feed text NOT NULL, service_id text NOT NULL, days bool[] NOT NULL, start_date date NOT NULL, end_date date NOT NULL)`, sqlkit.Ident(t("gtfs_calendar"))),
			fmt.Sprintf(`CREATE TABLE %s (feed text NOT NULL, service_id text NOT NULL, date date NOT NULL, exception int NOT NULL)`, sqlkit.Ident(t("gtfs_calendar_dates"))),
			fmt.Sprintf(`CREATE TABLE %s (feed text NOT NULL, trip_id text NOT NULL, start_s int NOT NULL, end_s int NOT NULL, headway_s int NOT NULL, exact bool NOT NULL)`, sqlkit.Ident(t("gtfs_frequencies"))),
			fmt.Sprintf(`CREATE TABLE %s (feed text NOT NULL, from_stop text NOT NULL, to_stop text NOT NULL, type int NOT NULL, min_time int)`, sqlkit.Ident(t("gtfs_transfers"))),
		} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("create transit tables: %w", err)
			}
		}
		copyRows := func(table string, cols []string, rows [][]any) error {
			if len(rows) == 0 {
				return nil
			}
			_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
			if err != nil {
				return fmt.Errorf("write %s: %w", table, err)
			}
			return nil
		}
		for i, f := range feeds {
			id := ids[i]
			info := FeedInfo{ID: id, File: filepath.Base(paths[i]), Stops: len(f.Stops), Routes: len(f.Routes), Trips: len(f.Trips), StopTimes: len(f.StopTimes), From: f.From, To: f.To}
			res.Feeds = append(res.Feeds, info)
			var rows [][]any
			stopAt := map[string]orb.Point{}
			for _, s := range f.Stops {
				var g []byte
				if s.LocationType <= 2 {
					p := orb.Point{s.Lon, s.Lat}
					stopAt[s.ID] = p
					g, _ = wkb.Marshal(p)
				}
				rows = append(rows, []any{id, s.ID, nullable(s.Name), nullable(s.Code), s.LocationType, nullable(s.Parent), g})
			}
			if err := copyStops(ctx, tx, t("transit_stops"), rows); err != nil {
				return err
			}
			rows = rows[:0]
			tripsOf := map[string][]gtfs.Trip{}
			for _, tr := range f.Trips {
				tripsOf[tr.Route] = append(tripsOf[tr.Route], tr)
				rows = append(rows, []any{id, tr.ID, tr.Route, tr.Service, tr.Direction, nullable(tr.Shape)})
			}
			if err := copyRows(t("gtfs_trips"), []string{"feed", "trip_id", "route_id", "service_id", "direction", "shape_id"}, rows); err != nil {
				return err
			}
			rows = rows[:0]
			stopsOfTrip := map[string][]string{}
			for _, st := range f.StopTimes {
				stopsOfTrip[st.Trip] = append(stopsOfTrip[st.Trip], st.Stop)
				rows = append(rows, []any{id, st.Trip, st.Stop, st.Sequence, nullInt(st.Arrival), nullInt(st.Departure)})
			}
			if err := copyRows(t("gtfs_stop_times"), []string{"feed", "trip_id", "stop_id", "seq", "arrival", "departure"}, rows); err != nil {
				return err
			}
			rows = rows[:0]
			for _, c := range f.Calendars {
				rows = append(rows, []any{id, c.Service, c.Days[:], c.Start, c.End})
			}
			if err := copyRows(t("gtfs_calendar"), []string{"feed", "service_id", "days", "start_date", "end_date"}, rows); err != nil {
				return err
			}
			rows = rows[:0]
			for _, d := range f.CalendarDates {
				rows = append(rows, []any{id, d.Service, d.Date, d.Exception})
			}
			if err := copyRows(t("gtfs_calendar_dates"), []string{"feed", "service_id", "date", "exception"}, rows); err != nil {
				return err
			}
			rows = rows[:0]
			for _, q := range f.Frequencies {
				rows = append(rows, []any{id, q.Trip, q.Start, q.End, q.Headway, q.ExactTimes})
			}
			if err := copyRows(t("gtfs_frequencies"), []string{"feed", "trip_id", "start_s", "end_s", "headway_s", "exact"}, rows); err != nil {
				return err
			}
			rows = rows[:0]
			for _, x := range f.Transfers {
				rows = append(rows, []any{id, x.From, x.To, x.Type, nullInt(x.MinTime)})
			}
			if err := copyRows(t("gtfs_transfers"), []string{"feed", "from_stop", "to_stop", "type", "min_time"}, rows); err != nil {
				return err
			}
			// Routes are drawn from their trips' shapes, or, without shapes,
			// through the stops of their longest trip.
			rows = rows[:0]
			for _, r := range f.Routes {
				var geom orb.MultiLineString
				shapes := map[string]bool{}
				for _, tr := range tripsOf[r.ID] {
					if pts := f.Shapes[tr.Shape]; tr.Shape != "" && len(pts) >= 2 && !shapes[tr.Shape] {
						shapes[tr.Shape] = true
						ls := make(orb.LineString, len(pts))
						for k, p := range pts {
							ls[k] = orb.Point{p.Lon, p.Lat}
						}
						geom = append(geom, ls)
					}
				}
				if len(geom) == 0 {
					var best []string
					for _, tr := range tripsOf[r.ID] {
						if s := stopsOfTrip[tr.ID]; len(s) > len(best) {
							best = s
						}
					}
					var ls orb.LineString
					for _, s := range best {
						if p, ok := stopAt[s]; ok {
							ls = append(ls, p)
						}
					}
					if len(ls) >= 2 {
						geom = orb.MultiLineString{ls}
					}
				}
				var g []byte
				if len(geom) > 0 {
					g, _ = wkb.Marshal(geom)
				}
				rows = append(rows, []any{id, r.ID, nullable(r.ShortName), nullable(r.LongName), r.Type, routeMode(r.Type), colour(r.Color), len(tripsOf[r.ID]), g})
			}
			if err := copyRoutes(ctx, tx, t("transit_routes"), rows); err != nil {
				return err
			}
		}
		for _, sql := range []string{
			fmt.Sprintf("CREATE INDEX ON %s USING gist (geom)", sqlkit.Ident(t("transit_stops"))),
			fmt.Sprintf("CREATE INDEX ON %s USING gist (geom)", sqlkit.Ident(t("transit_routes"))),
			fmt.Sprintf("CREATE INDEX ON %s (feed, trip_id, seq)", sqlkit.Ident(t("gtfs_stop_times"))),
			fmt.Sprintf("ANALYZE %s", sqlkit.Ident(t("transit_stops"))),
			fmt.Sprintf("ANALYZE %s", sqlkit.Ident(t("transit_routes"))),
		} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("index transit tables: %w", err)
			}
		}
		feedsJSON, _ := json.Marshal(res.Feeds)
		source := strings.Join(fileNames(paths), ", ")
		for _, l := range []struct{ name, title, desc, table, geomType string }{
			{StopsLayer, "公交与轨道站点 Transit stops (GTFS)", "Stops of the imported GTFS feeds (gusu import gtfs).", t("transit_stops"), "point"},
			{RoutesLayer, "公交与轨道线路 Transit routes (GTFS)", "Routes of the imported GTFS feeds, drawn from their shapes or through their stops.", t("transit_routes"), "line"},
		} {
			if _, err := tx.Exec(ctx, `INSERT INTO gusu_layers (name, title, description, kind, table_name, geometry_type, attribution, license, source, minzoom, maxzoom, version, data_version)
				VALUES ($1, $2, $3, 'transit', $4, $5, 'GTFS feeds: see source', 'as the feeds'' publishers state', $6, 8, 22, $7::bigint, $7::int)
				ON CONFLICT (name) DO UPDATE SET table_name = $4, source = $6, version = $7::bigint, data_version = $7::int, updated_at = now()`, l.name, l.title, l.desc, l.table, l.geomType, source, v); err != nil {
				return fmt.Errorf("register %s: %w", l.name, err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TRIGGER %s AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION gusu_features_changed(%s)`,
				sqlkit.Ident(l.table+"_changed"), sqlkit.Ident(l.table), sqlkit.Literal(l.name))); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO gusu_layer_versions (layer, version, table_name, action, created_by, file_name, format, crs, feature_count)
				SELECT $1, $2, $3, 'upload', $4, $5, 'GTFS', 'EPSG:4326', (SELECT count(*) FROM `+sqlkit.Ident(l.table)+`)`, l.name, v, l.table, user, source); err != nil {
				return fmt.Errorf("record %s version: %w", l.name, err)
			}
			if err := audit.Record(ctx, tx, user, audit.Upload, l.name, int64(v), map[string]any{"feeds": res.Feeds}); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO gusu_meta (key, value) VALUES ('transit:feeds', $1)
			ON CONFLICT (key) DO UPDATE SET value = $1`, string(feedsJSON)); err != nil {
			return err
		}
		// The previous import goes whole: timetables are large.
		if prevTable != nil {
			suffix := strings.TrimPrefix(*prevTable, "transit_stops")
			for _, name := range []string{"transit_stops", "transit_routes", "gtfs_trips", "gtfs_stop_times", "gtfs_calendar", "gtfs_calendar_dates", "gtfs_frequencies", "gtfs_transfers"} {
				if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+sqlkit.Ident(name+suffix)); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "DELETE FROM gusu_layer_versions WHERE layer IN ($1, $2) AND version < $3", StopsLayer, RoutesLayer, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Took = time.Since(start)
	return res, nil
}

func copyStops(ctx context.Context, tx pgx.Tx, table string, rows [][]any) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE gusu_transit_stage (feed text, stop_id text, name text, code text, location_type int, parent text, wkb bytea) ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"gusu_transit_stage"}, []string{"feed", "stop_id", "name", "code", "location_type", "parent", "wkb"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("write stops: %w", err)
	}
	_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (feed, stop_id, name, code, location_type, parent, geom)
		SELECT feed, stop_id, name, code, location_type, parent, ST_SetSRID(ST_GeomFromWKB(wkb), 4326) FROM gusu_transit_stage;
		DROP TABLE gusu_transit_stage`, sqlkit.Ident(table)))
	return err
}

func copyRoutes(ctx context.Context, tx pgx.Tx, table string, rows [][]any) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE gusu_transit_stage_routes (feed text, route_id text, short_name text, long_name text, route_type int, mode text, color text, trips int, wkb bytea) ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"gusu_transit_stage_routes"}, []string{"feed", "route_id", "short_name", "long_name", "route_type", "mode", "color", "trips", "wkb"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("write routes: %w", err)
	}
	_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (feed, route_id, short_name, long_name, route_type, mode, color, trips, geom)
		SELECT feed, route_id, short_name, long_name, route_type, mode, color, trips, ST_Multi(ST_SetSRID(ST_GeomFromWKB(wkb), 4326)) FROM gusu_transit_stage_routes;
		DROP TABLE gusu_transit_stage_routes`, sqlkit.Ident(table)))
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(v int) any {
	if v < 0 {
		return nil
	}
	return v
}

// colour is a route colour as CSS (#RRGGBB), or NULL.
func colour(c string) any {
	if len(c) == 6 && strings.Trim(strings.ToUpper(c), "0123456789ABCDEF") == "" {
		return "#" + strings.ToUpper(c)
	}
	return nil
}

func fileNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	sort.Strings(out)
	return out
}
