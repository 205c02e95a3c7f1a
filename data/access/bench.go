package access

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
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
