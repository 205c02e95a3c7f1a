package shp

import (
	"errors"
	"io"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"
)

// FuzzShapefile feeds arbitrary .shp, .shx and .dbf bytes to the reader:
// it may refuse them, but must never panic or loop.
func FuzzShapefile(f *testing.F) {
	shpB, shxB := buildShp(Polygon, []testShape{{Polygon, [][]orb.Point{square, hole}}})
	dbfB := buildDbf([]byte("NAME"), 10, [][]byte{gbk("苏州")})
	f.Add(shpB, shxB, dbfB)
	pB, pX := buildShp(Point, []testShape{{Point, [][]orb.Point{{{120.6, 31.3}}}}})
	f.Add(pB, pX, dbfB)
	f.Fuzz(func(t *testing.T, shp, shx, dbf []byte) {
		fsys := fstest.MapFS{"f.shp": {Data: shp}, "f.shx": {Data: shx}, "f.dbf": {Data: dbf}}
		r, err := Open(fsys, "f.shp", Options{})
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 100000; i++ {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFormat) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
		}
		t.Fatal("reader did not end")
	})
}
