package main

// The hostile-client suite: a real gusu with small limits, attacked over
// loopback the ways a hostile or careless client would — slow bodies,
// connection floods, deep paging in parallel, unbounded metric labels,
// requests that once panicked — while tiles and /healthz must keep
// answering. Every loop is bounded in count and time.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/dbtest"
)

type hostileServer struct {
	*running
	host   string
	editor string
}

func startHostile(t *testing.T, extra ...string) *hostileServer {
	url := dbtest.NewDatabase(t, false)
	root, _ := dbtest.TempDir()
	t.Cleanup(func() { os.RemoveAll(root) })
	args := append([]string{"--database-url", url, "--data-dir", filepath.Join(root, "var"),
		"--read-timeout", "2s", "--db-timeout", "2s", "--max-connections", "64", "--db-max-conns", "8"}, extra...)
	g := startGusu(t, args...)
	editor, err := auth.Create(context.Background(), dbtest.Pool(t, url), "staff", auth.Editor)
	if err != nil {
		t.Fatal(err)
	}
	return &hostileServer{running: g, host: strings.TrimPrefix(g.url, "http://"), editor: editor}
}

// watch polls /healthz and a tile every 100 ms until stop, counting the
// answers that were not 200/204.
func (h *hostileServer) watch(t *testing.T, stop <-chan struct{}) func() (ok, bad int, worst time.Duration) {
	var okN, badN atomic.Int64
	var worst atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			path := "/healthz"
			if i%2 == 1 {
				path = fmt.Sprintf("/tiles/town_system/9/%d/208.mvt", 425+i%4)
			}
			start := time.Now()
			resp, err := client.Get(h.url + path)
			d := time.Since(start)
			if int64(d) > worst.Load() {
				worst.Store(int64(d))
			}
			if err != nil || (resp.StatusCode != 200 && resp.StatusCode != 204) {
				badN.Add(1)
				if err == nil {
					t.Logf("%s: %d", path, resp.StatusCode)
				} else {
					t.Logf("%s: %v", path, err)
				}
			} else {
				okN.Add(1)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	return func() (int, int, time.Duration) {
		wg.Wait()
		return int(okN.Load()), int(badN.Load()), time.Duration(worst.Load())
	}
}

func (h *hostileServer) assertServed(t *testing.T, what string, result func() (int, int, time.Duration)) {
	ok, bad, worst := result()
	t.Logf("%s: /healthz and tiles answered %d times, %d failures, slowest %v", what, ok, bad, worst)
	if ok == 0 || bad > 0 {
		t.Errorf("%s: health and tiles failed %d of %d times", what, bad, ok+bad)
	}
}

// Slow bodies and silent connections are cut off at the read timeout, and
// connections past --max-connections wait in the kernel's queue instead of
// exhausting file descriptors; meanwhile health and tiles answer.
func TestHostileSlowBodiesAndConnectionFlood(t *testing.T) {
	h := startHostile(t, "--max-connections-per-host", "32")
	stop := make(chan struct{})
	result := h.watch(t, stop)
	// The flood comes from another loopback address than the watcher, as
	// an attacker's would from another host.
	dialer := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	const n = 300 // over --max-connections (64) and the per-host cap (32)
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c, err := dialer.Dial("tcp", h.host)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%3 == 0 {
			// A body that never finishes.
			fmt.Fprintf(c, "POST /api/isochrones HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"origins\":")
		} else if i%3 == 1 {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // headers that never end
		}
	}
	time.Sleep(4 * time.Second) // past --read-timeout (2 s)
	// The server has closed the slow ones it accepted, and the ones past
	// the per-host cap at once.
	// Each is closed within the read timeout plus the time an answer takes
	// on a loaded machine (generous: this is about "not forever").
	closed := 0
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range conns[:60] {
		c.SetReadDeadline(deadline)
		b, err := io.ReadAll(c)
		// EOF, an answer, or a reset (a server closing a connection with
		// unread bytes sends RST) all mean closed; only a timeout does not.
		var ne net.Error
		if err == nil || len(b) > 0 || !(errors.As(err, &ne) && ne.Timeout()) {
			closed++
		}
	}
	for _, c := range conns {
		c.Close()
	}
	close(stop)
	h.assertServed(t, "under 300 idle and slow connections", result)
	if closed < 60 {
		t.Errorf("only %d of the first 60 slow connections were closed by the server within 20 s", closed)
	}
	if h.logs.find("gusu is serving") == nil || strings.Contains(h.logs.raw.String(), "too many open files") {
		t.Error("the server ran out of file descriptors")
	}
}

// Deep pages of a big layer requested in parallel take their share of the
// pool, not all of it: health and tiles keep answering, excess page
// requests get 503 with Retry-After, and no query outlives --db-timeout.
func TestHostileParallelDeepPaging(t *testing.T) {
	h := startHostile(t)
	// A layer big enough that a deep offset costs real time.
	var fs []string
	for i := 0; i < 20000; i++ {
		x, y := 120.5+float64(i%200)*0.001, 31.2+float64(i/200)*0.001
		fs = append(fs, fmt.Sprintf(`{"type":"Feature","properties":{"code":"P%d","note":"%s"},"geometry":{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}}`,
			i, strings.Repeat("x", 200), x, y, x+0.0008, y, x, y+0.0008, x, y))
	}
	createLayer(t, h.url, h.editor, "parcels")
	if s, rep := uploadFile(t, h.url, "parcels", h.editor, "p.geojson", []byte(`{"type":"FeatureCollection","features":[`+strings.Join(fs, ",")+`]}`)); s != 201 {
		t.Fatalf("upload: %d %v", s, rep)
	}
	stop := make(chan struct{})
	result := h.watch(t, stop)
	var wg sync.WaitGroup
	var statuses sync.Map
	client := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3; j++ {
				resp, err := client.Get(fmt.Sprintf("%s/api/layers/parcels/features?limit=10000&offset=%d", h.url, 10000))
				if err != nil {
					statuses.Store("error", true)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses.Store(resp.StatusCode, true)
			}
		}()
	}
	wg.Wait()
	close(stop)
	h.assertServed(t, "under 40 parallel deep-page clients", result)
	seen := []any{}
	statuses.Range(func(k, _ any) bool { seen = append(seen, k); return true })
	for _, s := range seen {
		if s != 200 && s != 503 && s != 504 {
			t.Errorf("a page request got %v", s)
		}
	}
	if _, ok := statuses.Load(200); !ok {
		t.Errorf("no page request succeeded: %v", seen)
	}
}

