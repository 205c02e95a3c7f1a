// Package layers is gusu's layer registry and its HTTP API: the catalog
// (/api/layers) and GeoJSON features (/api/layers/{name}/features).
//
// The registry keeps a snapshot of gusu_layers and each layer's columns
// (read from the PostgreSQL catalog, which is also the whitelist for any
// column name a request mentions). The snapshot is dropped whenever the
// database announces a change (NOTIFY gusu_layer_changed), and while the
// listening connection is down no snapshot is trusted at all, so a layer's
// version as seen here is never older than the database's.
package layers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Layer is one registry entry.
type Layer struct {
	Name         string    `json:"name"`
	Title        string    `json:"title"`
	Description  string    `json:"description"`
	Kind         string    `json:"kind"`
	Table        string    `json:"-"`
	GeometryType string    `json:"geometry_type"`
	Attribution  string    `json:"attribution"`
	License      string    `json:"license"`
	Source       string    `json:"source"`
	MinZoom      int       `json:"minzoom"`
	MaxZoom      int       `json:"maxzoom"`
	Private      bool      `json:"private"`
	Version      int64     `json:"version"`
	UpdatedAt    time.Time `json:"updated_at"`
	// TileExtent and TileBuffer are the MVT extent and buffer in tile units.
	TileExtent int `json:"-"`
	TileBuffer int `json:"-"`
	// Columns are the attribute columns, in table order.
	Columns []Column `json:"-"`
	// Attributes are Columns without geometry columns: what tiles carry
	// (made once per loaded version, not per request).
	Attributes []Column `json:"-"`
}

// SetColumns sets a layer's columns and, from them, its attributes.
func (l *Layer) SetColumns(cols []Column) {
	l.Columns = cols
	l.Attributes = nil
	for _, c := range cols {
		if !c.IsGeometry() {
			l.Attributes = append(l.Attributes, c)
		}
	}
}

// Column is one attribute column of a layer's table.
type Column struct {
	Name string
	// PGType is the PostgreSQL type name (text, int8, _text, geometry, ...).
	PGType string
}

// JSONType is the column's type as TileJSON's vector_layers.fields names it.
func (c Column) JSONType() string {
	switch c.PGType {
	case "int2", "int4", "int8", "float4", "float8", "numeric":
		return "Number"
	case "bool":
		return "Boolean"
	}
	return "String"
}

// IsGeometry reports whether the column holds geometry (e.g. a seat point
// beside the main geometry).
func (c Column) IsGeometry() bool { return c.PGType == "geometry" || c.PGType == "geography" }

// Column returns the named attribute column.
func (l *Layer) Column(name string) (Column, bool) {
	for _, c := range l.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// UnknownLayerError names a layer that does not exist and the public ones
// that do (private layers are never named to a client that asked for
// something else).
type UnknownLayerError struct {
	Name  string
	Known []string
}

func (e *UnknownLayerError) Error() string {
	return fmt.Sprintf("unknown layer %q, known: %s", e.Name, strings.Join(e.Known, ", "))
}

// ChangeFunc is told the layer (empty: possibly all layers) whose version changed.
type ChangeFunc func(layer string)

type snapshot struct {
	byName map[string]*Layer
	names  []string
	public []string // names of the layers that are not private
}

// Registry reads and caches the layer registry.
type Registry struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	snap atomic.Pointer[snapshot]
	// gen counts invalidations: a snapshot whose load began before the
	// latest one is not stored (it may predate the change).
	gen atomic.Uint64
	// synced is true while a LISTEN connection is up; only then may
	// snapshots be cached.
	synced atomic.Bool
	loadMu sync.Mutex

	subMu sync.Mutex
	subs  []ChangeFunc

	statsMu sync.Mutex
	stats   map[string]statsAt // by layer name

	// Reads chooses where catalog statistics are measured (a replica that
	// has replayed the layer's version, else the primary); nil: the pool.
	// The registry itself is always read from the primary.
	Reads ReadPools
}

// NewRegistry returns a registry over pool. Call Listen to enable caching.
func NewRegistry(pool *pgxpool.Pool, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{pool: pool, log: log}
}

