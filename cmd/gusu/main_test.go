package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xuri/excelize/v2"

	"github.com/gusu-gis/gusu/data/dbtest"
)

func TestMain(m *testing.M) {
	// Re-executed as a child gusu (see startChild): run it and exit.
	if args := os.Getenv("GUSU_TEST_CHILD_ARGS"); args != "" {
		if err := run(context.Background(), strings.Split(args, "\x1f"), os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(dbtest.Main(m))
}

// syncBuffer collects a running gusu's JSON log lines.
type syncBuffer struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.raw.Write(p)
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			b.lines = append(b.lines, m)
		}
	}
	return len(p), nil
}

func (b *syncBuffer) find(msg string) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

type running struct {
	url    string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// startGusu runs `gusu serve` in-process on a free port and waits until it
// serves; the context cancel plays the part of SIGTERM.
func startGusu(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	go func() { r.done <- run(ctx, args, io.Discard, r.logs) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if l := r.logs.find("gusu is serving"); l != nil {
			r.url = strings.TrimRight(l["url"].(string), "/")
			break
		}
		select {
		case err := <-r.done:
			t.Fatalf("gusu exited before serving: %v\n%s", err, r.logs.raw.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gusu did not start:\n%s", r.logs.raw.String())
		}
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("gusu exited with %v", err)
		}
		r.done <- nil
	case <-time.After(time.Minute):
		t.Error("gusu did not shut down within a minute")
	}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", url, err)
	}
	return resp.StatusCode, v
}

func layerCounts(t *testing.T, base string) map[string]float64 {
	status, cat := getJSON(t, base+"/api/layers")
	if status != 200 {
		t.Fatalf("catalog status %d", status)
	}
	out := map[string]float64{}
	for _, l := range cat["layers"].([]any) {
		m := l.(map[string]any)
		out[m["name"].(string)] = m["feature_count"].(float64)
	}
	return out
}

// The newcomer's path: no database configured → gusu creates its own
// PostGIS, loads Suzhou, serves; stops it cleanly; a second start is fast.
func TestManagedModeEndToEnd(t *testing.T) {
	root, err := dbtest.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	dataDir := filepath.Join(root, "var")

	g := startGusu(t, "--data-dir", dataDir)
	counts := layerCounts(t, g.url)
	for _, name := range []string{"town_system", "eco_redlines", "rail_lines", "rail_stations"} {
		if counts[name] <= 0 {
			t.Errorf("%s has %v features", name, counts[name])
		}
	}
	if status, h := getJSON(t, g.url+"/healthz"); status != 200 || h["database"] != "managed" {
		t.Fatalf("healthz %d %v", status, h)
	}
	g.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("PostgreSQL still running after gusu stopped (postmaster.pid: %v)", err)
	}

	began := time.Now()
	g2 := startGusu(t, "--data-dir", dataDir)
	t.Logf("second start took %v", time.Since(began))
	if g2.logs.find("loaded the bundled Suzhou dataset") != nil {
		t.Error("second start loaded the dataset again")
	}
	if c := layerCounts(t, g2.url); c["town_system"] != counts["town_system"] {
		t.Errorf("second start has %v towns, first had %v", c["town_system"], counts["town_system"])
	}

	// The database dies under a running server: health says so with a JSON
	// reason, and the data endpoints answer 503, not 500 with SQL text.
	pidText, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(pidText), "\n", 2)[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	status, h := getJSON(t, g2.url+"/healthz")
	if status != 503 || h["error"] == nil {
		t.Fatalf("healthz with the database down: %d %v", status, h)
	}
	status, body := getJSON(t, g2.url+"/api/layers/town_system/features")
	if status != 503 || strings.Contains(body["error"].(string), "SQL") {
		t.Fatalf("features with the database down: %d %v", status, body)
	}
	// gusu supervises the PostgreSQL it started: it comes back by itself.
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, _ := getJSON(t, g2.url+"/healthz")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL was not restarted within 90 s:\n%s", g2.logs.raw.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c := layerCounts(t, g2.url); c["town_system"] != counts["town_system"] {
		t.Errorf("after the restart: %v towns, want %v", c["town_system"], counts["town_system"])
	}
	if g2.logs.find("PostgreSQL exited unexpectedly; restarting it") == nil {
		t.Error("the crash was not logged")
	}

	// A second serve on the same data dir is refused with a message that
	// says what to do, and the first keeps serving.
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "another gusu serve") || !strings.Contains(err.Error(), "--database-url") {
		t.Fatalf("second serve on one data dir: %v", err)
	}
	if status, _ := getJSON(t, g2.url+"/healthz"); status != 200 {
		t.Fatalf("the first server after the refused second: %d", status)
	}
}

// An operator's path: --database-url points at an existing PostGIS; no
// local cluster is created.
func TestExternalDatabaseURL(t *testing.T) {
	url := dbtest.NewDatabase(t, false)
	root, err := dbtest.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	g := startGusu(t, "--database-url", url, "--data-dir", filepath.Join(root, "var"))
	if counts := layerCounts(t, g.url); counts["town_system"] < 70 {
		t.Fatalf("external database has %v town-system units", counts["town_system"])
	}
	if _, h := getJSON(t, g.url+"/healthz"); h["database"] != "external" {
		t.Fatalf("healthz says %v", h)
	}
	if _, err := os.Stat(filepath.Join(root, "var", "postgres")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a local cluster was created although --database-url was given")
	}
}

