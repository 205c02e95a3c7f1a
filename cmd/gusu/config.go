package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gusu-gis/gusu/geo/isochrone"
)

// Config is every setting of gusu serve, with its default, environment
// variable and flag in one place (see configKeys). Flags win over the
// environment, which wins over defaults.
type Config struct {
	Addr                  string
	DataDir               string
	DatabaseURL           string
	ReplicaURLs           stringList
	ReplicaMaxLag         time.Duration
	LogFormat             string
	LogLevel              string
	PublicURL             string
	DBTimeout             time.Duration
	DBMaxConns            int
	TileCacheMB           int
	TileBudgetKB          int
	CacheControl          string
	CORSOrigins           string
	FrontendDir           string
	PMTilesDir            string
	PurgeURL              string
	MaxUploadMB           int
	UploadTimeout         time.Duration
	MaxUploadFeatures     int
	MaxConnections        int
	MaxConnectionsPerHost int
	ReadTimeout           time.Duration
	BasemapTiles          string
	BasemapAttr           string
	Chromium              string
	IsoCellM              int
	IsoDetour             string
	IsoWalkKmh            string
	IsoMaxMin             int
}

type configKey struct {
	flag, env, def, help string
	target               func(*Config) any
}

// configKeys documents every setting; README's configuration table is
// checked against it by a test.
var configKeys = []configKey{
	{"addr", "GUSU_ADDR", "127.0.0.1:8080", "address to listen on", func(c *Config) any { return &c.Addr }},
	{"data-dir", "GUSU_DATA_DIR", "./var", "directory for the managed PostGIS cluster and other state", func(c *Config) any { return &c.DataDir }},
	{"database-url", "GUSU_DATABASE_URL", "", "PostGIS database URL; empty: manage a local cluster under --data-dir", func(c *Config) any { return &c.DatabaseURL }},
	{"database-replica-url", "GUSU_DATABASE_REPLICA_URLS", "", "a streaming replica of --database-url for reads (tiles, feature pages); repeat the flag for several, or list them comma-separated in the environment variable", func(c *Config) any { return &c.ReplicaURLs }},
	{"replica-max-lag", "GUSU_REPLICA_MAX_LAG", "30s", "a replica further behind than this is skipped (reads that need newer data go to the primary whatever the bound)", func(c *Config) any { return &c.ReplicaMaxLag }},
	{"log-format", "GUSU_LOG_FORMAT", "text", "log format: text or json", func(c *Config) any { return &c.LogFormat }},
	{"log-level", "GUSU_LOG_LEVEL", "info", "log level: debug, info, warn or error", func(c *Config) any { return &c.LogLevel }},
	{"public-url", "GUSU_PUBLIC_URL", "", "external base URL (e.g. https://maps.example.org/gusu) for links in TileJSON and the catalog; empty: from the request and X-Forwarded-* headers", func(c *Config) any { return &c.PublicURL }},
	{"db-timeout", "GUSU_DB_TIMEOUT", "5s", "time limit for one database query (tiles, features)", func(c *Config) any { return &c.DBTimeout }},
	{"db-max-conns", "GUSU_DB_MAX_CONNS", "16", "database connection pool size", func(c *Config) any { return &c.DBMaxConns }},
	{"tile-cache-mb", "GUSU_TILE_CACHE_MB", "256", "in-memory tile cache size in MiB; 0 disables it", func(c *Config) any { return &c.TileCacheMB }},
	{"tile-budget-kb", "GUSU_TILE_BUDGET_KB", "500", "size budget of a compressed tile in KiB: larger tiles are generalised further; 0: no budget", func(c *Config) any { return &c.TileBudgetKB }},
	{"cache-control", "GUSU_CACHE_CONTROL", "public, max-age=0, must-revalidate", "Cache-Control header for tiles and TileJSON", func(c *Config) any { return &c.CacheControl }},
	{"cors-origins", "GUSU_CORS_ORIGINS", "*", "comma-separated origins allowed by CORS; * allows all, empty none", func(c *Config) any { return &c.CORSOrigins }},
	{"max-upload-mb", "GUSU_MAX_UPLOAD_MB", "200", "largest upload accepted, in MiB (413 beyond)", func(c *Config) any { return &c.MaxUploadMB }},
	{"upload-timeout", "GUSU_UPLOAD_TIMEOUT", "30m", "time limit for one upload: receiving the file, checking it and committing it", func(c *Config) any { return &c.UploadTimeout }},
	{"max-upload-features", "GUSU_MAX_UPLOAD_FEATURES", "5000000", "most features one upload may hold (422 beyond)", func(c *Config) any { return &c.MaxUploadFeatures }},
	{"max-connections", "GUSU_MAX_CONNECTIONS", "1024", "most client connections open at once; more wait in the kernel's queue", func(c *Config) any { return &c.MaxConnections }},
	{"max-connections-per-host", "GUSU_MAX_CONNECTIONS_PER_HOST", "256", "most connections one client address may hold open; 0: no per-host cap (set it so, or high, behind a reverse proxy)", func(c *Config) any { return &c.MaxConnectionsPerHost }},
	{"read-timeout", "GUSU_READ_TIMEOUT", "30s", "time limit for reading a request (headers and body) other than an upload", func(c *Config) any { return &c.ReadTimeout }},
	{"basemap-tiles", "GUSU_BASEMAP_TILES", "", "XYZ raster tile URL template ({z}/{x}/{y}) drawn under the layers in the viewer, e.g. a Tianditu tile service; empty: no basemap (works offline)", func(c *Config) any { return &c.BasemapTiles }},
	{"basemap-attribution", "GUSU_BASEMAP_ATTRIBUTION", "", "attribution shown for --basemap-tiles", func(c *Config) any { return &c.BasemapAttr }},
	{"chromium", "GUSU_CHROMIUM", "", "the Chromium binary map export runs (default: chromium on the PATH)", func(c *Config) any { return &c.Chromium }},
	{"iso-cell-m", "GUSU_ISO_CELL_M", "200", "cell size of the accessibility surface, in metres", func(c *Config) any { return &c.IsoCellM }},
	{"iso-detour", "GUSU_ISO_DETOUR", "1.3", "detour factor of the off-network model (path length / straight line)", func(c *Config) any { return &c.IsoDetour }},
	{"iso-walk-kmh", "GUSU_ISO_WALK_KMH", "4.8", "walking speed, km/h", func(c *Config) any { return &c.IsoWalkKmh }},
	{"iso-max-minutes", "GUSU_ISO_MAX_MINUTES", "120", "longest isochrone band accepted, in minutes", func(c *Config) any { return &c.IsoMaxMin }},
	{"pmtiles", "GUSU_PMTILES", "", "serve the PMTiles archives in this directory (e.g. gusu export pmtiles files) at /pmtiles/{name}/{z}/{x}/{y}.mvt with TileJSON at /pmtiles/{name}.json; empty: none", func(c *Config) any { return &c.PMTilesDir }},
	{"purge-url", "GUSU_PURGE_URL", "", "on every new layer version, POST a JSON notice (layer, version, surrogate key, URL prefixes) here, once across all instances, for a CDN or caching proxy to purge; empty: none", func(c *Config) any { return &c.PurgeURL }},
	{"frontend-dir", "GUSU_FRONTEND_DIR", "", "serve the viewer from this directory (a frontend/dist) instead of the embedded build, for frontend work", func(c *Config) any { return &c.FrontendDir }},
}

