// Package httpapi holds the HTTP conventions every gusu handler shares.
//
// Errors: handlers return an error and Handler maps it, in this one place,
// to a status code and a JSON body. Clients get {"error": "...", "detail": ...} with a message meant for them;
// the underlying cause (SQL, driver text) is logged with a request id and
// never sent.
//
// URLs: BaseURL gives the address clients see, behind a reverse proxy too.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Error is an error with the status and message a client should see.
type Error struct {
	Status  int
	Message string
	Detail  any
	Err     error // the cause, logged, not sent
	// Retry, if positive, is sent as Retry-After (seconds).
	Retry int
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a status and a client-facing message.
func New(status int, message string) *Error { return &Error{Status: status, Message: message} }

// BadRequest is a 400 naming what was wrong.
func BadRequest(message string, detail any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: message, Detail: detail}
}

// NotFound is a 404.
func NotFound(message string, detail any) *Error {
	return &Error{Status: http.StatusNotFound, Message: message, Detail: detail}
}

// Unavailable is a 503 for a database that does not answer, wrapping the cause.
func Unavailable(message string, cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Message: message, Err: cause}
}

// HandlerFunc is an http.HandlerFunc that may fail.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler adapts a HandlerFunc, writing any error it returns.
func Handler(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			Write(w, r, log, err)
		}
	})
}

// Classify turns any error into an *Error: typed errors keep their status,
// timeouts become 504, unreachable databases 503, the rest 500.
func Classify(ctx context.Context, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away; nobody reads the answer. 499 as nginx logs it.
		return &Error{Status: 499, Message: "client closed request", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Message: "the database did not answer in time", Err: err}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57014": // query_canceled, by statement_timeout
			return &Error{Status: http.StatusGatewayTimeout, Message: "the database did not answer in time", Err: err}
		case "57P01", "57P02", "57P03", "53300": // shutting down, cannot connect now, too many connections
			return &Error{Status: http.StatusServiceUnavailable, Message: "the database is unavailable", Err: err}
		}
	}
	if pgconn.SafeToRetry(err) || isConnectError(err) {
		return &Error{Status: http.StatusServiceUnavailable, Message: "the database is unavailable", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error", Err: err}
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// Write logs err with a request id and writes the JSON error response.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := Classify(r.Context(), err)
	id := RequestID(r)
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	if log != nil {
		attrs := []any{"id", id, "status", e.Status, "method", r.Method, "path", r.URL.Path, "message", e.Message}
		if e.Err != nil {
			attrs = append(attrs, "cause", e.Err.Error())
		}
		log.Log(r.Context(), level, "request failed", attrs...)
	}
	if e.Status == 499 {
		return
	}
	body := map[string]any{"error": e.Message, "status": e.Status, "request_id": id}
	if e.Detail != nil {
		body["detail"] = e.Detail
	}
	if e.Retry > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.Retry))
	}
	WriteJSON(w, e.Status, body)
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type requestIDKey struct{}

// WithRequestID gives the request an id, kept in its context and sent as
// X-Request-Id, so a log line and the client's error body name the same
// request. An id the client (or a proxy) sent is kept if it is short and
// plain; anything else is replaced.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !plainID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestID is the request's id, from WithRequestID or made now.
func RequestID(r *http.Request) string {
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok {
		return id
	}
	return newRequestID()
}

func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Recover answers a panicking handler with a JSON 500 naming the request
// id, and logs the stack under that id, instead of dropping the
// connection. http.ErrAbortHandler keeps its meaning (abort quietly).
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &wroteTracker{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			id := RequestID(r)
			if log != nil {
				log.Error("handler panicked", "id", id, "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
			if tw.wrote {
				// Part of a response went out: only cutting the connection
				// tells the client it is incomplete.
				panic(http.ErrAbortHandler)
			}
			WriteJSON(w, http.StatusInternalServerError, map[string]any{
				"error": "internal error: the server failed on this request; it has been logged", "status": http.StatusInternalServerError, "request_id": id})
		}()
		next.ServeHTTP(tw, r)
	})
}

type wroteTracker struct {
	http.ResponseWriter
	wrote bool
}

func (t *wroteTracker) WriteHeader(code int) {
	if code >= 200 {
		t.wrote = true
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *wroteTracker) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *wroteTracker) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// ValidQuery refuses a request whose query string does not parse (a bare
// ';' separator, a broken %-escape): Go would silently drop that pair, and
// a dropped bbox means the whole layer instead of an error.
func ValidQuery(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			msg := "the query string does not parse: separate parameters with '&' and percent-encode ';', '%' and other reserved characters in values"
			Write(w, r, log, BadRequest(msg, map[string]any{"reason": err.Error()}))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// BaseURL is the externally visible scheme://host[/prefix] of this server:
// the configured public URL if there is one, else what a reverse proxy
// says in X-Forwarded-Proto/X-Forwarded-Host, else the request's own.
func BaseURL(r *http.Request, publicURL string) string {
	if publicURL != "" {
		return strings.TrimRight(publicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" && !strings.ContainsAny(h, "/\\ @") {
		host = h
	}
	return scheme + "://" + host
}

// firstValue takes the first of a comma-separated header list (the client
// side of a proxy chain).
func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}
