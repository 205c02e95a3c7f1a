// Package purge tells a CDN or caching proxy that a layer changed: on
// every new layer version, one gusu instance (whichever claims it first in
// the database) POSTs to the configured hook the URLs and surrogate key of
// what is now stale. Tiles also carry Surrogate-Key / Cache-Tag headers
// (layer:NAME), for CDNs that purge by tag.
package purge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/layers"
)

// Notice is the hook's JSON body.
type Notice struct {
	Layer        string   `json:"layer"`
	Version      int64    `json:"version"`
	SurrogateKey string   `json:"surrogate_key"`
	URLs         []string `json:"urls"` // prefixes: a purge-by-prefix removes everything below them
	At           string   `json:"at"`
}

// Hook posts notices to URL.
type Hook struct {
	URL       string
	Pool      *pgxpool.Pool
	Registry  *layers.Registry
	PublicURL string
	Log       *slog.Logger
	Client    *http.Client

	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
}

// Start subscribes to layer changes and sends notices until ctx ends.
func (h *Hook) Start(ctx context.Context) {
	h.pending, h.wake = map[string]bool{}, make(chan struct{}, 1)
	if h.Client == nil {
		h.Client = &http.Client{Timeout: 10 * time.Second}
	}
	h.Registry.OnChange(func(layer string) {
		if layer == "" {
			return // a reconnect, not a change
		}
		h.mu.Lock()
		h.pending[layer] = true
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
	})
	go h.run(ctx)
}

func (h *Hook) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		h.mu.Lock()
		layersChanged := h.pending
		h.pending = map[string]bool{}
		h.mu.Unlock()
		for name := range layersChanged {
			if err := h.send(ctx, name); err != nil && ctx.Err() == nil {
				h.Log.Warn("purge hook failed", "layer", name, "error", err)
			}
		}
	}
}

// send claims the layer's current version and posts its notice, with
// three tries.
func (h *Hook) send(ctx context.Context, name string) error {
	l, err := h.Registry.Get(ctx, name)
	if err != nil {
		return nil // deleted: its URLs answer 404 now, nothing to refresh
	}
	tag, err := h.Pool.Exec(ctx, `INSERT INTO gusu_purges (layer, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`, l.Name, l.Version)
	if err != nil {
		return fmt.Errorf("claim the purge: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil // another instance sends it
	}
	_, _ = h.Pool.Exec(ctx, `DELETE FROM gusu_purges WHERE claimed_at < now() - interval '7 days'`)
	base := h.PublicURL
	n := url.PathEscape(l.Name)
	body, _ := json.Marshal(Notice{Layer: l.Name, Version: l.Version, SurrogateKey: "layer:" + l.Name, At: time.Now().UTC().Format(time.RFC3339),
		URLs: []string{base + "/tiles/" + n + "/", base + "/tiles/" + n + ".json", base + "/api/layers/" + n, base + "/collections/" + n}})
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.Client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode < 300 {
			h.Log.Info("purge hook told", "layer", l.Name, "version", l.Version)
			return nil
		}
		last = fmt.Errorf("the hook answered %d", resp.StatusCode)
	}
	return last
}
