package access

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

// BenchConfig sets up `gusu bench isochrones`.
type BenchConfig struct {
	Pool    *pgxpool.Pool
	Origins int
	Out     io.Writer
}

func percentile(ds []time.Duration, p float64) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[int(float64(len(ds)-1)*p)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Bench measures 15/30/45-minute isochrones from random origins: on the
// imported road network (Liechtenstein in the benchmark) against pgRouting
// (pgr_drivingDistance plus ST_ConcaveHull of the reached nodes per band,
// the usual recipe) on the same edges, and on the Suzhou surface-and-rail
// network, where pgRouting has no counterpart (the model is not a table of
// edges). The roads layer must have been imported.
func Bench(ctx context.Context, cfg BenchConfig) error {
	out := cfg.Out
	reg := layers.NewRegistry(cfg.Pool, nil)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	svc := NewService(cfg.Pool, reg, nil, isochrone.DefaultParams())
	start := time.Now()
	if err := svc.Rebuild(ctx); err != nil {
		return err
	}
	build := time.Since(start)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b, _ := svc.current()
	if b.roads == nil {
		return fmt.Errorf("no road network: run gusu import osm first")
	}
	fmt.Fprintf(out, "networks built in %v (Suzhou surface %d×%d cells + %d rail lines; roads %d nodes); heap %.0f MiB\n\n",
		build.Round(time.Millisecond), b.net.Grid.W, b.net.Grid.H, len(b.net.Lines()), b.roads.Nodes(), float64(after.HeapInuse-before.HeapInuse)/(1<<20))

	l, err := reg.Get(ctx, roadsLayer)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(15, 45))
	// Road origins: random nodes that can be left by car.
	rows, err := cfg.Pool.Query(ctx, fmt.Sprintf(`SELECT DISTINCT source FROM %s WHERE drive_forward`, quoteIdent(l.Table)))
	if err != nil {
		return err
	}
	var sources []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		sources = append(sources, id)
	}
	rows.Close()
	_, index, err := svc.loadRoads(ctx, l.Table)
	if err != nil {
		return err
	}
	edges := fmt.Sprintf(`SELECT id, source, target, CASE WHEN drive_forward THEN length_m / (speed_kmh / 3.6) ELSE -1 END AS cost,
		CASE WHEN drive_backward THEN length_m / (speed_kmh / 3.6) ELSE -1 END AS reverse_cost FROM %s`, quoteIdent(l.Table))
	nodes := quoteIdent(NodesTableOf(l.Table))
	var gusu, pgr []time.Duration
	for i := 0; i < cfg.Origins; i++ {
		id := sources[rng.IntN(len(sources))]
		p := b.roads.Node(int(index[id]))
		t0 := time.Now()
		if _, err := b.roads.Isochrones(isochrone.Request{Origins: []orb.Point{p}, Mode: isochrone.Drive, Minutes: []float64{15, 30, 45}}); err != nil {
			return err
		}
		gusu = append(gusu, time.Since(t0))
		t0 = time.Now()
		var n int
		err := cfg.Pool.QueryRow(ctx, fmt.Sprintf(`WITH dd AS (SELECT node, agg_cost FROM pgr_drivingDistance($1, $2::bigint, 2700, true)),
			bands AS (SELECT m, ST_ConcaveHull(ST_Collect(n.geom), 0.3) AS g FROM unnest(ARRAY[900, 1800, 2700]) m
			          JOIN dd ON dd.agg_cost <= m JOIN %s n ON n.id = dd.node GROUP BY m)
			SELECT count(*) FROM bands WHERE g IS NOT NULL`, nodes), edges, id).Scan(&n)
		if err != nil {
			return fmt.Errorf("pgRouting: %w", err)
		}
		pgr = append(pgr, time.Since(t0))
	}
	fmt.Fprintf(out, "Liechtenstein roads, drive, 15/30/45 min, %d random origins:\n", cfg.Origins)
	fmt.Fprintf(out, "  gusu       p50 %8.2f ms  p95 %8.2f ms   (Dijkstra + road surface + contours)\n", ms(percentile(gusu, .5)), ms(percentile(gusu, .95)))
	fmt.Fprintf(out, "  pgRouting  p50 %8.2f ms  p95 %8.2f ms   (pgr_drivingDistance + ST_ConcaveHull per band)\n", ms(percentile(pgr, .5)), ms(percentile(pgr, .95)))
	fmt.Fprintf(out, "  ratio      p50 %.1f× faster\n\n", float64(percentile(pgr, .5))/float64(percentile(gusu, .5)))

	var suzhou []time.Duration
	land := b.net.Grid
	for len(suzhou) < cfg.Origins {
		c := rng.IntN(land.W * land.H)
		if !b.net.Passable(c) {
			continue
		}
		t0 := time.Now()
		res, err := b.net.Isochrones(isochrone.Request{Origins: []orb.Point{land.Centre(c)}, Mode: isochrone.Transit, Minutes: []float64{15, 30, 45}})
		if err != nil {
			return err
		}
		res.Times.Release()
		suzhou = append(suzhou, time.Since(t0))
	}
	fmt.Fprintf(out, "Suzhou surface + rail, transit, 15/30/45 min, %d random origins on land:\n", cfg.Origins)
	fmt.Fprintf(out, "  gusu       p50 %8.2f ms  p95 %8.2f ms   (pgRouting has no counterpart for this model)\n", ms(percentile(suzhou, .5)), ms(percentile(suzhou, .95)))
	return nil
}

func quoteIdent(s string) string { return `"` + s + `"` }

