// Package dbtest gives tests a real PostGIS: one throwaway cluster per test
// binary, started with the same pgcluster code gusu uses in production, and
// a fresh database per test cloned from a migrated, loaded template.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
//
// No fixed ports (the cluster listens on a Unix socket in a temp dir) and no
// system-wide server are involved.
package dbtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data"
	"github.com/gusu-gis/gusu/data/database"
	"github.com/gusu-gis/gusu/data/pgcluster"
)

var (
	cluster  *pgcluster.Cluster
	rootDir  string
	template sync.Once
	tmplErr  error
	counter  atomic.Int64
)

// Main starts the cluster, runs the tests and removes everything. When
// fuzzing (the coordinator and each worker process run TestMain) no
// cluster is started: fuzz targets do not use the database.
func Main(m *testing.M) int {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz") {
			return m.Run()
		}
	}
	dir, err := TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		return 1
	}
	rootDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: dir + "/pg", Settings: map[string]string{"max_connections": "300"}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest: start PostGIS cluster:", err)
		os.RemoveAll(dir)
		return 1
	}
	code := m.Run()
	_ = cluster.Stop(context.Background())
	os.RemoveAll(dir)
	return code
}

// TempDir makes a short directory under /tmp that the postgres OS user can
// reach (t.TempDir's parents are private to root, and Unix socket paths
// must stay under 108 bytes).
func TempDir() (string, error) {
	dir, err := os.MkdirTemp("/tmp", "gusu-test-")
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// Cluster returns the test binary's cluster.
func Cluster() *pgcluster.Cluster { return cluster }

const templateDB = "gusu_template"

// buildTemplate creates a database with the schema migrated and the
// bundled dataset loaded, through the production code path.
func buildTemplate() error {
	ctx := context.Background()
	if err := createDatabase(ctx, templateDB, ""); err != nil {
		return err
	}
	db, err := database.Open(ctx, database.Options{URL: cluster.URL(templateDB), Bundle: data.Suzhou})
	if err != nil {
		return fmt.Errorf("prepare template database: %w", err)
	}
	db.Close()
	return nil
}

func createDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, cluster.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// NewDatabase returns the URL of a fresh database for t: migrated and with
// the bundled Suzhou data when loaded is true, empty otherwise. It is
// dropped when t ends.
func NewDatabase(t testing.TB, loaded bool) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", counter.Add(1), sanitize(t.Name()))
	tmpl := ""
	if loaded {
		template.Do(func() { tmplErr = buildTemplate() })
		if tmplErr != nil {
			t.Fatalf("template database: %v", tmplErr)
		}
		tmpl = templateDB
	}
	if err := createDatabase(context.Background(), name, tmpl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), cluster.ConnString("postgres"))
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return cluster.URL(name)
}

// Open returns a migrated database with the bundled data, opened through
// database.Open, closed when t ends.
func Open(t testing.TB) *database.DB {
	t.Helper()
	url := NewDatabase(t, true)
	db, err := database.Open(context.Background(), database.Options{URL: url, Bundle: data.Suzhou, Logger: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// Pool opens a plain pool on url, closed when t ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Logger logs through t, so output appears with the failing test only.
// Lines written after t ends (by background goroutines) are dropped.
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}
