package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gusu-gis/gusu/data/build"
	"github.com/gusu-gis/gusu/tiles"
	"github.com/gusu-gis/gusu/tiles/sdf"
)

func cmdDataBuild(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := fs.String("raw", "../shared/data/raw", "the raw sources (shared/data/raw)")
	curated := fs.String("curated", "data/curated", "small cited tables with no raw file")
	out := fs.String("out", "data/suzhou", "where to write the built dataset")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ds, err := build.Build(build.Options{Raw: *raw, Curated: *curated})
	if err != nil {
		return fmt.Errorf("build dataset: %w", err)
	}
	if err := ds.Write(*out); err != nil {
		return fmt.Errorf("write dataset: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s: %d town-system units, %d red-line polygons, %d rail lines, %d rail stations\n",
		*out, len(ds.TownSystem.Features), len(ds.RedLines.Features), len(ds.RailLines.Features), len(ds.RailStations.Features))
	return nil
}

// glyphRanges are the 256-codepoint ranges gusu serves from its own font:
// Latin with the pinyin tone marks, Greek and Cyrillic, punctuation and
// letterlike symbols. CJK is drawn by the browser's own fonts
// (localIdeographFontFamily), which keeps the download small.
var glyphRanges = []int{0, 256, 512, 768, 1024, 8192, 8448}

// cmdDataGlyphs is `gusu data glyphs --font F --out DIR`: the label
// font's glyph ranges as signed-distance fields (scripts/build-glyphs.sh
// runs it with Noto Sans from Debian's fonts-noto-core).
func cmdDataGlyphs(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data glyphs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fontPath := fs.String("font", "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf", "the TrueType font (apt-get install fonts-noto-core)")
	name := fs.String("name", tiles.LabelFont, "the fontstack name the style asks for")
	out := fs.String("out", "tiles/fonts/"+tiles.FontDir(tiles.LabelFont), "where to write {start}-{end}.pbf")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*fontPath)
	if err != nil {
		return fmt.Errorf("read the font: %w (apt-get install fonts-noto-core)", err)
	}
	f, err := sdf.Open(data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	total := 0
	for _, start := range glyphRanges {
		b := f.Range(*name, start)
		p := filepath.Join(*out, fmt.Sprintf("%d-%d.pbf", start, start+255))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		total += len(b)
	}
	fmt.Fprintf(stdout, "wrote %d glyph ranges of %s to %s (%d KiB)\n", len(glyphRanges), *name, *out, total>>10)
	return nil
}
