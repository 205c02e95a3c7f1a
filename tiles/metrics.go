package tiles

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the tile server's Prometheus collectors. A nil *Metrics
// records nothing.
type Metrics struct {
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	queryLatency   prometheus.Histogram
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter
	cacheEvictions prometheus.Counter
	reduced        prometheus.Counter
	reg            prometheus.Registerer
}

// NewMetrics registers the tile metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gusu_tile_requests_total", Help: "Tile requests by layer (a composite counts for each of its layers; private layers as \"private\") and HTTP status.",
		}, []string{"layer", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gusu_tile_request_seconds", Help: "Tile request latency by layer (as gusu_tile_requests_total) and HTTP status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"layer", "status"}),
		queryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gusu_tile_query_seconds", Help: "Database time per tile query.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		cacheHits:      prometheus.NewCounter(prometheus.CounterOpts{Name: "gusu_tile_cache_hits_total", Help: "Tiles served from the cache."}),
		cacheMisses:    prometheus.NewCounter(prometheus.CounterOpts{Name: "gusu_tile_cache_misses_total", Help: "Tiles not in the cache."}),
		cacheEvictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "gusu_tile_cache_evictions_total", Help: "Tiles evicted to stay within the cache size."}),
		reduced:        prometheus.NewCounter(prometheus.CounterOpts{Name: "gusu_tile_reduced_total", Help: "Tiles over the size budget, made again with fewer attributes and coarser coordinates."}),
		reg:            reg,
	}
	reg.MustRegister(m.requests, m.latency, m.queryLatency, m.cacheHits, m.cacheMisses, m.cacheEvictions, m.reduced)
	return m
}

func (m *Metrics) watchCache(c *Cache) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gusu_tile_cache_bytes", Help: "Bytes held by the tile cache."},
			func() float64 { _, b := c.Stats(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gusu_tile_cache_entries", Help: "Tiles held by the tile cache."},
			func() float64 { n, _ := c.Stats(); return float64(n) }),
	)
}

func (m *Metrics) cacheHit() {
	if m != nil {
		m.cacheHits.Inc()
	}
}

func (m *Metrics) cacheMiss() {
	if m != nil {
		m.cacheMisses.Inc()
	}
}

func (m *Metrics) observeQuery(d time.Duration) {
	if m != nil {
		m.queryLatency.Observe(d.Seconds())
	}
}

func (m *Metrics) observeRequest(layer, status string, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(layer, status).Inc()
		m.latency.WithLabelValues(layer, status).Observe(d.Seconds())
	}
}
