package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/protomaps/go-pmtiles/pmtiles"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/access"
	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/database"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/indicators"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/data/ogcapi"
	"github.com/gusu-gis/gusu/data/purge"
	"github.com/gusu-gis/gusu/data/upload"
	"github.com/gusu-gis/gusu/frontend"
	"github.com/gusu-gis/gusu/frontend/mapexport"
	"github.com/gusu-gis/gusu/tiles"
)

func openDatabase(ctx context.Context, cfg *Config, log *slog.Logger) (*database.DB, error) {
	if cfg.DatabaseURL != "" {
		log.Info("using external PostGIS", "url", cfg.redactedDatabaseURL())
	}
	return database.Open(ctx, database.Options{
		URL: cfg.DatabaseURL, DataDir: cfg.DataDir, MaxConns: int32(cfg.DBMaxConns),
		Bundle: data.Suzhou, Durable: true, Logger: log,
		ReplicaURLs: cfg.ReplicaURLs.values, ReplicaMaxLag: cfg.ReplicaMaxLag,
	})
}

func cmdMigrate(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, _, err := parseConfig("migrate", args, stderr, databaseKeys)
	if err != nil {
		return err
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	db.Close()
	log.Info("database is up to date")
	return nil
}

// server is gusu's HTTP side, wired from the packages' handlers.
type server struct {
	cfg      *Config
	log      *slog.Logger
	db       *database.DB
	registry *layers.Registry
	gen      *tiles.Generalizer
	tiles    *tiles.Server
	access   *access.Service
	handler  http.Handler
	// loopback is where this server answers on this machine, for map export.
	loopback atomic.Value
}

// loopbackURL is the server's own base URL on loopback (map export loads
// its print page from it).
func (s *server) loopbackURL() string {
	v, _ := s.loopback.Load().(string)
	return v
}

func newServer(cfg *Config, log *slog.Logger, db *database.DB) *server {
	s := &server{cfg: cfg, log: log, db: db, registry: layers.NewRegistry(db.Pool, log)}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newPoolCollector(db.Pool))
	tileMetrics := tiles.NewMetrics(metrics)
	s.gen = tiles.NewGeneralizer(db.Pool, s.registry, log)
	var reads layers.ReadPools = layers.Primary{Pool: db.Pool}
	if db.Replicas != nil {
		reads = db.Replicas
		s.registry.Reads = db.Replicas // catalog statistics
		metrics.MustRegister(db.Replicas.Collectors()...)
	}
	s.tiles = tiles.NewServer(s.registry, db.Pool, s.gen, tiles.Options{
		CacheBytes: int64(cfg.TileCacheMB) << 20, Timeout: cfg.DBTimeout, Metrics: tileMetrics, Reads: reads,
		MaxTileBytes: tileBudget(cfg.TileBudgetKB),
	})

	authn := auth.NewAuthenticator(db.Pool)
	r := mux.NewRouter()
	r.Handle("/healthz", db.Health()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	// Route classes that can hold connections or cores for long get a share
	// each, so tiles and /healthz always find a free connection.
	poolSize := int(db.Pool.Config().MaxConns)
	pageSlots := httpapi.NewLimiter("feature-page", max(2, poolSize/4), 2*time.Second)
	// Tiles first: the router tries routes in order, and tiles are most of
	// the requests (a warm tile's cost is largely routing and planning).
	th := &tiles.Handler{Server: s.tiles, Log: log, PublicURL: cfg.PublicURL, CacheControl: cfg.CacheControl, Metrics: tileMetrics, Auth: authn}
	th.Routes(r)
	api := &layers.API{Registry: s.registry, Pool: db.Pool, Log: log, PublicURL: cfg.PublicURL, Auth: authn,
		Timeout: cfg.DBTimeout, FeatureSlots: pageSlots, Reads: reads}
	api.Routes(r)
	// OGC API – Features at the root; its landing page answers "/" only for
	// JSON, so it is registered before the viewer.
	(&ogcapi.API{Registry: s.registry, Pool: db.Pool, Log: log, PublicURL: cfg.PublicURL, Auth: authn,
		Timeout: cfg.DBTimeout, Slots: pageSlots, Committed: s.registry.Invalidate, Reads: reads}).Routes(r)
	up := &upload.API{Pool: db.Pool, Auth: authn, Log: log, MaxUploadBytes: int64(cfg.MaxUploadMB) << 20, Committed: s.registry.Invalidate,
		Timeout: cfg.UploadTimeout, QueryTimeout: cfg.DBTimeout, MaxFeatures: cfg.MaxUploadFeatures,
		Slots: httpapi.NewLimiter("upload", max(1, poolSize/8), cfg.UploadTimeout/2)}
	up.Routes(r)
	s.access = access.NewService(db.Pool, s.registry, log, isoParamsOrDefault(cfg))
	s.access.Slots = httpapi.NewLimiter("isochrone", 2*runtime.NumCPU(), 5*time.Second)
	// Catchments, matrices and opportunities can run for seconds: half the
	// cores at most, apart from the isochrones' slots.
	s.access.HeavySlots = httpapi.NewLimiter("accessibility-heavy", max(1, runtime.NumCPU()/2), 5*time.Second)
	s.access.CanSeePrivate = authn.CanSeePrivate
	s.access.Auth = authn
	// A catchment reads its layers and searches: more than one query, well inside the write deadline.
	s.access.Timeout = 4 * cfg.DBTimeout
	if db.Replicas != nil {
		s.access.Reads = db.Replicas // network builds
	}
	s.access.Routes(r, log)
	if ind, err := indicators.NewService(db.Pool, s.registry, s.access, data.Plan); err != nil {
		log.Error("plan indicators unavailable", "error", err)
	} else {
		ind.CanSeePrivate = authn.CanSeePrivate
		ind.Routes(r, log)
	}
	if cfg.PMTilesDir != "" {
		// Archives on disk (an intranet copy, say) served beside the live
		// tiles, by go-pmtiles' own server.
		pm, err := pmtiles.NewServerWithBucket(pmtiles.NewFileBucket(cfg.PMTilesDir), "", slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			64, strings.TrimRight(cfg.PublicURL, "/")+"/pmtiles")
		if err != nil {
			log.Error("cannot serve --pmtiles", "error", err)
		} else {
			pm.Start()
			r.PathPrefix("/pmtiles/").Handler(http.StripPrefix("/pmtiles", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				pm.ServeHTTP(w, r)
			}))).Methods(http.MethodGet, http.MethodHead)
		}
	}
	(&mapexport.Handler{
		Exporter: &mapexport.Exporter{Chromium: cfg.Chromium},
		Base:     s.loopbackURL,
		Check: func(r *http.Request, names []string) error {
			for _, n := range names {
				l, err := s.registry.Get(r.Context(), n)
				if err != nil || (l.Private && !authn.CanSeePrivate(r)) {
					if err == nil && auth.FromRequest(r) != "" {
						return authn.RequireForLayer(r, true)
					}
					return httpapi.NotFound(fmt.Sprintf("no layer named %q", n), nil)
				}
			}
			return nil
		},
		// Each export runs a browser: two at a time, the rest wait briefly, then 503.
		Slots: httpapi.NewLimiter("map-export", 2, 10*time.Second),
		Log:   log,
	}).Routes(r)
	fe := &frontend.Handler{Dir: cfg.FrontendDir}
	if cfg.BasemapTiles != "" {
		fe.Basemap = &frontend.Basemap{Tiles: []string{cfg.BasemapTiles}, Attribution: cfg.BasemapAttr, TileSize: 256}
	}
	fe.Routes(r)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.Write(w, r, log, httpapi.NotFound("no such endpoint: "+r.URL.Path, nil))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.Write(w, r, log, httpapi.New(http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path))
	})
	// Outermost first: every request gets an id, is logged, survives a
	// panic, and has a query string that parses before any handler sees it.
	s.handler = httpapi.WithRequestID(withAccessLog(log, httpapi.Recover(log, httpapi.ValidQuery(log, withCORS(splitList(cfg.CORSOrigins), r)))))
	return s
}

