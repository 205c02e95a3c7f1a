package pgcluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gusu-gis/gusu/data/dbtest"
	"github.com/gusu-gis/gusu/data/pgcluster"
)

func start(t *testing.T, dir string) *pgcluster.Cluster {
	return startWith(t, pgcluster.Options{Dir: dir})
}

func startWith(t *testing.T, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts.Logger = dbtest.Logger(t)
	c, err := pgcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func exec(t *testing.T, c *pgcluster.Cluster, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.ConnString("gusu"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out string
	if strings.HasPrefix(sql, "CREATE") {
		_, err := conn.Exec(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return ""
	}
	if err := conn.QueryRow(ctx, sql).Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func tempDir(t *testing.T) string {
	dir, err := dbtest.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "pg")
}

// The cluster and its data survive a stop and start, and the second start
// reuses it instead of running initdb again.
func TestReuseAcrossRestarts(t *testing.T) {
	dir := tempDir(t)
	c := start(t, dir)
	exec(t, c, "CREATE TABLE kept AS SELECT 'still here'::text AS v")
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid still there after a clean stop: %v", err)
	}
	began := time.Now()
	c2 := start(t, dir)
	defer c2.Stop(context.Background())
	if got := exec(t, c2, "SELECT v FROM kept"); got != "still here" {
		t.Fatalf("after restart got %q", got)
	}
	t.Logf("second start took %v", time.Since(began))
}

// After a crash (SIGKILL) the pid file is left behind; the next start must
// notice the process is gone and recover.
func TestRecoversFromCrash(t *testing.T) {
	dir := tempDir(t)
	// Durable, as in production: a committed transaction survives the crash.
	c := startWith(t, pgcluster.Options{Dir: dir, Durable: true})
	exec(t, c, "CREATE TABLE survived AS SELECT 'yes'::text AS v")
	c.Kill()
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid after a crash: %v", err)
	}
	c2 := startWith(t, pgcluster.Options{Dir: dir, Durable: true})
	defer c2.Stop(context.Background())
	if c2.Attached() {
		t.Fatal("attached to a dead postmaster")
	}
	if got := exec(t, c2, "SELECT v FROM survived"); got != "yes" {
		t.Fatalf("got %q", got)
	}
}

// A pid file naming a live process that is not this cluster's postgres
// (pids are reused after reboots) is stale too.
func TestStalePidOfAnotherProcess(t *testing.T) {
	dir := tempDir(t)
	c := start(t, dir)
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "postmaster.pid")
	stale := fmt.Sprintf("%d\n%s\n1700000000\n5432\n%s\n", os.Getpid(), dir, dir)
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	c2 := start(t, dir)
	defer c2.Stop(context.Background())
	if c2.Attached() {
		t.Fatal("took the test process for a running postmaster")
	}
	if got := exec(t, c2, "SELECT 'up'"); got != "up" {
		t.Fatal(got)
	}
}

// A second gusu process (e.g. `gusu import osm` beside `gusu serve`) attaches
// to the running cluster and leaves it running when it stops.
func TestAttachToRunningCluster(t *testing.T) {
	dir := tempDir(t)
	owner := start(t, dir)
	defer owner.Stop(context.Background())
	guest := start(t, dir)
	if !guest.Attached() {
		t.Fatal("second Start did not attach")
	}
	if err := guest.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := exec(t, owner, "SELECT 'still up'"); got != "still up" {
		t.Fatal(got)
	}
}

func TestRejectsOverlongSocketPath(t *testing.T) {
	dir := "/tmp/" + strings.Repeat("x", 120)
	_, err := pgcluster.Start(context.Background(), pgcluster.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("err = %v", err)
	}
}
