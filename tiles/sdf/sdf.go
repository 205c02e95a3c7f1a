// Package sdf renders a font's glyphs as signed-distance fields in the
// glyph protocol MapLibre reads (/fonts/{fontstack}/{start}-{end}.pbf), so
// that gusu can serve the glyphs of its labels itself, offline.
//
// The parameters are those of the glyph servers MapLibre was built
// against: 24 px glyphs, a 3 px buffer, distances up to 8 px, 0.25 cutoff.
package sdf

import (
	"fmt"
	"image"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"google.golang.org/protobuf/encoding/protowire"
)

// Glyph protocol constants.
const (
	Size   = 24   // px
	Buffer = 3    // px of distance field around each glyph
	Radius = 8.0  // px of distance the field spans
	Cutoff = 0.25 // share of the range inside the edge
)

// Glyph is one rendered glyph.
type Glyph struct {
	ID                 rune
	Bitmap             []byte // (Width+2*Buffer)×(Height+2*Buffer), empty for blanks
	Width, Height      int
	Left, Top, Advance int
}

// Font renders glyphs of one font face.
type Font struct {
	face   font.Face
	ascent int
}

// Open parses a TrueType/OpenType font.
func Open(data []byte) (*Font, error) {
	f, err := opentype.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: Size, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	return &Font{face: face, ascent: face.Metrics().Ascent.Round()}, nil
}

// Glyph renders r, or reports false if the font has no such glyph.
func (f *Font) Glyph(r rune) (Glyph, bool) {
	adv, ok := f.face.GlyphAdvance(r)
	if !ok {
		return Glyph{}, false
	}
	g := Glyph{ID: r, Advance: adv.Round()}
	dr, mask, mp, _, ok := f.face.Glyph(fixed.P(0, 0), r)
	if !ok || dr.Empty() {
		return g, true // a blank (space): metrics only
	}
	g.Width, g.Height = dr.Dx(), dr.Dy()
	g.Left = dr.Min.X
	// top: from the baseline up to the glyph's top, less the ascent, as
	// MapLibre's shaping expects of server glyphs.
	g.Top = -dr.Min.Y - f.ascent
	g.Bitmap = field(mask, mp, g.Width, g.Height)
	return g, true
}

// field is the signed distance field of the glyph's coverage: for each
// pixel of the buffered box, the distance to the edge (inside positive),
// mapped to a byte with Cutoff of the range inside the edge.
func field(mask image.Image, mp image.Point, w, h int) []byte {
	W, H := w+2*Buffer, h+2*Buffer
	outer := make([]float64, W*H) // squared distance to the nearest inside pixel
	inner := make([]float64, W*H) // squared distance to the nearest outside pixel
	const inf = 1e20
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			a := 0.0
			if gx, gy := x-Buffer, y-Buffer; gx >= 0 && gy >= 0 && gx < w && gy < h {
				_, _, _, A := mask.At(mp.X+gx, mp.Y+gy).RGBA()
				a = float64(A) / 0xffff
			}
			i := y*W + x
			switch {
			case a >= 1:
				outer[i], inner[i] = 0, inf
			case a <= 0:
				outer[i], inner[i] = inf, 0
			default:
				// Antialiased edge: place the edge inside the pixel by coverage.
				d := 0.5 - a
				if d > 0 {
					outer[i], inner[i] = d*d, 0
				} else {
					outer[i], inner[i] = 0, d*d
				}
			}
		}
	}
	edt(outer, W, H)
	edt(inner, W, H)
	out := make([]byte, W*H)
	for i := range out {
		d := math.Sqrt(outer[i]) - math.Sqrt(inner[i]) // outside positive
		v := math.Round(255 - 255*(d/Radius+Cutoff))
		out[i] = byte(math.Max(0, math.Min(255, v)))
	}
	return out
}

// edt is Felzenszwalb and Huttenlocher's exact squared Euclidean distance
// transform, in place, over a W×H grid.
func edt(g []float64, W, H int) {
	n := max(W, H)
	f, z := make([]float64, n), make([]float64, n+1)
	v := make([]int, n)
	d := make([]float64, n)
	for x := 0; x < W; x++ {
		for y := 0; y < H; y++ {
			f[y] = g[y*W+x]
		}
		edt1(f, d, v, z, H)
		for y := 0; y < H; y++ {
			g[y*W+x] = d[y]
		}
	}
	for y := 0; y < H; y++ {
		copy(f, g[y*W:(y+1)*W])
		edt1(f, d, v, z, W)
		copy(g[y*W:(y+1)*W], d[:W])
	}
}

func edt1(f, d []float64, v []int, z []float64, n int) {
	v[0], z[0], z[1] = 0, math.Inf(-1), math.Inf(1)
	k := 0
	for q := 1; q < n; q++ {
		s := ((f[q] + float64(q*q)) - (f[v[k]] + float64(v[k]*v[k]))) / float64(2*q-2*v[k])
		for s <= z[k] {
			k--
			s = ((f[q] + float64(q*q)) - (f[v[k]] + float64(v[k]*v[k]))) / float64(2*q-2*v[k])
		}
		k++
		v[k], z[k], z[k+1] = q, s, math.Inf(1)
	}
	k = 0
	for q := 0; q < n; q++ {
		for z[k+1] < float64(q) {
			k++
		}
		dq := float64(q - v[k])
		d[q] = dq*dq + f[v[k]]
	}
}

// Range encodes the glyphs of [start, start+255] that the font has as one
// glyph-protocol message for fontstack name.
func (f *Font) Range(name string, start int) []byte {
	var stack []byte
	stack = protowire.AppendTag(stack, 1, protowire.BytesType)
	stack = protowire.AppendString(stack, name)
	stack = protowire.AppendTag(stack, 2, protowire.BytesType)
	stack = protowire.AppendString(stack, fmt.Sprintf("%d-%d", start, start+255))
	for r := rune(start); r <= rune(start+255); r++ {
		g, ok := f.Glyph(r)
		if !ok {
			continue
		}
		stack = protowire.AppendTag(stack, 3, protowire.BytesType)
		stack = protowire.AppendBytes(stack, encodeGlyph(g))
	}
	var msg []byte
	msg = protowire.AppendTag(msg, 1, protowire.BytesType)
	return protowire.AppendBytes(msg, stack)
}

func encodeGlyph(g Glyph) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(g.ID))
	if len(g.Bitmap) > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, g.Bitmap)
	}
	for _, f := range []struct {
		num  protowire.Number
		v    int
		sint bool
	}{{3, g.Width, false}, {4, g.Height, false}, {5, g.Left, true}, {6, g.Top, true}, {7, g.Advance, false}} {
		b = protowire.AppendTag(b, f.num, protowire.VarintType)
		if f.sint {
			b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(f.v)))
		} else {
			b = protowire.AppendVarint(b, uint64(f.v))
		}
	}
	return b
}