// A role that may not create PostGIS gets told what to do.
func TestExternalDatabaseWithoutPostGISPrivilege(t *testing.T) {
	url := dbtest.NewDatabase(t, false)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"DROP ROLE IF EXISTS plain_user",
		"CREATE ROLE plain_user LOGIN",
		"GRANT CREATE ON SCHEMA public TO plain_user",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	plainURL := strings.Replace(url, "postgres://gusu@", "postgres://plain_user@", 1)
	err = run(ctx, []string{"migrate", "--database-url", plainURL}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "CREATE EXTENSION postgis") {
		t.Fatalf("err = %v, want advice to run CREATE EXTENSION postgis as a superuser", err)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"no command":       {},
		"unknown command":  {"frobnicate"},
		"bad log format":   {"serve", "--log-format", "xml"},
		"bad database url": {"serve", "--database-url", "mysql://x"},
		"unknown flag":     {"serve", "--colour", "red"},
		"bad public url":   {"serve", "--public-url", "maps.example.org"},
		"negative cache":   {"serve", "--tile-cache-mb", "-1"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), args, io.Discard, io.Discard)
			if !errors.Is(err, errUsage) {
				t.Fatalf("err = %v, want a usage error", err)
			}
		})
	}
}

// Environment variables configure gusu; flags win over them.
func TestFlagsWinOverEnvironment(t *testing.T) {
	t.Setenv("GUSU_ADDR", "127.0.0.1:9999")
	t.Setenv("GUSU_LOG_FORMAT", "json")
	cfg, _, err := parseConfig("serve", []string{"--addr", "127.0.0.1:7777"}, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7777" || cfg.LogFormat != "json" {
		t.Fatalf("addr %q log format %q", cfg.Addr, cfg.LogFormat)
	}
}

// The README's configuration table documents every setting with its
// environment variable and default, so the two cannot drift apart.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range configKeys {
		row := ""
		for _, line := range strings.Split(string(readme), "\n") {
			if strings.HasPrefix(line, "| `--"+k.flag+"` |") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README has no row for --%s", k.flag)
			continue
		}
		if !strings.Contains(row, "`"+k.env+"`") {
			t.Errorf("README row for --%s lacks %s", k.flag, k.env)
		}
		if k.def != "" && !strings.Contains(row, "`"+k.def+"`") {
			t.Errorf("README row for --%s lacks the default %q", k.flag, k.def)
		}
	}
}

// gusu report coverage answers what POST /api/catchments does, as a table,
// CSV or an XLSX file; its usage errors exit 2.
func TestReportCoverage(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	ctx := context.Background()
	var table, csvOut bytes.Buffer
	base := []string{"report", "coverage", "--database-url", url, "--origins", "rail_stations", "--where", "kind=metro|tram", "--mode", "walk", "--minutes", "10,20", "--group-by", "town_system"}
	if err := run(ctx, base, &table, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "≤ 10 min") || !strings.Contains(table.String(), "姑苏区") || !strings.Contains(table.String(), "off-network estimate") {
		t.Fatalf("table:\n%s", table.String())
	}
	if err := run(ctx, append(base, "--format", "csv"), &csvOut, io.Discard); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil || len(recs) != 1+2*11 || recs[1][4] != "all" {
		t.Fatalf("csv (%v): %v", err, recs)
	}
	out := filepath.Join(t.TempDir(), "coverage.xlsx")
	if err := run(ctx, append(base, "--format", "xlsx", "--out", out), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := x.GetRows("coverage")
	if len(rows) != len(recs) || rows[1][5] != recs[1][5] {
		t.Fatalf("xlsx rows %v, csv %v", rows[:2], recs[:2])
	}
	for name, args := range map[string][]string{
		"no origins":  {"report", "coverage", "--database-url", url},
		"bad filter":  {"report", "coverage", "--database-url", url, "--origins", "rail_stations", "--where", "kind"},
		"bad minutes": {"report", "coverage", "--database-url", url, "--origins", "rail_stations", "--minutes", "ten"},
		"bad format":  {"report", "coverage", "--database-url", url, "--origins", "rail_stations", "--format", "pdf"},
	} {
		if err := run(ctx, args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

// gusu report traveltimes prints the matrix POST /api/traveltimes answers,
// one CSV row per pair.
func TestReportTravelTimes(t *testing.T) {
	url := dbtest.NewDatabase(t, true)
	body := filepath.Join(t.TempDir(), "body.json")
	os.WriteFile(body, []byte(`{"origins": {"points": [[120.6195, 31.311], [120.628, 31.318]]}, "destinations": {"layer": "rail_stations", "where": {"name": ["苏州", "乐桥"]}}, "mode": "walk", "max_minutes": 60}`), 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"report", "traveltimes", "--database-url", url, "--request", body}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(recs) != 1+2*2 || recs[0][2] != "minutes" {
		t.Fatalf("csv (%v): %v", err, recs)
	}
	reached := 0
	for _, r := range recs[1:] {
		if r[2] != "" {
			reached++
		}
	}
	if reached == 0 {
		t.Fatalf("no pair reached on foot within an hour: %v", recs)
	}
	if err := run(context.Background(), []string{"report", "traveltimes", "--database-url", url}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("without --request: %v", err)
	}
}
