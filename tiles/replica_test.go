package tiles_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/gusu-gis/gusu/data/database"
	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/pgcluster"
	"github.com/gusu-gis/gusu/tiles"
)

// Tiles read from a real streaming replica (pg_basebackup -R) are never
// older than the primary's: with replication delayed, a change made on the
// primary is served at once (from the primary), then from the replica once
// it has replayed it; with the replica killed, every tile still comes back.
func TestReplicaReadsAreNeverStale(t *testing.T) {
	ctx := context.Background()
	dsn := dbtest.NewDatabase(t, true)
	u, _ := url.Parse(dsn)
	dbName := strings.TrimPrefix(u.Path, "/")
	root, err := dbtest.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	// Replication works, but every commit is applied 3 s late.
	rep, err := pgcluster.StartReplica(ctx, dbtest.Cluster(), root+"/replica", pgcluster.Options{
		Logger: dbtest.Logger(t), Settings: map[string]string{"recovery_min_apply_delay": "3s"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Stop(context.Background()) })
	primary := dbtest.Pool(t, dsn)
	replicaPool := dbtest.Pool(t, rep.URL(dbName))
	reg := layers.NewRegistry(primary, dbtest.Logger(t))
	lctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go reg.Listen(lctx)
	for !reg.Synced() {
		time.Sleep(5 * time.Millisecond)
	}
	router := database.NewReplicas(primary, []*pgxpool.Pool{replicaPool}, []string{"replica"}, time.Minute, dbtest.Logger(t))
	go router.Watch(lctx, 200*time.Millisecond)
	viaRouter := tiles.NewServer(reg, primary, nil, tiles.Options{Reads: router})
	direct := tiles.NewServer(reg, primary, nil, tiles.Options{})
	req := tiles.Request{Layers: []string{"rail_stations"}, Tile: maptile.At(orb.Point{120.62, 31.30}, 12)}
	render := func(s *tiles.Server) []byte {
		tl, err := s.Tile(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return tl.Raw
	}
	// Once the replica has caught up with the loaded data, reads go to it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		before, _ := router.Counts()
		got := render(viaRouter)
		after, _ := router.Counts()
		if after > before {
			if !bytes.Equal(got, render(direct)) {
				t.Fatal("the replica's tile differs from the primary's")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no read went to the replica within 30 s: %+v", router.Status())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A change on the primary: served at once, from the primary, while the
	// replica holds it back.
	if _, err := primary.Exec(ctx, `UPDATE rail_stations SET geom = ST_Translate(geom, 0.002, 0)
		WHERE ST_Intersects(geom, ST_Transform(ST_TileEnvelope($1, $2, $3), 4326))`, int(req.Tile.Z), int(req.Tile.X), int(req.Tile.Y)); err != nil {
		t.Fatal(err)
	}
	reg.Invalidate("rail_stations")
	fresh := render(direct)
	r0, p0 := router.Counts()
	if got := render(viaRouter); !bytes.Equal(got, fresh) {
		t.Fatal("a stale tile was served while the replica lagged")
	}
	if r1, p1 := router.Counts(); r1 != r0 || p1 != p0+1 {
		t.Fatalf("reads: replica %d→%d, primary %d→%d; want the primary to answer", r0, r1, p0, p1)
	}
	// After the delay the replica serves the new tile.
	deadline = time.Now().Add(30 * time.Second)
	for {
		r0, _ := router.Counts()
		got := render(viaRouter)
		if !bytes.Equal(got, fresh) {
			t.Fatal("a stale tile was served")
		}
		if r1, _ := router.Counts(); r1 > r0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not catch up within 30 s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The replica dies: tiles still come back, from the primary.
	rep.Kill()
	for i := 0; i < 20; i++ {
		if got := render(viaRouter); !bytes.Equal(got, fresh) {
			t.Fatalf("tile %d after the replica died differs", i)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if st := router.Status(); st[0].Status != "down" {
		t.Fatalf("replica status after it died: %+v", st)
	}
}
