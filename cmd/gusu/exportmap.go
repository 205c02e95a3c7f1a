package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/gusu-gis/gusu/frontend/mapexport"
)

// cmdExportMap is `gusu export map [options] OUT.pdf|OUT.png`: the map
// GET /api/maps/export draws, from a gusu started for the purpose on
// loopback (or attached to the running one's database), for batch reports.
func cmdExportMap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export map", flag.ContinueOnError)
	layerList := fs.String("layers", "", "comma-separated layers (default: the town system, red lines, rail lines and stations)")
	bbox := fs.String("bbox", "", "minlon,minlat,maxlon,maxlat (default: the layers' extent)")
	paper := fs.String("paper", "", "A4, A3, A2, A1 or A0 (default A4)")
	width := fs.Float64("width-mm", 0, "a custom paper width in mm instead of --paper")
	orientation := fs.String("orientation", "landscape", "landscape or portrait")
	dpi := fs.Int("dpi", 300, "resolution of the map image")
	title := fs.String("title", "", "the map's title")
	lang := fs.String("lang", "zh", "zh or en")
	cfg, fs, err := parseConfigWith("export map", args, stderr, map[string]bool{"data-dir": true, "database-url": true, "log-format": true, "log-level": true, "chromium": true}, fs)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give one output file, e.g. suzhou.pdf or suzhou.png", errUsage)
	}
	out := fs.Arg(0)
	format := "pdf"
	if ext := fileExt(out); ext == "png" {
		format = "png"
	} else if ext != "pdf" {
		return fmt.Errorf("%w: the output file must end in .pdf or .png", errUsage)
	}
	q := url.Values{"format": {format}, "orientation": {*orientation}, "dpi": {strconv.Itoa(*dpi)}, "lang": {*lang}}
	for k, v := range map[string]string{"layers": *layerList, "bbox": *bbox, "paper": *paper, "title": *title} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *width > 0 {
		q.Set("width_mm", strconv.FormatFloat(*width, 'f', -1, 64))
	}
	opts, err := mapexport.Parse(q)
	var br *mapexport.BadRequest
	if errors.As(err, &br) {
		return fmt.Errorf("%w: %s", errUsage, br.Msg)
	}
	exporter := &mapexport.Exporter{Chromium: cfg.Chromium}
	if err := exporter.Available(); err != nil {
		return err
	}
	log := cfg.logger(stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	// A server of our own on loopback: the print page and its tiles come
	// from it, exactly as the live server draws them.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := newServer(cfg, log, db)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.serve(sctx, ln, time.Now()) }()
	defer func() { stop(); <-done }()
	for s.loopbackURL() == "" {
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
	for deadline := time.Now().Add(30 * time.Second); !s.registry.Synced(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the layer registry did not start listening")
		}
	}
	for _, name := range opts.Layers {
		if _, err := s.registry.Get(ctx, name); err != nil {
			return fmt.Errorf("%w: no layer named %q", errUsage, name)
		}
	}
	b, err := exporter.Export(ctx, s.loopbackURL(), opts, nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s %s, %d dpi, %d KB\n", out, opts.PaperName, opts.Orientation, opts.DPI, len(b)/1024)
	return nil
}

func fileExt(name string) string {
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			return name[i+1:]
		}
	}
	return ""
}
