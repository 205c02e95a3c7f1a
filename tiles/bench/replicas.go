package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/tiles"
)

// spread sends reads to its pools in turn: the "two databases" side of the
// replica benchmark (both are known to be current when it runs).
type spread struct {
	pools []*pgxpool.Pool
	n     atomic.Uint64
}

func (s *spread) For(context.Context, []layers.Need) *pgxpool.Pool {
	return s.pools[int(s.n.Add(1))%len(s.pools)]
}

func (s *spread) Failed(*pgxpool.Pool) {}

// ReplicaConfig configures RunReplicas.
type ReplicaConfig struct {
	Primary, Replica *pgxpool.Pool
	Registry         *layers.Registry
	Layer            string
	Concurrency      int
	TilesPerZoom     int
	Rounds           int
	Out              io.Writer
}

// RunReplicas measures cold tile throughput (no cache, one query per
// tile) with every read on the primary, then with reads spread over the
// primary and its replica, and prints both and their ratio.
func RunReplicas(ctx context.Context, cfg ReplicaConfig) (one, two float64, err error) {
	list := TileList(cfg.TilesPerZoom)
	measure := func(reads layers.ReadPools) (float64, error) {
		srv := tiles.NewServer(cfg.Registry, cfg.Primary, nil, tiles.Options{Reads: reads, Timeout: time.Minute})
		jobs := make(chan tileJob, len(list)*cfg.Rounds)
		for r := 0; r < cfg.Rounds; r++ {
			for _, t := range list {
				jobs <- tileJob{t}
			}
		}
		close(jobs)
		var wg sync.WaitGroup
		var firstErr atomic.Value
		var n atomic.Int64
		start := time.Now()
		for w := 0; w < cfg.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					if _, err := srv.Tile(ctx, tiles.Request{Layers: []string{cfg.Layer}, Tile: j.t}); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		if e, ok := firstErr.Load().(error); ok {
			return 0, e
		}
		return float64(n.Load()) / time.Since(start).Seconds(), nil
	}
	// Warm both databases' caches first (not measured), so that neither
	// side pays for cold pages the other did not.
	both := &spread{pools: []*pgxpool.Pool{cfg.Primary, cfg.Replica}}
	for i := 0; i < 2; i++ {
		if _, err = measure(both); err != nil {
			return 0, 0, err
		}
	}
	if one, err = measure(layers.Primary{Pool: cfg.Primary}); err != nil {
		return 0, 0, err
	}
	if two, err = measure(both); err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(cfg.Out, "cold tiles of %s, %d tiles × %d rounds, %d concurrent, no cache:\n", cfg.Layer, len(list), cfg.Rounds, cfg.Concurrency)
	fmt.Fprintf(cfg.Out, "  one database (primary)        %8.0f tiles/s\n", one)
	fmt.Fprintf(cfg.Out, "  two databases (+ replica)     %8.0f tiles/s\n", two)
	fmt.Fprintf(cfg.Out, "  ratio                         %8.2f×\n", two/one)
	fmt.Fprintln(cfg.Out, "  (primary and replica share this machine's cores here: the ratio is only indicative; on separate hosts reads scale with the replicas)")
	return one, two, nil
}

type tileJob struct{ t maptile.Tile }
