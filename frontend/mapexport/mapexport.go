// Package mapexport renders maps for reports: the viewer's own print
// layout (/print: the planning style, title, legend of the layers shown,
// scale bar, north arrow, attribution, data date and layer versions) in
// headless Chromium, at the paper's size and resolution, as PDF or PNG.
//
// Drawing with the viewer's code makes the export look like the screen.
// The map itself is WebGL, so in the PDF it is an image at the requested
// dpi; the title, legend, scale bar and credits are vector text.
package mapexport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/paulmach/orb"
)

// Papers are the named paper sizes, portrait, in mm.
var Papers = map[string][2]float64{"A4": {210, 297}, "A3": {297, 420}, "A2": {420, 594}, "A1": {594, 841}, "A0": {841, 1189}}

// Limits of one export.
const (
	MaxMillimetres = 1189.0
	MinMillimetres = 50.0
	MinDPI, MaxDPI = 72, 600
	// MaxPixels bounds the rendered image (A1 at 300 dpi is 70 MP).
	MaxPixels   = 72e6
	maxTitleLen = 200
)

// Options describe one map.
type Options struct {
	Layers      []string
	BBox        *orb.Bound // nil: the layers' extent
	Format      string     // pdf or png
	WidthMM     float64
	HeightMM    float64
	DPI         int
	Title       string
	Lang        string // zh or en
	PaperName   string // A4, A3, … or "custom", for file names and reports
	Orientation string
	PixelsW     int
	PixelsH     int
}

// BadRequest is an option a caller got wrong.
type BadRequest struct{ Msg string }

func (e *BadRequest) Error() string { return e.Msg }

func bad(format string, args ...any) error { return &BadRequest{fmt.Sprintf(format, args...)} }

// Parse reads options from a query string, as GET /api/maps/export takes
// them: layers, bbox, format, paper (or width_mm [and height_mm]),
// orientation, dpi, title, lang.
func Parse(q url.Values) (Options, error) {
	known := map[string]bool{"layers": true, "bbox": true, "format": true, "paper": true, "width_mm": true, "height_mm": true,
		"orientation": true, "dpi": true, "title": true, "lang": true, "token": true}
	for k := range q {
		if !known[k] {
			return Options{}, bad("unknown parameter %q; known: layers, bbox, format, paper, width_mm, height_mm, orientation, dpi, title, lang", k)
		}
	}
	o := Options{Format: strings.ToLower(q.Get("format")), Title: q.Get("title"), Lang: q.Get("lang"), Orientation: q.Get("orientation")}
	for _, n := range strings.Split(q.Get("layers"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.Layers = append(o.Layers, n)
		}
	}
	if len(o.Layers) == 0 {
		o.Layers = []string{"town_system", "eco_redlines", "rail_lines", "rail_stations"}
	}
	if len(o.Layers) > 20 {
		return o, bad("at most 20 layers, got %d", len(o.Layers))
	}
	switch o.Format {
	case "":
		o.Format = "pdf"
	case "pdf", "png":
	default:
		return o, bad("format must be pdf or png, not %q", o.Format)
	}
	switch o.Lang {
	case "":
		o.Lang = "zh"
	case "zh", "en":
	default:
		return o, bad("lang must be zh or en, not %q", o.Lang)
	}
	if len([]rune(o.Title)) > maxTitleLen {
		return o, bad("title is longer than %d characters", maxTitleLen)
	}
	if b := q.Get("bbox"); b != "" {
		parts := strings.Split(b, ",")
		var v [4]float64
		ok := len(parts) == 4
		for i := 0; ok && i < 4; i++ {
			x, err := strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
			ok = err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
			v[i] = x
		}
		if !ok || v[0] >= v[2] || v[1] >= v[3] || v[0] < -180 || v[2] > 180 || v[1] < -85 || v[3] > 85 {
			return o, bad("bbox must be minlon,minlat,maxlon,maxlat in degrees (min < max), got %q", b)
		}
		o.BBox = &orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}
	}
	switch o.Orientation {
	case "":
		o.Orientation = "landscape"
	case "landscape", "portrait":
	default:
		return o, bad("orientation must be landscape or portrait, not %q", o.Orientation)
	}
	num := func(name string) (float64, error) {
		x, err := strconv.ParseFloat(q.Get(name), 64)
		if err != nil || x < MinMillimetres || x > MaxMillimetres {
			return 0, bad("%s must be a number of millimetres from %g to %g, got %q", name, MinMillimetres, MaxMillimetres, q.Get(name))
		}
		return x, nil
	}
	switch {
	case q.Has("width_mm") && q.Has("paper"):
		return o, bad("give paper or width_mm, not both")
	case q.Has("width_mm"):
		w, err := num("width_mm")
		if err != nil {
			return o, err
		}
		h := w / math.Sqrt2 // the A series' proportion
		if o.Orientation == "portrait" {
			h = w * math.Sqrt2
		}
		if q.Has("height_mm") {
			if h, err = num("height_mm"); err != nil {
				return o, err
			}
		}
		o.WidthMM, o.HeightMM, o.PaperName = w, math.Min(h, MaxMillimetres), "custom"
	default:
		if q.Has("height_mm") {
			return o, bad("height_mm goes with width_mm")
		}
		name := strings.ToUpper(q.Get("paper"))
		if name == "" {
			name = "A4"
		}
		p, ok := Papers[name]
		if !ok {
			return o, bad("paper must be A4, A3, A2, A1 or A0 (or give width_mm), not %q", q.Get("paper"))
		}
		o.WidthMM, o.HeightMM, o.PaperName = p[0], p[1], name
		if o.Orientation == "landscape" {
			o.WidthMM, o.HeightMM = p[1], p[0]
		}
	}
	o.DPI = 150
	if v := q.Get("dpi"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d < MinDPI || d > MaxDPI {
			return o, bad("dpi must be a whole number from %d to %d, got %q", MinDPI, MaxDPI, v)
		}
		o.DPI = d
	}
	o.PixelsW = int(math.Round(o.WidthMM / 25.4 * float64(o.DPI)))
	o.PixelsH = int(math.Round(o.HeightMM / 25.4 * float64(o.DPI)))
	if float64(o.PixelsW)*float64(o.PixelsH) > MaxPixels {
		return o, bad("%s at %d dpi is %d × %d pixels, over the limit of %.0f million: lower the dpi or the paper size", o.PaperName, o.DPI, o.PixelsW, o.PixelsH, MaxPixels/1e6)
	}
	return o, nil
}

