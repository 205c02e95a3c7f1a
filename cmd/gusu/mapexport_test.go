package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func exportMap(t *testing.T, base string, q url.Values) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(base + "/api/maps/export?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func poppler(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// blocks averages an image's luminance over a grid of cells, so two renders
// compare by what they show rather than by anti-aliasing.
func blocks(img image.Image, nx, ny int) []float64 {
	b := img.Bounds()
	out := make([]float64, nx*ny)
	counts := make([]float64, nx*ny)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			k := (y-b.Min.Y)*ny/b.Dy()*nx + (x-b.Min.X)*nx/b.Dx()
			out[k] += (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			counts[k]++
		}
	}
	for i := range out {
		out[i] /= counts[i]
	}
	return out
}

// A PDF of the whole city at A3 and 300 dpi: an A3 page, whose title,
// legend entries, scale bar and credits are text, and which pdftoppm
// renders to what the PNG export (the on-screen render of the same page)
// shows, within a tolerance.
func TestMapExportPDFAndPNG(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("map export needs chromium (scripts/test.sh installs it)")
	}
	if _, err := exec.LookPath("pdfinfo"); err != nil {
		t.Fatal("pdfinfo is missing: apt-get install poppler-utils (scripts/test.sh installs it)")
	}
	root := t.TempDir()
	g := startGusu(t, "--data-dir", filepath.Join(root, "var"))
	title := "苏州市城镇体系与轨道交通（测试）"
	q := url.Values{"format": {"pdf"}, "paper": {"A3"}, "orientation": {"landscape"}, "dpi": {"300"}, "title": {title}}
	status, ctype, pdf := exportMap(t, g.url, q)
	if status != 200 || ctype != "application/pdf" {
		t.Fatalf("pdf: %d %s %.300s", status, ctype, pdf)
	}
	dir := t.TempDir()
	pdfPath := filepath.Join(dir, "map.pdf")
	os.WriteFile(pdfPath, pdf, 0o600)
	info := poppler(t, "pdfinfo", pdfPath)
	if !strings.Contains(info, "(A3)") || !regexp.MustCompile(`Pages:\s+1\n`).MatchString(info) || !strings.Contains(info, "Title:           "+title) {
		t.Fatalf("pdfinfo:\n%s", info)
	}
	text := poppler(t, "pdftotext", pdfPath, "-")
	for _, want := range []string{title, "城镇体系", "中心城区", "生态保护红线", "高速铁路", "1号线", "km", "数据日期", "town_system v", "OpenStreetMap"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q:\n%s", want, text)
		}
	}
	// The map image is at the requested resolution.
	images := poppler(t, "pdfimages", "-list", pdfPath)
	if m := regexp.MustCompile(`image\s+(\d+)\s+(\d+).*?\s(\d+)\s+(\d+)\s+\S+\s+\S+\s*$`).FindStringSubmatch(strings.Split(strings.TrimSpace(images), "\n")[2]); m == nil {
		t.Fatalf("no map image in the PDF:\n%s", images)
	} else if ppi, _ := strconv.Atoi(m[3]); ppi < 290 {
		t.Errorf("map image at %d ppi, want 300:\n%s", ppi, images)
	}
	// The same page as PNG at 100 dpi against pdftoppm's rendering of the PDF at 100 dpi.
	q.Set("format", "png")
	q.Set("dpi", "100")
	status, ctype, pngBytes := exportMap(t, g.url, q)
	if status != 200 || ctype != "image/png" {
		t.Fatalf("png: %d %s", status, ctype)
	}
	screen, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	poppler(t, "pdftoppm", "-r", "100", "-png", "-singlefile", pdfPath, filepath.Join(dir, "page"))
	f, err := os.Open(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	printed, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sb, pb := screen.Bounds(), printed.Bounds()
	if math.Abs(float64(sb.Dx()-pb.Dx())) > 3 || math.Abs(float64(sb.Dy()-pb.Dy())) > 3 || sb.Dx() < 1600 {
		t.Fatalf("PNG %v, PDF rendered %v (A3 at 100 dpi is 1654 × 1169)", sb, pb)
	}
	a, b := blocks(screen, 48, 32), blocks(printed, 48, 32)
	diff, darkest, lightest := 0.0, 255.0, 0.0
	for i := range a {
		diff += math.Abs(a[i] - b[i])
		darkest, lightest = math.Min(darkest, a[i]), math.Max(lightest, a[i])
	}
	diff /= float64(len(a))
	t.Logf("A3 300 dpi PDF %d KB; PNG vs rendered PDF: mean block difference %.2f of 255 (blocks %.0f–%.0f)", len(pdf)/1024, diff, darkest, lightest)
	if diff > 6 || lightest-darkest < 60 {
		t.Errorf("the PDF does not show what the PNG shows: mean difference %.2f (tolerance 6), contrast %.0f", diff, lightest-darkest)
	}
	os.MkdirAll(filepath.Join("..", "..", ".artifacts", "browser"), 0o755)
	os.WriteFile(filepath.Join("..", "..", ".artifacts", "browser", "export-a3.pdf"), pdf, 0o644)
	os.WriteFile(filepath.Join("..", "..", ".artifacts", "browser", "export-a3.png"), pngBytes, 0o644)

	// A custom width, portrait, English.
	status, _, pdf = exportMap(t, g.url, url.Values{"width_mm": {"200"}, "orientation": {"portrait"}, "lang": {"en"}, "layers": {"town_system,rail_lines"}, "dpi": {"150"}})
	if status != 200 {
		t.Fatalf("custom width: %d %.200s", status, pdf)
	}
	os.WriteFile(pdfPath, pdf, 0o600)
	info = poppler(t, "pdfinfo", pdfPath)
	// 200 × 282.8 mm is 566.9 × 801.7 points (Chromium rounds to its pixels).
	if m := regexp.MustCompile(`Page size:\s+([\d.]+) x ([\d.]+)`).FindStringSubmatch(info); m == nil {
		t.Errorf("no page size:\n%s", info)
	} else if w, _ := strconv.ParseFloat(m[1], 64); math.Abs(w-566.9) > 1.5 {
		t.Errorf("custom page width %v pt, want 566.9", w)
	} else if h, _ := strconv.ParseFloat(m[2], 64); math.Abs(h-801.7) > 1.5 {
		t.Errorf("custom page height %v pt, want 801.7", h)
	}
	text = poppler(t, "pdftotext", pdfPath, "-")
	if !strings.Contains(text, "Central city") || strings.Contains(text, "red lines") {
		t.Errorf("the English legend of town_system and rail_lines only:\n%s", text)
	}

	// gusu export map: the same page from the command line, beside the running server.
	var stdout bytes.Buffer
	cli := filepath.Join(dir, "cli.png")
	if err := run(context.Background(), []string{"export", "map", "--data-dir", filepath.Join(root, "var"), "--paper", "A4", "--dpi", "100", "--title", title, cli}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(cli); err != nil {
		t.Fatal(err)
	} else if img, err := png.Decode(f); err != nil || math.Abs(float64(img.Bounds().Dx()-1169)) > 1 || math.Abs(float64(img.Bounds().Dy()-827)) > 1 {
		t.Fatalf("gusu export map wrote %v (%v), want A4 landscape at 100 dpi, 1169 × 827", img.Bounds(), err)
	}
	if err := run(context.Background(), []string{"export", "map", "--data-dir", filepath.Join(root, "var"), "--paper", "A9", cli}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("--paper A9: %v, want a usage error", err)
	}

	for name, c := range map[string]struct {
		q      url.Values
		status int
	}{
		"bad format":      {url.Values{"format": {"svg"}}, 400},
		"bad paper":       {url.Values{"paper": {"A7"}}, 400},
		"paper and width": {url.Values{"paper": {"A4"}, "width_mm": {"300"}}, 400},
		"dpi too high":    {url.Values{"dpi": {"1200"}}, 400},
		"too many pixels": {url.Values{"paper": {"A0"}, "dpi": {"600"}}, 400},
		"bad bbox":        {url.Values{"bbox": {"121,31,120,32"}}, 400},
		"unknown layer":   {url.Values{"layers": {"town_system,nope"}}, 404},
		"unknown param":   {url.Values{"scale": {"1:50000"}}, 400},
	} {
		if status, _, body := exportMap(t, g.url, c.q); status != c.status || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %.200s, want %d with a JSON error", name, status, body, c.status)
		}
	}
}
