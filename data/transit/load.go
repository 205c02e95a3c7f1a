package transit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/sqlkit"
	"github.com/gusu-gis/gusu/geo/gtfs"
)

// ErrNoFeed is a database with no GTFS import.
var ErrNoFeed = errors.New("no GTFS feed has been imported (gusu import gtfs)")

// Current returns the version suffix of the current import ("_v3") and its
// catalog version, or ErrNoFeed.
func Current(ctx context.Context, pool *pgxpool.Pool) (string, int64, error) {
	var table string
	var version int64
	err := pool.QueryRow(ctx, "SELECT table_name, version FROM gusu_layers WHERE name = $1", StopsLayer).Scan(&table, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, ErrNoFeed
	}
	if err != nil {
		return "", 0, err
	}
	return strings.TrimPrefix(table, "transit_stops"), version, nil
}

// Load reads the current import back as one feed: every imported feed's
// ids prefixed with "feed:" so that several feeds never collide.
func Load(ctx context.Context, pool *pgxpool.Pool) (*gtfs.Feed, error) {
	suffix, _, err := Current(ctx, pool)
	if err != nil {
		return nil, err
	}
	t := func(name string) string { return sqlkit.Ident(name + suffix) }
	f := &gtfs.Feed{Shapes: map[string][]gtfs.ShapePoint{}}
	q := func(sql string, scan func(pgx.Rows) error) error {
		rows, err := pool.Query(ctx, sql)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	id := func(feed, v string) string { return feed + ":" + v }
	err = q(fmt.Sprintf(`SELECT feed, stop_id, coalesce(name, ''), location_type, coalesce(parent, ''), coalesce(ST_Y(geom), 0), coalesce(ST_X(geom), 0) FROM %s ORDER BY id`, t("transit_stops")), func(r pgx.Rows) error {
		var s gtfs.Stop
		var feed string
		if err := r.Scan(&feed, &s.ID, &s.Name, &s.LocationType, &s.Parent, &s.Lat, &s.Lon); err != nil {
			return err
		}
		s.ID = id(feed, s.ID)
		if s.Parent != "" {
			s.Parent = id(feed, s.Parent)
		}
		f.Stops = append(f.Stops, s)
		return nil
	})
	if err == nil {
		err = q(fmt.Sprintf(`SELECT feed, trip_id, route_id, service_id, direction FROM %s`, t("gtfs_trips")), func(r pgx.Rows) error {
			var tr gtfs.Trip
			var feed string
			if err := r.Scan(&feed, &tr.ID, &tr.Route, &tr.Service, &tr.Direction); err != nil {
				return err
			}
			tr.ID, tr.Route, tr.Service = id(feed, tr.ID), id(feed, tr.Route), id(feed, tr.Service)
			f.Trips = append(f.Trips, tr)
			return nil
		})
	}
	if err == nil {
		err = q(fmt.Sprintf(`SELECT feed, trip_id, stop_id, seq, coalesce(arrival, -1), coalesce(departure, -1) FROM %s ORDER BY feed, trip_id, seq`, t("gtfs_stop_times")), func(r pgx.Rows) error {
			var st gtfs.StopTime
			var feed string
			if err := r.Scan(&feed, &st.Trip, &st.Stop, &st.Sequence, &st.Arrival, &st.Departure); err != nil {
				return err
			}
			st.Trip, st.Stop = id(feed, st.Trip), id(feed, st.Stop)
			f.StopTimes = append(f.StopTimes, st)
			return nil
		})
	}
	if err == nil {
		err = q(fmt.Sprintf(`SELECT feed, service_id, days, start_date, end_date FROM %s`, t("gtfs_calendar")), func(r pgx.Rows) error {
			var c gtfs.Calendar
			var feed string
			var days []bool
			if err := r.Scan(&feed, &c.Service, &days, &c.Start, &c.End); err != nil {
				return err
			}
			copy(c.Days[:], days)
			c.Service = id(feed, c.Service)
			f.Calendars = append(f.Calendars, c)
			return nil
		})
	}
	if err == nil {
		err = q(fmt.Sprintf(`SELECT feed, service_id, date, exception FROM %s`, t("gtfs_calendar_dates")), func(r pgx.Rows) error {
			var d gtfs.CalendarDate
			var feed string
			if err := r.Scan(&feed, &d.Service, &d.Date, &d.Exception); err != nil {
				return err
			}
			d.Service = id(feed, d.Service)
			f.CalendarDates = append(f.CalendarDates, d)
			return nil
		})
	}
	if err == nil {
		err = q(fmt.Sprintf(`SELECT feed, trip_id, start_s, end_s, headway_s, exact FROM %s`, t("gtfs_frequencies")), func(r pgx.Rows) error {
			var x gtfs.Frequency
			var feed string
			if err := r.Scan(&feed, &x.Trip, &x.Start, &x.End, &x.Headway, &x.ExactTimes); err != nil {
				return err
			}
			x.Trip = id(feed, x.Trip)
			f.Frequencies = append(f.Frequencies, x)
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("read the imported GTFS: %w", err)
	}
	// The stop times were read in (feed, trip, seq) order; trips keyed by
	// "feed:trip" sort the same way within a feed, which is what Build needs.
	for _, c := range f.Calendars {
		if f.From.IsZero() || c.Start.Before(f.From) {
			f.From = c.Start
		}
		if c.End.After(f.To) {
			f.To = c.End
		}
	}
	for _, d := range f.CalendarDates {
		if d.Exception == 1 && (f.From.IsZero() || d.Date.Before(f.From)) {
			f.From = d.Date
		}
		if d.Exception == 1 && d.Date.After(f.To) {
			f.To = d.Date
		}
	}
	return f, nil
}