// tileBudget turns --tile-budget-kb into tiles.Options.MaxTileBytes (0: none).
func tileBudget(kb int) int {
	if kb == 0 {
		return -1
	}
	return kb << 10
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, _, err := parseConfig("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	log := cfg.logger(stderr)
	start := time.Now()
	if cfg.DatabaseURL == "" {
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if n, err := upload.CleanStaleSpools("", max(6*time.Hour, 2*cfg.UploadTimeout)); err != nil {
		log.Warn("cannot clean stale upload spools", "error", err)
	} else if n > 0 {
		log.Info("removed stale upload spools", "files", n)
	}
	s := newServer(cfg, log, db)
	return s.serve(ctx, ln, start)
}

func (s *server) serve(ctx context.Context, ln net.Listener, start time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.registry.Listen(ctx)
	go s.gen.Run(ctx)
	go s.access.Run(ctx)
	if s.db.Replicas != nil {
		go s.db.Replicas.Watch(ctx, time.Second)
	}
	if s.cfg.PurgeURL != "" {
		(&purge.Hook{URL: s.cfg.PurgeURL, Pool: s.db.Pool, Registry: s.registry, PublicURL: strings.TrimRight(s.cfg.PublicURL, "/"), Log: s.log}).Start(ctx)
	}
	if s.db.Cluster != nil {
		// A managed PostgreSQL that dies is restarted; meanwhile requests
		// get 503 and the pool reconnects by itself.
		go s.db.Cluster.Supervise(ctx, func() { s.registry.Invalidate("") })
	}
	srv := &http.Server{
		Handler: s.handler,
		// Headers (and a connection that sends nothing) get the read limit.
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout),
		// Slow bodies are cut off; uploads extend both deadlines to
		// --upload-timeout for themselves (http.ResponseController).
		ReadTimeout: s.cfg.ReadTimeout,
		// A response may take the database's time limit plus time to send;
		// a fixed margin keeps slow clients from holding connections forever.
		WriteTimeout: s.cfg.DBTimeout + 30*time.Second,
		// Idle keep-alive connections count against --max-connections.
		IdleTimeout: 30 * time.Second,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// Past the cap, connections wait in the kernel's accept queue instead
	// of each taking a file descriptor (and failing accept for everyone);
	// one client address may hold only its share.
	ln = httpapi.LimitListener(ln, s.cfg.MaxConnections, min(s.cfg.MaxConnectionsPerHost, s.cfg.MaxConnections))
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		s.loopback.Store(fmt.Sprintf("http://127.0.0.1:%d", a.Port))
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("gusu is serving", "url", "http://"+ln.Addr().String()+"/", "startup", time.Since(start).Round(time.Millisecond))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelShut()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	return nil
}

// lockDataDir makes this the only gusu serve on dataDir: a second would
// share the managed PostgreSQL that the first stops when it exits, and be
// left answering 503. The lock is an flock, released by the kernel
// whatever way the process ends.
func lockDataDir(dataDir string) (func(), error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create --data-dir %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		abs, _ := filepath.Abs(dataDir)
		return nil, fmt.Errorf("another gusu serve (pid %s) is using --data-dir %s: stop it first, or give this one another --data-dir; "+
			"to run several servers on the managed database, point them at it with --database-url 'postgres://gusu@/gusu?host=%s&port=5432'",
			strings.TrimSpace(string(holder)), abs, filepath.Join(abs, "postgres"))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
