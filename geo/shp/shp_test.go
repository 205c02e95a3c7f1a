package shp

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"
	"golang.org/x/text/encoding/simplifiedchinese"
)

const yeshan = "../../../shared/data/raw/yeshan-geographic-data/china/"

func readAll(t *testing.T, r *Reader) []Feature {
	t.Helper()
	var out []Feature
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("record %d: %v", len(out), err)
		}
		out = append(out, f)
	}
}

// Real files: the yeshan archives are ArcGIS-written shapefiles with Z
// values (PolyLineZ, PointZ), UTF-8 .cpg files and Chinese attributes.
func TestReadsRealArchives(t *testing.T) {
	cases := map[string]struct {
		records int
		shape   ShapeType
		check   func(t *testing.T, fs []Feature)
	}{
		"HighSpeedRail": {79, PolyLineZ, func(t *testing.T, fs []Feature) {
			if fs[1].Properties["line_chin"] != "杭甬线" {
				t.Errorf("record 1 line_chin = %q, want 杭甬线", fs[1].Properties["line_chin"])
			}
			if _, ok := fs[2].Geometry.(orb.MultiLineString); !ok {
				t.Errorf("record 2 is %T, want a MultiLineString (it has several parts)", fs[2].Geometry)
			}
		}},
		"HighSpeedRailStation": {748, PointZ, func(t *testing.T, fs []Feature) {
			for _, f := range fs {
				if f.Properties["NAME_ZH"] == "苏州北" {
					p := f.Geometry.(orb.Point)
					if math.Abs(p[0]-120.64) > 0.05 || math.Abs(p[1]-31.42) > 0.05 {
						t.Errorf("苏州北 at %v, expected near 120.64,31.42", p)
					}
					return
				}
			}
			t.Error("no station 苏州北")
		}},
		"ChinaMajorLakes": {35, Polygon, func(t *testing.T, fs []Feature) {
			for _, f := range fs {
				if f.Properties["Name1"] == "Lake Tai" || f.Properties["Name1"] == "Taihu Lake" || f.Properties["Name1"] == "Tai Lake" {
					return
				}
			}
			var names []any
			for _, f := range fs {
				names = append(names, f.Properties["Name1"])
			}
			t.Logf("lake names: %v", names)
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			z, err := zip.OpenReader(yeshan + name + ".zip")
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			files, err := FindShapefiles(z)
			if err != nil || len(files) != 1 {
				t.Fatalf("FindShapefiles = %v, %v", files, err)
			}
			r, err := Open(z, files[0], Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.ShapeType() != c.shape {
				t.Errorf("shape type %v, want %v", r.ShapeType(), c.shape)
			}
			fs := readAll(t, r)
			if len(fs) != c.records {
				t.Fatalf("read %d features, want %d", len(fs), c.records)
			}
			c.check(t, fs)
		})
	}
}

// --- a tiny writer, so tests can build exact files and break them on purpose ---

type testShape struct {
	typ   ShapeType
	parts [][]orb.Point
}

func buildShp(shapeType ShapeType, shapes []testShape) (shp, shx []byte) {
	var recs bytes.Buffer
	var index []int
	for i, s := range shapes {
		var c bytes.Buffer
		le := func(v any) { binary.Write(&c, binary.LittleEndian, v) }
		le(int32(s.typ))
		switch s.typ {
		case Point:
			le(s.parts[0][0][0])
			le(s.parts[0][0][1])
		case PolyLine, Polygon:
			le([4]float64{})
			n := 0
			for _, p := range s.parts {
				n += len(p)
			}
			le(int32(len(s.parts)))
			le(int32(n))
			start := 0
			for _, p := range s.parts {
				le(int32(start))
				start += len(p)
			}
			for _, p := range s.parts {
				for _, pt := range p {
					le(pt[0])
					le(pt[1])
				}
			}
		}
		index = append(index, 50+recs.Len()/2)
		binary.Write(&recs, binary.BigEndian, int32(i+1))
		binary.Write(&recs, binary.BigEndian, int32(c.Len()/2))
		recs.Write(c.Bytes())
	}
	header := func(total int) []byte {
		h := make([]byte, 100)
		binary.BigEndian.PutUint32(h[0:], fileCode)
		binary.BigEndian.PutUint32(h[24:], uint32(total/2))
		binary.LittleEndian.PutUint32(h[28:], 1000)
		binary.LittleEndian.PutUint32(h[32:], uint32(shapeType))
		return h
	}
	shp = append(header(100+recs.Len()), recs.Bytes()...)
	shx = header(100 + 8*len(shapes))
	for i, s := range shapes {
		_ = s
		var e [8]byte
		binary.BigEndian.PutUint32(e[0:], uint32(index[i]))
		shx = append(shx, e[:]...)
	}
	return shp, shx
}

func buildDbf(name []byte, width int, values [][]byte) []byte {
	var b bytes.Buffer
	h := make([]byte, 32)
	h[0] = 0x03
	binary.LittleEndian.PutUint32(h[4:], uint32(len(values)))
	binary.LittleEndian.PutUint16(h[8:], 32+32+1)
	binary.LittleEndian.PutUint16(h[10:], uint16(1+width))
	b.Write(h)
	d := make([]byte, 32)
	copy(d, name)
	d[11] = 'C'
	d[16] = byte(width)
	b.Write(d)
	b.WriteByte(0x0D)
	for _, v := range values {
		b.WriteByte(' ')
		rec := bytes.Repeat([]byte{' '}, width)
		copy(rec, v)
		b.Write(rec)
	}
	b.WriteByte(0x1A)
	return b.Bytes()
}

func gbk(s string) []byte {
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(err)
	}
	return b
}