// OnChange registers f to be called on every change notification.
func (r *Registry) OnChange(f ChangeFunc) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.subs = append(r.subs, f)
}

func (r *Registry) changed(layer string) {
	r.gen.Add(1)
	r.snap.Store(nil)
	r.subMu.Lock()
	subs := append([]ChangeFunc(nil), r.subs...)
	r.subMu.Unlock()
	for _, f := range subs {
		f(layer)
	}
}

// Invalidate drops what is cached about layer ("" for all) at once, as a
// change notification would. Writers in this process call it after they
// commit, so that their own next read can never see the old version while
// the NOTIFY is still on its way; other instances rely on the NOTIFY.
func (r *Registry) Invalidate(layer string) { r.changed(layer) }

// List returns all layers, sorted by name.
func (r *Registry) List(ctx context.Context) ([]*Layer, error) {
	s, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Layer, len(s.names))
	for i, n := range s.names {
		out[i] = s.byName[n]
	}
	return out, nil
}

// Get returns the named layer or an *UnknownLayerError.
func (r *Registry) Get(ctx context.Context, name string) (*Layer, error) {
	s, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	if l, ok := s.byName[name]; ok {
		return l, nil
	}
	return nil, &UnknownLayerError{Name: name, Known: s.public}
}

func (r *Registry) current(ctx context.Context) (*snapshot, error) {
	if s := r.snap.Load(); s != nil && r.synced.Load() {
		return s, nil
	}
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if s := r.snap.Load(); s != nil && r.synced.Load() {
		return s, nil
	}
	gen := r.gen.Load()
	s, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	if r.synced.Load() && r.gen.Load() == gen {
		r.snap.Store(s)
	}
	return s, nil
}

func (r *Registry) load(ctx context.Context) (*snapshot, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT name, title, description, kind, table_name, geometry_type, attribution, license, source,
		       minzoom, maxzoom, private, version, updated_at, tile_extent, tile_buffer
		  FROM gusu_layers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read layer registry: %w", err)
	}
	layers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Layer, error) {
		l := &Layer{}
		err := row.Scan(&l.Name, &l.Title, &l.Description, &l.Kind, &l.Table, &l.GeometryType, &l.Attribution,
			&l.License, &l.Source, &l.MinZoom, &l.MaxZoom, &l.Private, &l.Version, &l.UpdatedAt, &l.TileExtent, &l.TileBuffer)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("read layer registry: %w", err)
	}
	tables := make([]string, len(layers))
	for i, l := range layers {
		tables[i] = l.Table
	}
	cols, err := r.columnsOf(ctx, tables)
	if err != nil {
		return nil, err
	}
	s := &snapshot{byName: map[string]*Layer{}}
	for _, l := range layers {
		l.SetColumns(cols[l.Table])
		s.byName[l.Name] = l
		s.names = append(s.names, l.Name)
		if !l.Private {
			s.public = append(s.public, l.Name)
		}
	}
	sort.Strings(s.names)
	sort.Strings(s.public)
	return s, nil
}

// columnsOf reads the attribute columns of tables: everything but the
// primary key and the main geometry, in table order.
func (r *Registry) columnsOf(ctx context.Context, tables []string) (map[string][]Column, error) {
	crow, err := r.pool.Query(ctx, `
		SELECT c.relname, a.attname, t.typname
		  FROM pg_attribute a
		  JOIN pg_class c ON c.oid = a.attrelid
		  JOIN pg_type t ON t.oid = a.atttypid
		 WHERE c.relname = ANY($1) AND c.relnamespace = current_schema()::regnamespace
		   AND a.attnum > 0 AND NOT a.attisdropped AND a.attname NOT IN ('id', 'geom')
		 ORDER BY c.relname, a.attnum`, tables)
	if err != nil {
		return nil, fmt.Errorf("read layer columns: %w", err)
	}
	cols := map[string][]Column{}
	var table, name, typ string
	_, err = pgx.ForEachRow(crow, []any{&table, &name, &typ}, func() error {
		cols[table] = append(cols[table], Column{Name: name, PGType: typ})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read layer columns: %w", err)
	}
	return cols, nil
}

// ErrNoVersion is a layer version whose table is not kept (never made, or
// dropped).
var ErrNoVersion = errors.New("no such version of the layer is kept")

// AtVersion returns layer name as it was at an earlier (or the current)
// version: the current entry with that version's table and columns.
func (r *Registry) AtVersion(ctx context.Context, name string, version int64) (*Layer, error) {
	l, err := r.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var table string
	var exists bool
	err = r.pool.QueryRow(ctx, `SELECT v.table_name, to_regclass(quote_ident(v.table_name)) IS NOT NULL
		FROM gusu_layer_versions v WHERE v.layer = $1 AND v.version = $2`, name, version).Scan(&table, &exists)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !exists) {
		return nil, fmt.Errorf("layer %s version %d: %w", name, version, ErrNoVersion)
	}
	if err != nil {
		return nil, err
	}
	cols, err := r.columnsOf(ctx, []string{table})
	if err != nil {
		return nil, err
	}
	at := *l
	at.Table, at.Version = table, version
	at.SetColumns(cols[table])
	return &at, nil
}

