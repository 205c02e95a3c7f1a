package upload

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// BenchResult is what `gusu bench upload` prints.
type BenchResult struct {
	Features     int
	FileBytes    int64
	Commit       time.Duration // upload.Run: parse, stage, build, check, commit
	Notified     time.Duration // until the layer-change notice (tiles invalidated) arrived
	PeakRSSBytes int64
}

// Bench writes a GeoJSON file of n synthetic parcels (a grid over the
// region; not real data) into dir, uploads it into a new layer and reports
// the time to commit, the time until every instance is told, and this
// process's peak resident memory.
func Bench(ctx context.Context, pool *pgxpool.Pool, n int, dir string, out io.Writer) (*BenchResult, error) {
	path := filepath.Join(dir, "synthetic-parcels.geojson")
	size, err := writeParcels(path, n)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	name := fmt.Sprintf("bench_upload_%d", time.Now().UnixNano()%1e9)
	if err := CreateLayer(ctx, pool, LayerSpec{Name: name, Title: "SYNTHETIC upload benchmark", Kind: "other"}, "bench"); err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN gusu_layer_changed"); err != nil {
		return nil, err
	}
	res := &BenchResult{Features: n, FileBytes: size}
	start := time.Now()
	rep, err := Run(ctx, pool, path, Options{Layer: name, FileName: filepath.Base(path), User: "bench"})
	if err != nil {
		return nil, err
	}
	res.Commit = time.Since(start)
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		note, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("wait for the change notice: %w", err)
		}
		var msg struct {
			Layer   string `json:"layer"`
			Version int64  `json:"version"`
		}
		if json.Unmarshal([]byte(note.Payload), &msg) == nil && msg.Layer == name && msg.Version >= rep.LayerVersion {
			break
		}
	}
	res.Notified = time.Since(start)
	res.PeakRSSBytes = peakRSS()
	fmt.Fprintf(out, "upload of %d synthetic polygons (%.1f MiB GeoJSON): committed in %.2f s, tiles invalidated after %.2f s, peak RSS %.0f MiB (features written %d)\n",
		n, float64(size)/(1<<20), res.Commit.Seconds(), res.Notified.Seconds(), float64(res.PeakRSSBytes)/(1<<20), rep.FeaturesWritten)
	return res, nil
}

func writeParcels(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(`{"type":"FeatureCollection","features":[`)
	cols := 400
	for i := 0; i < n; i++ {
		x := 119.95 + float64(i%cols)*0.0035
		y := 30.80 + float64(i/cols)*0.005
		if i > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, `{"type":"Feature","properties":{"parcel_no":%d,"land_use":"%s","note":"SYNTHETIC"},"geometry":{"type":"Polygon","coordinates":[[[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f]]]}}`,
			i, []string{"residential", "industrial", "green"}[i%3], x, y, x+0.003, y, x+0.003, y+0.004, x, y+0.004, x, y)
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// peakRSS reads this process's peak resident set (VmHWM) from /proc.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
