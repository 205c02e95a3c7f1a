package database

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gusu-gis/gusu/data/layers"
)

// Replicas routes reads to streaming replicas without ever serving old
// data: a read that needs layer L at version V (and its generalised copies
// at V) goes to a replica only when that replica's own registry row for L
// says V (and its copies' state says V) — the row is switched in the same
// transaction as the data, so seeing it means having replayed all of it.
// Otherwise, or when no replica is up and within the lag bound, the read
// goes to the primary. Writes, LISTEN and the registry itself always use
// the primary.
type Replicas struct {
	primary  *pgxpool.Pool
	replicas []*replica
	maxLag   time.Duration
	log      *slog.Logger
	next     atomic.Uint64

	replicaReads, primaryReads atomic.Int64
}

type replica struct {
	name string // for /healthz and /metrics: its redacted URL
	pool *pgxpool.Pool

	mu        sync.Mutex
	versions  map[string][2]int64 // layer → {version, generalised copies' version}
	fetchedAt time.Time
	up        bool
	lag       time.Duration
	lastErr   string
}

// NewReplicas routes reads among pools (named for reports) and primary.
func NewReplicas(primary *pgxpool.Pool, pools []*pgxpool.Pool, names []string, maxLag time.Duration, log *slog.Logger) *Replicas {
	r := &Replicas{primary: primary, maxLag: maxLag, log: log}
	for i, p := range pools {
		r.replicas = append(r.replicas, &replica{name: names[i], pool: p})
	}
	return r
}

// For implements layers.ReadPools.
func (r *Replicas) For(ctx context.Context, needs []layers.Need) *pgxpool.Pool {
	n := len(r.replicas)
	start := int(r.next.Add(1))
	for i := 0; i < n; i++ {
		rep := r.replicas[(start+i)%n]
		if rep.serves(ctx, needs, r.maxLag) {
			r.replicaReads.Add(1)
			return rep.pool
		}
	}
	r.primaryReads.Add(1)
	return r.primary
}

// Failed marks the replica behind pool down until Watch finds it up.
func (r *Replicas) Failed(pool *pgxpool.Pool) {
	for _, rep := range r.replicas {
		if rep.pool == pool {
			rep.mu.Lock()
			if rep.up {
				r.log.Warn("read replica failed a read; reads go to the primary", "replica", rep.name)
			}
			rep.up, rep.lastErr = false, "a read failed"
			rep.mu.Unlock()
		}
	}
}

// Counts reports how many reads went to replicas and to the primary.
func (r *Replicas) Counts() (replica, primary int64) {
	return r.replicaReads.Load(), r.primaryReads.Load()
}

// refreshEvery bounds how often a read that finds a replica behind asks it again.
const refreshEvery = 50 * time.Millisecond

func (rep *replica) serves(ctx context.Context, needs []layers.Need, maxLag time.Duration) bool {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if !rep.up || rep.lag > maxLag {
		return false
	}
	if rep.satisfies(needs) {
		return true
	}
	if time.Since(rep.fetchedAt) < refreshEvery {
		return false
	}
	if err := rep.refresh(ctx); err != nil {
		return false
	}
	return rep.satisfies(needs)
}

func (rep *replica) satisfies(needs []layers.Need) bool {
	for _, n := range needs {
		v, ok := rep.versions[n.Layer]
		if !ok || v[0] != n.Version || (n.Generalized && v[1] != n.Version) {
			return false
		}
	}
	return true
}

// refresh reads the replica's registry (called with mu held).
func (rep *replica) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	rows, err := rep.pool.Query(ctx, `SELECT l.name, l.version, coalesce(s.version, 0) FROM gusu_layers l LEFT JOIN gusu_tile_gen_state s ON s.layer = l.name`)
	if err != nil {
		rep.up, rep.lastErr = false, "does not answer"
		return err
	}
	defer rows.Close()
	vs := map[string][2]int64{}
	for rows.Next() {
		var name string
		var v, g int64
		if err := rows.Scan(&name, &v, &g); err != nil {
			rep.up = false
			return err
		}
		vs[name] = [2]int64{v, g}
	}
	if err := rows.Err(); err != nil {
		rep.up, rep.lastErr = false, "does not answer"
		return err
	}
	rep.versions, rep.fetchedAt = vs, time.Now()
	return nil
}

// Watch checks each replica every interval until ctx ends: whether it
// answers, how far it lags (time since its last replayed commit, while it
// has WAL it has not replayed), and its registry.
func (r *Replicas) Watch(ctx context.Context, interval time.Duration) {
	for {
		for _, rep := range r.replicas {
			rep.check(ctx, r.log)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (rep *replica) check(ctx context.Context, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var lagSeconds float64
	err := rep.pool.QueryRow(cctx, `SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0
		WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
		ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END`).Scan(&lagSeconds)
	rep.mu.Lock()
	defer rep.mu.Unlock()
	wasUp := rep.up
	if err != nil {
		rep.up, rep.lastErr = false, "does not answer"
		if wasUp {
			log.Warn("read replica is down; reads go to the primary", "replica", rep.name, "error", err)
		}
		return
	}
	rep.up, rep.lag, rep.lastErr = true, time.Duration(lagSeconds*float64(time.Second)), ""
	if !wasUp {
		log.Info("read replica is up", "replica", rep.name)
	}
	_ = rep.refresh(cctx)
}

// ReplicaStatus is one replica in /healthz.
type ReplicaStatus struct {
	Replica    string  `json:"replica"`
	Status     string  `json:"status"` // ok, lagging or down
	LagSeconds float64 `json:"lag_seconds"`
	Error      string  `json:"error,omitempty"`
}

// Status reports each replica.
func (r *Replicas) Status() []ReplicaStatus {
	var out []ReplicaStatus
	for _, rep := range r.replicas {
		rep.mu.Lock()
		s := ReplicaStatus{Replica: rep.name, Status: "ok", LagSeconds: rep.lag.Seconds(), Error: rep.lastErr}
		switch {
		case !rep.up:
			s.Status = "down"
		case rep.lag > r.maxLag:
			s.Status = "lagging"
		}
		rep.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// Collectors are the replicas' Prometheus metrics.
func (r *Replicas) Collectors() []prometheus.Collector {
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gusu_replica_up", Help: "1 while a read replica answers and is within the lag bound."}, []string{"replica"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gusu_replica_lag_seconds", Help: "Seconds since a replica's last replayed commit while it has WAL to replay."}, []string{"replica"})
	return []prometheus.Collector{
		prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
			for _, s := range r.Status() {
				v := 0.0
				if s.Status == "ok" {
					v = 1
				}
				up.WithLabelValues(s.Replica).Set(v)
				lag.WithLabelValues(s.Replica).Set(s.LagSeconds)
			}
			up.Collect(ch)
			lag.Collect(ch)
		}),
	}
}