// databaseKeys are the settings that commands other than serve share.
var databaseKeys = map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true}

// parseConfig parses args into a Config using only the keys keep allows (nil: all).
func parseConfig(name string, args []string, stderr io.Writer, keep map[string]bool) (*Config, *flag.FlagSet, error) {
	return parseConfigWith(name, args, stderr, keep, nil)
}

// parseConfigWith is parseConfig with a command's own extra flags already
// defined on fs (nil: none).
func parseConfigWith(name string, args []string, stderr io.Writer, keep map[string]bool, fs *flag.FlagSet) (*Config, *flag.FlagSet, error) {
	c := &Config{}
	if fs == nil {
		fs = flag.NewFlagSet(name, flag.ContinueOnError)
	}
	fs.SetOutput(stderr)
	for _, k := range configKeys {
		def := k.def
		if v, ok := os.LookupEnv(k.env); ok {
			def = v
		}
		if keep != nil && !keep[k.flag] {
			// Not a flag of this command, but still a validated setting.
			scratch := flag.NewFlagSet("", flag.ContinueOnError)
			if err := register(scratch, c, k, def); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err := register(fs, c, k, def); err != nil {
			return nil, nil, err
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, fs, nil
}

func register(fs *flag.FlagSet, c *Config, k configKey, def string) error {
	help := fmt.Sprintf("%s (env %s)", k.help, k.env)
	switch p := k.target(c).(type) {
	case *string:
		fs.StringVar(p, k.flag, def, help)
	case *int:
		n, err := strconv.Atoi(def)
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not a whole number", errUsage, k.env, def)
		}
		fs.IntVar(p, k.flag, n, help)
	case *stringList:
		p.values = nil
		for _, v := range strings.Split(def, ",") {
			if v = strings.TrimSpace(v); v != "" {
				p.values = append(p.values, v)
			}
		}
		p.fromDefault = len(p.values) > 0
		fs.Var(p, k.flag, help)
	case *time.Duration:
		d, err := time.ParseDuration(def)
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not a duration such as 5s", errUsage, k.env, def)
		}
		fs.DurationVar(p, k.flag, d, help)
	}
	return nil
}

// stringList is a repeatable flag; values from the environment are
// replaced, not extended, by the first flag.
type stringList struct {
	values      []string
	fromDefault bool
}

func (l *stringList) String() string { return strings.Join(l.values, ",") }

func (l *stringList) Set(v string) error {
	if l.fromDefault {
		l.values, l.fromDefault = nil, false
	}
	l.values = append(l.values, v)
	return nil
}

// Validate checks settings once, at start-up.
func (c *Config) Validate() error {
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return errors.New("--data-dir must not be empty when no --database-url is given")
	}
	for _, r := range c.ReplicaURLs.values {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("--database-replica-url must be a postgres:// or postgresql:// URL")
		}
	}
	if len(c.ReplicaURLs.values) > 0 && c.DatabaseURL == "" {
		return errors.New("--database-replica-url needs --database-url: replicas follow an external primary")
	}
	if c.ReplicaMaxLag <= 0 {
		return errors.New("--replica-max-lag must be positive")
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("--database-url must be a postgres:// or postgresql:// URL")
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url must be an absolute http(s) URL, not %q", c.PublicURL)
		}
	}
	if c.DBTimeout <= 0 {
		return errors.New("--db-timeout must be positive")
	}
	if c.DBMaxConns < 0 || c.DBMaxConns > 1000 {
		return errors.New("--db-max-conns must be from 0 to 1000")
	}
	if c.BasemapTiles != "" && !(strings.Contains(c.BasemapTiles, "{z}") && strings.Contains(c.BasemapTiles, "{x}") && strings.Contains(c.BasemapTiles, "{y}")) {
		return fmt.Errorf("--basemap-tiles must be a URL template with {z}, {x} and {y}, not %q", c.BasemapTiles)
	}
	if _, err := c.isoParams(); err != nil {
		return err
	}
	if c.UploadTimeout < time.Minute {
		return errors.New("--upload-timeout must be at least 1m")
	}
	if c.MaxUploadFeatures < 1 {
		return errors.New("--max-upload-features must be at least 1")
	}
	if c.MaxConnections < 16 || c.MaxConnections > 1<<20 {
		return errors.New("--max-connections must be from 16 to 1048576")
	}
	if c.MaxConnectionsPerHost < 0 {
		return errors.New("--max-connections-per-host must not be negative")
	}
	if c.ReadTimeout < time.Second {
		return errors.New("--read-timeout must be at least 1s")
	}
	if c.MaxUploadMB < 1 {
		return errors.New("--max-upload-mb must be at least 1")
	}
	if c.PurgeURL != "" {
		u, err := url.Parse(c.PurgeURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--purge-url must be an absolute http(s) URL, not %q", c.PurgeURL)
		}
	}
	if c.PMTilesDir != "" {
		if fi, err := os.Stat(c.PMTilesDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--pmtiles must be a directory of .pmtiles files, not %q", c.PMTilesDir)
		}
	}
	if c.TileCacheMB < 0 {
		return errors.New("--tile-cache-mb must not be negative")
	}
	if c.TileBudgetKB < 0 {
		return errors.New("--tile-budget-kb must not be negative (0: no budget)")
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

func (c *Config) logger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redactedDatabaseURL is the database URL without its password, for logs.
func (c *Config) redactedDatabaseURL() string {
	if c.DatabaseURL == "" {
		return ""
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isoParams are the accessibility model's parameters: the documented
// defaults with the configured overrides.
func (c *Config) isoParams() (isochrone.Params, error) {
	p := isochrone.DefaultParams()
	detour, err1 := strconv.ParseFloat(c.IsoDetour, 64)
	walk, err2 := strconv.ParseFloat(c.IsoWalkKmh, 64)
	switch {
	case err1 != nil || detour < 1 || detour > 5:
		return p, fmt.Errorf("--iso-detour must be a number from 1 to 5, not %q", c.IsoDetour)
	case err2 != nil || walk <= 0 || walk > 20:
		return p, fmt.Errorf("--iso-walk-kmh must be a speed above 0 and at most 20, not %q", c.IsoWalkKmh)
	case c.IsoCellM < 25 || c.IsoCellM > 2000:
		return p, fmt.Errorf("--iso-cell-m must be from 25 to 2000, not %d", c.IsoCellM)
	case c.IsoMaxMin < 1 || c.IsoMaxMin > 600:
		return p, fmt.Errorf("--iso-max-minutes must be from 1 to 600, not %d", c.IsoMaxMin)
	}
	p.Detour, p.WalkKmh, p.CellMetres, p.MaxMinutes = detour, walk, float64(c.IsoCellM), float64(c.IsoMaxMin)
	return p, nil
}

func isoParamsOrDefault(c *Config) isochrone.Params {
	p, err := c.isoParams()
	if err != nil { // Validate ran first; this cannot happen
		return isochrone.DefaultParams()
	}
	return p
}