// Channel is the NOTIFY channel on which the database announces layer changes.
const Channel = "gusu_layer_changed"

// Listen keeps a LISTEN connection open until ctx ends, dropping the
// snapshot and telling subscribers on every notification. When the
// connection drops, caching stops and subscribers are told that anything
// may have changed, until the connection is back.
func (r *Registry) Listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.synced.Store(false)
		r.changed("")
		r.log.Warn("lost the layer-change listener; caches are bypassed until it is back", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Listening starts Listen until ctx ends and waits until notifications are
// being received (or ctx ends), for commands and benchmarks that need the
// registry current from their first request.
func (r *Registry) Listening(ctx context.Context) {
	go r.Listen(ctx)
	for !r.Synced() && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// Synced reports whether change notifications are being received.
func (r *Registry) Synced() bool { return r.synced.Load() }

func (r *Registry) listenOnce(ctx context.Context) error {
	pooled, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire listener connection: %w", err)
	}
	// The connection carries LISTEN state, so it never goes back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Anything may have changed while we were not listening.
	r.changed("")
	r.synced.Store(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var msg struct {
			Layer   string `json:"layer"`
			Version int64  `json:"version"`
		}
		if err := json.Unmarshal([]byte(n.Payload), &msg); err != nil {
			r.log.Warn("unreadable layer-change notification", "payload", n.Payload)
			r.changed("")
			continue
		}
		r.log.Debug("layer changed", "layer", msg.Layer, "version", msg.Version)
		r.changed(msg.Layer)
	}
}

// Stats are a layer's feature count and bounds at one version.
type Stats struct {
	Count  int64       `json:"feature_count"`
	Bounds *[4]float64 `json:"bounds"`
}

type statsAt struct {
	version int64
	stats   Stats
}

// Stats returns a layer's count and bounds, computed once per version.
func (r *Registry) Stats(ctx context.Context, l *Layer) (Stats, error) {
	r.statsMu.Lock()
	if s, ok := r.stats[l.Name]; ok && s.version == l.Version && r.synced.Load() {
		r.statsMu.Unlock()
		return s.stats, nil
	}
	r.statsMu.Unlock()
	q := StatsQuery(l)
	var st Stats
	var minx, miny, maxx, maxy *float64
	pool := r.pool
	if r.Reads != nil {
		pool = r.Reads.For(ctx, []Need{{Layer: l.Name, Version: l.Version}})
	}
	err := pool.QueryRow(ctx, q.SQL, q.Args...).Scan(&st.Count, &minx, &miny, &maxx, &maxy)
	if err != nil && pool != r.pool && Unreachable(err) {
		r.Reads.Failed(pool)
		err = r.pool.QueryRow(ctx, q.SQL, q.Args...).Scan(&st.Count, &minx, &miny, &maxx, &maxy)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("measure layer %q: %w", l.Name, err)
	}
	if minx != nil {
		st.Bounds = &[4]float64{*minx, *miny, *maxx, *maxy}
	}
	r.statsMu.Lock()
	if r.stats == nil {
		r.stats = map[string]statsAt{}
	}
	r.stats[l.Name] = statsAt{version: l.Version, stats: st}
	r.statsMu.Unlock()
	return st, nil
}