// Tile requests naming layers in every order, and unknown layers, leave
// /metrics small: its labels are per layer.
func TestHostileMetricCardinality(t *testing.T) {
	h := startHostile(t)
	names := []string{"town_system", "rail_lines", "rail_stations", "eco_redlines"}
	client := &http.Client{Timeout: 10 * time.Second}
	perms := 0
	var permute func(prefix []string, rest []string)
	permute = func(prefix, rest []string) {
		if len(prefix) > 0 {
			resp, err := client.Get(h.url + "/tiles/" + strings.Join(prefix, ",") + "/9/427/208.mvt")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			perms++
		}
		for i, n := range rest {
			next := append(append([]string{}, rest[:i]...), rest[i+1:]...)
			permute(append(append([]string{}, prefix...), n), next)
		}
	}
	permute(nil, names)
	for i := 0; i < 200; i++ {
		resp, err := client.Get(fmt.Sprintf("%s/tiles/nope%d,town_system/9/427/208.mvt", h.url, i))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	resp, err := client.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	series := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "gusu_tile_requests_total{") {
			series++
		}
	}
	t.Logf("%d layer lists and 200 unknown names → %d request series, /metrics %d bytes", perms, series, len(b))
	if series > 12 {
		t.Errorf("%d series of gusu_tile_requests_total: labels are not bounded", series)
	}
}

// Requests that once crashed a handler, and other odd input, get JSON
// answers with a request id; the server keeps serving.
func TestHostileOddRequests(t *testing.T) {
	h := startHostile(t)
	client := &http.Client{Timeout: 20 * time.Second}
	waitForNetwork(t, h.url)
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/isochrone/v1/walking/120.62,31.30?contours_minutes=15,30,45&polygons=true", "", 200}, // README's example: once a panic
		{"GET", "/isochrone/v1/walking/120.62,31.30?contours_minutes=15,30,45&contours_colors=ff0000", "", 400},
		{"GET", "/api/layers/rail_stations/features?bbox=120,31,121,32;limit=5", "", 400},
		{"GET", "/api/layers/rail_stations/features?bbox=%zz", "", 400},
		{"GET", "/no/such/route", "", 404},
		{"DELETE", "/healthz", "", 405},
		{"GET", "/api/isochrones?from=" + strings.TrimSuffix(strings.Repeat("station:x,", 500), ","), "", 400},
		{"POST", "/api/isochrones", `{"origins":[[1e400,31]]}`, 400},
		{"POST", "/api/isochrones", strings.Repeat("[", 100000), 400},
		{"POST", "/api/layers", `{"name":"a","title":"\u0000"}`, 401},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, h.url+c.path, strings.NewReader(c.body))
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.path[:min(60, len(c.path))], err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %.60s: %d, want %d: %.200s", c.method, c.path, resp.StatusCode, c.status, b)
		}
		if c.status >= 400 && (!bytes.Contains(b, []byte(`"request_id"`)) || resp.Header.Get("X-Request-Id") == "") {
			t.Errorf("%s %.60s: error without a request id: %.200s", c.method, c.path, b)
		}
	}
	if s, _ := getJSON(t, h.url+"/healthz"); s != 200 {
		t.Fatalf("healthz after the odd requests: %d", s)
	}
}

// An upload whose body arrives slower than --read-timeout allows still
// completes and gets its answer: uploads have their own deadline.
func TestHostileSlowUploadIsAnswered(t *testing.T) {
	h := startHostile(t)
	createLayer(t, h.url, h.editor, "slowup")
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, _ := w.CreateFormFile("file", "s.geojson")
	fw.Write(squares(50, 120.6))
	w.Close()
	body := b.Bytes()
	pr, pw := io.Pipe()
	go func() {
		// About 4 s in all, twice --read-timeout.
		chunk := len(body)/20 + 1
		for i := 0; i < len(body); i += chunk {
			pw.Write(body[i:min(i+chunk, len(body))])
			time.Sleep(200 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/layers/slowup/uploads", pr)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+h.editor)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("%d after %v: %s", resp.StatusCode, time.Since(start), out)
	}
	t.Logf("a %d-byte upload sent over %v was answered 201", len(body), time.Since(start).Round(time.Millisecond))
}

func createLayer(t *testing.T, base, token, name string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/layers", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create %s: %v %v", name, resp, err)
	}
	resp.Body.Close()
}

// waitForNetwork waits until the accessibility network is built (503 until then).
func waitForNetwork(t *testing.T, base string) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/api/isochrones?lon=120.62&lat=31.30&mode=walk&minutes=5")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the accessibility network was not built within 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