// Query is the print page's query string for o.
func (o Options) Query() string {
	q := url.Values{"layers": {strings.Join(o.Layers, ",")}, "lang": {o.Lang}}
	if o.Title != "" {
		q.Set("title", o.Title)
	}
	if o.BBox != nil {
		q.Set("bbox", fmt.Sprintf("%g,%g,%g,%g", o.BBox.Min[0], o.BBox.Min[1], o.BBox.Max[0], o.BBox.Max[1]))
	}
	return q.Encode()
}

// ErrNoBrowser is an exporter with no Chromium to run.
var ErrNoBrowser = errors.New("map export needs Chromium: apt-get install chromium fonts-noto-cjk (or set --chromium)")

// Exporter renders maps with a headless Chromium.
type Exporter struct {
	// Chromium is the browser to run; empty: chromium, chromium-browser or
	// google-chrome on the PATH.
	Chromium string
	// Timeout bounds one export (default 90 s).
	Timeout time.Duration
}

func (e *Exporter) browser() (string, error) {
	if e.Chromium != "" {
		if _, err := os.Stat(e.Chromium); err != nil {
			return "", fmt.Errorf("%w (%v)", ErrNoBrowser, err)
		}
		return e.Chromium, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Available reports whether a browser is there to export with.
func (e *Exporter) Available() error {
	_, err := e.browser()
	return err
}

// Export renders o from the gusu at base (e.g. http://127.0.0.1:8080): the
// print page at the paper's size in CSS pixels (96 per inch), drawn at the
// requested dpi, then printed to PDF or captured as PNG. headers go with
// every request the page makes (a token for private layers).
func (e *Exporter) Export(ctx context.Context, base string, o Options, headers map[string]any) ([]byte, error) {
	bin, err := e.browser()
	if err != nil {
		return nil, err
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("font-render-hinting", "none"), chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("enable-unsafe-swiftshader", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// The viewport is the paper in CSS pixels (96 per inch); the device
	// scale draws it at the requested dpi.
	cssW := int64(math.Round(o.WidthMM / 25.4 * 96))
	cssH := int64(math.Round(o.HeightMM / 25.4 * 96))
	steps := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(cssW, cssH, chromedp.EmulateScale(float64(o.DPI)/96))}
	if len(headers) > 0 {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers(headers)})
			return err
		}))
	}
	steps = append(steps,
		chromedp.Navigate(strings.TrimRight(base, "/")+"/print?"+o.Query()),
		chromedp.WaitVisible(`body[data-ready="1"], body[data-error]`))
	if err := chromedp.Do(bctx, steps...); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("render the map: took longer than %v: %w", timeout, ctx.Err())
		}
		return nil, fmt.Errorf("render the map: %w", err)
	}
	failed, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.dataset.error || ""`))
	if err != nil {
		return nil, fmt.Errorf("render the map: %w", err)
	}
	if failed != "" {
		return nil, bad("%s", failed)
	}
	var out []byte
	if o.Format == "png" {
		out, err = chromedp.Run(bctx, chromedp.CaptureScreenshot())
	} else {
		out, err = chromedp.Run(bctx, chromedp.PrintToPDF(
			chromedp.PDFPaper(chromedp.PaperSize{Width: o.WidthMM / 25.4, Height: o.HeightMM / 25.4}),
			chromedp.PDFMargin(0), chromedp.PDFPrintBackground()))
	}
	if err != nil {
		return nil, fmt.Errorf("write the %s: %w", o.Format, err)
	}
	return out, nil
}
