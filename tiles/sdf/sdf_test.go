package sdf

import (
	"bytes"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

const notoSans = "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"

func openFont(t *testing.T) *Font {
	data, err := os.ReadFile(notoSans)
	if err != nil {
		t.Skip("Noto Sans is not installed (apt-get install fonts-noto-core)")
	}
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A glyph's field is inside (≥ the 0.75 edge MapLibre draws at) in the
// middle of a stroke and outside at the buffer's corner, and its metrics
// put capital letters above the baseline by about the cap height.
func TestGlyphField(t *testing.T) {
	f := openFont(t)
	g, ok := f.Glyph('I')
	if !ok || g.Width < 1 || g.Height < 10 || len(g.Bitmap) != (g.Width+2*Buffer)*(g.Height+2*Buffer) {
		t.Fatalf("I: %+v (%d bytes)", g, len(g.Bitmap))
	}
	W := g.Width + 2*Buffer
	mid := g.Bitmap[(Buffer+g.Height/2)*W+Buffer+g.Width/2]
	corner := g.Bitmap[0]
	if mid < 192 || corner >= 192 {
		t.Fatalf("inside %d, outside %d: the field is not signed around 192", mid, corner)
	}
	// Capitals stand ~17 px (cap height at 24 px) above the baseline;
	// top is measured from the ascent.
	if capTop := g.Top + f.ascent; capTop < 15 || capTop > 19 {
		t.Fatalf("I rises %d px above the baseline, want about 17", capTop)
	}
	space, ok := f.Glyph(' ')
	if !ok || len(space.Bitmap) != 0 || space.Advance < 4 {
		t.Fatalf("space: %+v", space)
	}
	if _, ok := f.Glyph('苏'); ok {
		t.Log("Noto Sans has 苏 (unexpected, harmless)")
	}
}

// The committed glyph ranges are what `gusu data glyphs` makes from the
// font: rendering is deterministic.
func TestRangeIsReproducible(t *testing.T) {
	f := openFont(t)
	committed, err := os.ReadFile("../fonts/noto-sans-regular/0-255.pbf")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Range("Noto Sans Regular", 0); !bytes.Equal(got, committed) {
		t.Fatal("tiles/fonts/noto-sans-regular/0-255.pbf differs from a fresh rendering: run gusu data glyphs")
	}
	// It decodes as the glyph protocol: one fontstack with glyphs.
	num, typ, n := protowire.ConsumeTag(committed)
	if num != 1 || typ != protowire.BytesType || n < 0 {
		t.Fatal("not a glyphs message")
	}
}
