package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func serve(t *testing.T, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func body(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not JSON: %q", rec.Body.String())
	}
	return m
}

// A panicking handler answers a JSON 500 with the request's id, which the
// log line with the stack names too.
func TestRecoverAnswersJSON500(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := WithRequestID(Recover(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s []int
		_ = s[3] // index out of range, as the Mapbox colours bug did
	})))
	rec := serve(t, h, "GET", "/boom")
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	b := body(t, rec)
	id, _ := b["request_id"].(string)
	if id == "" || rec.Header().Get("X-Request-Id") != id {
		t.Fatalf("request id %q, header %q", id, rec.Header().Get("X-Request-Id"))
	}
	if !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "index out of range") || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("log lacks the id, the panic or the stack: %s", logs.String())
	}
	if strings.Contains(rec.Body.String(), "index out of range") {
		t.Fatal("the panic's text reached the client")
	}
}

// A handler that panics after writing part of its answer is cut off (the
// client sees an incomplete response), not given a second status line.
func TestRecoverAfterWriteAborts(t *testing.T) {
	h := Recover(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("partial"))
		panic("late")
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	serve(t, h, "GET", "/")
	t.Fatal("no abort")
}

// A client's plain request id is kept; anything else is replaced.
func TestRequestIDFromClient(t *testing.T) {
	var got string
	h := WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = RequestID(r) }))
	serve(t, h, "GET", "/", "X-Request-Id", "abc-123")
	if got != "abc-123" {
		t.Fatalf("kept %q", got)
	}
	serve(t, h, "GET", "/", "X-Request-Id", "bad id\nwith newline")
	if got == "" || strings.ContainsAny(got, " \n") {
		t.Fatalf("replaced with %q", got)
	}
}

// A query string Go would silently truncate (a ';' separator, a broken
// escape) is a 400, not a request with a parameter missing.
func TestValidQuery(t *testing.T) {
	reached := false
	h := ValidQuery(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	for _, q := range []string{"bbox=1,2,3,4;limit=5", "a=%zz", "bbox=120,31,121,32&x=1;y=2"} {
		reached = false
		rec := serve(t, h, "GET", "/x?"+q)
		if rec.Code != 400 || reached || body(t, rec)["error"] == nil {
			t.Fatalf("%q: %d, reached %v", q, rec.Code, reached)
		}
	}
	rec := serve(t, h, "GET", "/x?bbox=120%3B31&a=b")
	if rec.Code != 200 || !reached {
		t.Fatalf("an encoded ';' is fine: %d", rec.Code)
	}
}

// A limiter lets n requests run, makes the next wait, and answers 503 with
// Retry-After when no slot frees in time.
func TestLimiter(t *testing.T) {
	l := NewLimiter("test", 2, 50*time.Millisecond)
	release := make(chan struct{})
	var started sync.WaitGroup
	h := Handler(nil, l.Wrap(func(w http.ResponseWriter, r *http.Request) error {
		started.Done()
		<-release
		return nil
	}))
	var done sync.WaitGroup
	for i := 0; i < 2; i++ {
		started.Add(1)
		done.Add(1)
		go func() { defer done.Done(); serve(t, h, "GET", "/") }()
	}
	started.Wait()
	rec := serve(t, h, "GET", "/")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(body(t, rec)["error"].(string), "at most 2") {
		t.Fatalf("third request: %d %q", rec.Code, rec.Body.String())
	}
	close(release)
	done.Wait()
	started.Add(1) // release is closed: the handler returns at once
	if rec := serve(t, h, "GET", "/"); rec.Code != 200 {
		t.Fatalf("after the slots freed: %d", rec.Code)
	}
	// A request whose client left stops waiting at once.
	l2 := NewLimiter("test", 1, time.Hour)
	hold, _ := l2.Acquire(context.Background())
	defer hold()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l2.Acquire(ctx); err == nil {
		t.Fatal("acquired with a canceled context")
	}
}
