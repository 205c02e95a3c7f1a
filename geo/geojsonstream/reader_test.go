package geojsonstream

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string) ([]Feature, *Reader, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in))
	var out []Feature
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		out = append(out, f)
	}
}

func TestFeatureCollectionWithLegacyCRS(t *testing.T) {
	in := `{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4549"}},
	 "features":[
	  {"type":"Feature","properties":{"名称":"姑苏区","code":320508123456789012},"geometry":{"type":"Point","coordinates":[512345.5,3465432.1]}},
	  {"type":"Feature","properties":null,"geometry":null},
	  {"type":"Feature","properties":{"a":1},"geometry":{"type":"Polygon","coordinates":[]}},
	  {"type":"Feature","properties":{},"geometry":{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]}]}},
	  {"type":"Feature","properties":{},"geometry":{"type":"Hexagon","coordinates":[1,2]}}
	 ]}`
	fs, r, err := readAll(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if r.CRSName() != "urn:ogc:def:crs:EPSG::4549" {
		t.Errorf("crs %q", r.CRSName())
	}
	if len(fs) != 5 {
		t.Fatalf("%d features", len(fs))
	}
	if fs[0].Skip != "" || string(fs[0].Properties["code"]) != "320508123456789012" || string(fs[0].Properties["名称"]) != `"姑苏区"` {
		t.Errorf("feature 0: %+v (long codes must keep every digit)", fs[0])
	}
	for i, want := range []string{"", "null geometry", "empty geometry", "GeometryCollection", "unreadable geometry"} {
		if !strings.Contains(fs[i].Skip, want) || (want == "" && fs[i].Skip != "") {
			t.Errorf("feature %d skip %q, want %q", i, fs[i].Skip, want)
		}
	}
}

func TestCRSAfterFeaturesAndSingleFeature(t *testing.T) {
	_, r, err := readAll(t, `{"features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,2]}}],"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:4490"}}}`)
	if err != nil || r.CRSName() != "EPSG:4490" {
		t.Fatalf("crs after features: %q, %v", r.CRSName(), err)
	}
	fs, _, err := readAll(t, `{"type":"Feature","geometry":{"type":"LineString","coordinates":[[120,31],[121,32]]},"properties":{"name":"沪通"}}`)
	if err != nil || len(fs) != 1 || fs[0].Skip != "" || string(fs[0].Properties["name"]) != `"沪通"` {
		t.Fatalf("single feature: %+v %v", fs, err)
	}
}

func TestMalformedFiles(t *testing.T) {
	for name, in := range map[string]string{
		"empty file":         ``,
		"not JSON":           `this is not json`,
		"array at top level": `[1,2,3]`,
		"truncated":          `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{}}`,
		"features not array": `{"type":"FeatureCollection","features":{}}`,
		"no features":        `{"type":"FeatureCollection","features":[]}`,
		"a bare geometry":    `{"type":"Point","coordinates":[1,2]}`,
		"no type":            `{"foo":1}`,
		"garbage after":      `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{}}]} xyz`,
		"bad crs member":     `{"type":"FeatureCollection","crs":"EPSG:4326","features":[]}`,
		"huge number":        `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1e999,2]},"properties":{}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			fs, _, err := readAll(t, in)
			if err == nil {
				skipped := len(fs) > 0 && fs[0].Skip != ""
				if !skipped {
					t.Fatalf("accepted: %+v", fs)
				}
				return
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"a":"b"}}]}`)
	f.Add(`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"properties":null}`)
	f.Add(`{"crs":{"type":"name","properties":{"name":"EPSG:4549"}},"type":"FeatureCollection","features":[]}`)
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader(in))
		for i := 0; i < 10000; i++ {
			f, err := r.Next()
			if err != nil {
				return
			}
			if f.Skip == "" && f.Geometry == nil {
				t.Fatalf("usable feature without geometry: %+v", f)
			}
		}
	})
}

func TestByteOrderMark(t *testing.T) {
	fs, _, err := readAll(t, "\xef\xbb\xbf"+`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"名称":"木渎"},"geometry":{"type":"Point","coordinates":[120.5,31.2]}}]}`)
	if err != nil || len(fs) != 1 || fs[0].Skip != "" {
		t.Fatalf("GeoJSON with a BOM: %+v, %v", fs, err)
	}
}
