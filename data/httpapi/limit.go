package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Limiter bounds how many requests of one kind run at once, so that one
// kind (deep feature pages, isochrones, uploads) cannot take every database
// connection or core while tiles and /healthz wait. A request that finds no
// free slot within its wait gets a 503 with Retry-After.
type Limiter struct {
	name  string
	slots chan struct{}
	wait  time.Duration
}

// NewLimiter allows n requests of the kind named at once; others wait up to
// wait for a slot. n < 1 is taken as 1.
func NewLimiter(name string, n int, wait time.Duration) *Limiter {
	return &Limiter{name: name, slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// Acquire takes a slot, or fails with a 503 after the wait or when ctx ends.
// The returned function frees the slot. A nil Limiter never waits.
func (l *Limiter) Acquire(ctx context.Context) (func(), error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-t.C:
		return nil, &Error{Status: http.StatusServiceUnavailable, Retry: 1,
			Message: fmt.Sprintf("too many %s requests at once (at most %d run together); retry shortly", l.name, cap(l.slots)),
			Detail:  map[string]any{"limit": cap(l.slots), "kind": l.name}}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Wrap runs h in a slot.
func (l *Limiter) Wrap(h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		release, err := l.Acquire(r.Context())
		if err != nil {
			return err
		}
		defer release()
		return h(w, r)
	}
}
