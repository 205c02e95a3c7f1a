package tiles

import (
	"context"
	"sync"
)

// flightGroup runs one call per key for all concurrent callers, like
// x/sync/singleflight, but cancels the call's context when every caller
// has gone away: a tile nobody waits for is not worth a database query.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	cancel  context.CancelFunc
	waiters int
	done    chan struct{}
	val     *Tile
	err     error
}

// do runs fn once for key. fn's context is detached from any one caller's
// and canceled when the last caller leaves.
func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (*Tile, error)) (*Tile, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	c, ok := g.calls[key]
	if !ok {
		callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &flightCall{cancel: cancel, done: make(chan struct{})}
		g.calls[key] = c
		go func() {
			c.val, c.err = fn(callCtx)
			cancel()
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(c.done)
		}()
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			c.cancel()
		}
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}