// NodesTableOf is the node table of a roads edge table.
func NodesTableOf(edges string) string { return "road_nodes_v" + edges[len("road_edges_v"):] }

// CatchmentBenchConfig sets up `gusu bench catchments`.
type CatchmentBenchConfig struct {
	Pool       *pgxpool.Pool
	Facilities int
	Demand     int
	Runs       int
	Out        io.Writer
}

// BenchCatchments measures POST /api/catchments' work (without HTTP): N
// SYNTHETIC facilities on the Suzhou land, walking 15/30/45 minutes, with
// coverage of M SYNTHETIC weighted demand points, against a single-origin
// isochrone on the same network, and against the facilities searched one
// by one (the naive way; sampled and scaled, as stated).
func BenchCatchments(ctx context.Context, cfg CatchmentBenchConfig) error {
	out := cfg.Out
	for _, q := range []string{
		`DROP TABLE IF EXISTS bench_facilities, bench_demand`,
		`DELETE FROM gusu_layers WHERE name IN ('bench_facilities', 'bench_demand')`,
		`CREATE TABLE bench_facilities AS SELECT row_number() OVER () AS id, geom FROM (SELECT (ST_Dump(ST_GeneratePoints(land, $1::int, 1))).geom
			FROM (SELECT ST_Difference(ST_Union(t.geom), (SELECT ST_Union(geom) FROM water_bodies)) AS land FROM town_system t WHERE GeometryType(t.geom) <> 'POINT') l) p`,
		`CREATE TABLE bench_demand AS SELECT row_number() OVER () AS id, (1 + row_number() OVER () % 200)::int AS people, geom FROM (SELECT (ST_Dump(ST_GeneratePoints(land, $1::int, 2))).geom
			FROM (SELECT ST_Difference(ST_Union(t.geom), (SELECT ST_Union(geom) FROM water_bodies)) AS land FROM town_system t WHERE GeometryType(t.geom) <> 'POINT') l) p`,
		`INSERT INTO gusu_layers (name, title, table_name, geometry_type, private) VALUES
			('bench_facilities', 'SYNTHETIC facilities (benchmark)', 'bench_facilities', 'point', true),
			('bench_demand', 'SYNTHETIC demand points (benchmark)', 'bench_demand', 'point', true)`,
	} {
		var args []any
		switch {
		case strings.Contains(q, "bench_facilities AS"):
			args = append(args, cfg.Facilities)
		case strings.Contains(q, "bench_demand AS"):
			args = append(args, cfg.Demand)
		}
		if _, err := cfg.Pool.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("bench layers: %w", err)
		}
	}
	reg := layers.NewRegistry(cfg.Pool, nil)
	svc := NewService(cfg.Pool, reg, nil, isochrone.DefaultParams())
	if err := svc.Rebuild(ctx); err != nil {
		return err
	}
	b, _ := svc.current()
	mins := []float64{15, 30, 45}
	req := CatchmentRequest{Origins: &OriginsRef{LayerRef: LayerRef{Layer: "bench_facilities"}}, Mode: "walk", Minutes: mins,
		Demand: &DemandRef{LayerRef: LayerRef{Layer: "bench_demand"}, Weight: "people"}}
	var multi, single []time.Duration
	var res *CatchmentResult
	for i := 0; i < cfg.Runs; i++ {
		t0 := time.Now()
		var err error
		if res, err = svc.Catchments(ctx, req, true); err != nil {
			return err
		}
		multi = append(multi, time.Since(t0))
	}
	rng := rand.New(rand.NewPCG(15, 45))
	var samples []orb.Point
	for len(samples) < max(cfg.Runs, 20) {
		c := rng.IntN(b.net.Grid.W * b.net.Grid.H)
		if b.net.Passable(c) {
			samples = append(samples, b.net.Grid.Centre(c))
		}
	}
	for _, p := range samples {
		t0 := time.Now()
		if _, err := svc.compute(b, Query{Origins: []orb.Point{p}, Mode: isochrone.Walk, Minutes: mins}); err != nil {
			return err
		}
		single = append(single, time.Since(t0))
	}
	one := percentile(single, .5)
	fmt.Fprintf(out, "Suzhou surface (%d×%d cells of %g m), walk, 15/30/45 min; SYNTHETIC layers made by ST_GeneratePoints on the land:\n",
		b.net.Grid.W, b.net.Grid.H, b.net.Grid.CellMetres)
	fmt.Fprintf(out, "  single-origin isochrone          p50 %8.1f ms  (%d random origins; bands, towns reached)\n", ms(one), len(single))
	fmt.Fprintf(out, "  catchments, %d facilities, coverage of %d demand points\n", cfg.Facilities, cfg.Demand)
	fmt.Fprintf(out, "                                   p50 %8.1f ms  (%d runs; reads both layers from PostGIS each run, one multi-source search,\n", ms(percentile(multi, .5)), cfg.Runs)
	fmt.Fprintf(out, "                                                   union bands, coverage; covered at 15 min: %.0f of %.0f)\n", res.Coverage[0].Covered, res.Coverage[0].Total)
	fmt.Fprintf(out, "  phases of the last run           %v\n", res.Meta["timings"])
	fmt.Fprintf(out, "  ratio to one isochrone           %.1f×\n", float64(percentile(multi, .5))/float64(one))
	fmt.Fprintf(out, "  the facilities one by one        ≈ %.0f ms  (%d × the single-origin p50, without coverage: the naive way)\n", ms(one)*float64(cfg.Facilities), cfg.Facilities)
	return nil
}