var square = []orb.Point{{0, 0}, {0, 10}, {10, 10}, {10, 0}, {0, 0}}    // clockwise: a shell
var hole = []orb.Point{{2, 2}, {4, 2}, {4, 4}, {2, 4}, {2, 2}}          // counter-clockwise: a hole
var farShell = []orb.Point{{20, 0}, {20, 5}, {25, 5}, {25, 0}, {20, 0}} // clockwise

func TestPolygonRingAssembly(t *testing.T) {
	shpB, shxB := buildShp(Polygon, []testShape{
		{Polygon, [][]orb.Point{square, hole}},
		{Polygon, [][]orb.Point{square, farShell}},
	})
	fsys := fstest.MapFS{
		"a.shp": {Data: shpB}, "a.shx": {Data: shxB},
		"a.dbf": {Data: buildDbf([]byte("NAME"), 10, [][]byte{[]byte("one"), []byte("two")})},
	}
	r, err := Open(fsys, "a.shp", Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := readAll(t, r)
	p, ok := fs[0].Geometry.(orb.Polygon)
	if !ok || len(p) != 2 {
		t.Fatalf("shell+hole read as %#v, want a Polygon with one hole", fs[0].Geometry)
	}
	if p[0].Orientation() != orb.CCW || p[1].Orientation() != orb.CW {
		t.Errorf("orientation shell %v hole %v, want RFC 7946 CCW/CW", p[0].Orientation(), p[1].Orientation())
	}
	if mp, ok := fs[1].Geometry.(orb.MultiPolygon); !ok || len(mp) != 2 {
		t.Fatalf("two shells read as %#v, want a MultiPolygon of 2", fs[1].Geometry)
	}
}

func TestDBFEncodings(t *testing.T) {
	shpB, shxB := buildShp(Point, []testShape{{Point, [][]orb.Point{{{120.6, 31.3}}}}})
	cases := map[string]struct {
		field []byte
		value []byte
		cpg   string
		want  string
	}{
		"GBK without .cpg is detected":   {gbk("名称"), gbk("苏州工业园区"), "", "苏州工业园区"},
		"UTF-8 without .cpg stays UTF-8": {[]byte("名称"), []byte("姑苏区"), "", "姑苏区"},
		".cpg 936 means GBK":             {gbk("名称"), gbk("吴江区"), "936", "吴江区"},
		".cpg UTF-8":                     {[]byte("名称"), []byte("昆山市"), "UTF-8", "昆山市"},
		".cpg GB18030":                   {gbk("名称"), gbk("太仓市"), "GB18030", "太仓市"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"b.shp": {Data: shpB}, "b.shx": {Data: shxB},
				"b.dbf": {Data: buildDbf(c.field, 20, [][]byte{c.value})},
			}
			if c.cpg != "" {
				fsys["b.cpg"] = &fstest.MapFile{Data: []byte(c.cpg)}
			}
			r, err := Open(fsys, "b.shp", Options{})
			if err != nil {
				t.Fatal(err)
			}
			fs := readAll(t, r)
			if got := fs[0].Properties["名称"]; got != c.want {
				t.Fatalf("value = %q, want %q (fields %v)", got, c.want, r.Fields())
			}
		})
	}
}

func TestMalformedFilesAreErrors(t *testing.T) {
	shpB, shxB := buildShp(Polygon, []testShape{{Polygon, [][]orb.Point{square}}})
	dbfB := buildDbf([]byte("NAME"), 10, [][]byte{[]byte("x")})
	dbf2 := buildDbf([]byte("NAME"), 10, [][]byte{[]byte("x"), []byte("y")})
	badMagic := append([]byte{}, shpB...)
	badMagic[3] = 0
	badParts := append([]byte{}, shpB...)
	binary.LittleEndian.PutUint32(badParts[100+8+4+32:], 999) // numParts
	cases := map[string]fstest.MapFS{
		"missing .dbf":           {"c.shp": {Data: shpB}, "c.shx": {Data: shxB}},
		"missing .shx":           {"c.shp": {Data: shpB}, "c.dbf": {Data: dbfB}},
		"wrong magic number":     {"c.shp": {Data: badMagic}, "c.shx": {Data: shxB}, "c.dbf": {Data: dbfB}},
		"truncated .shp":         {"c.shp": {Data: shpB[:len(shpB)-10]}, "c.shx": {Data: shxB}, "c.dbf": {Data: dbfB}},
		"record counts disagree": {"c.shp": {Data: shpB}, "c.shx": {Data: shxB}, "c.dbf": {Data: dbf2}},
		"absurd part count":      {"c.shp": {Data: badParts}, "c.shx": {Data: shxB}, "c.dbf": {Data: dbfB}},
		"empty .shp":             {"c.shp": {Data: nil}, "c.shx": {Data: shxB}, "c.dbf": {Data: dbfB}},
		"truncated .dbf":         {"c.shp": {Data: shpB}, "c.shx": {Data: shxB}, "c.dbf": {Data: dbfB[:40]}},
	}
	for name, fsys := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := Open(fsys, "c.shp", Options{})
			if err == nil {
				for {
					if _, err = r.Next(); err != nil {
						break
					}
				}
				if errors.Is(err, io.EOF) {
					err = nil
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %q does not wrap ErrFormat", err)
			}
		})
	}
}
