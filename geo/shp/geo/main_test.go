package shpcheck

import (
	"archive/zip"
	"fmt"
	"github.com/gusu-gis/gusu/geo/shp"
	"io"
	"testing"
)

func TestDump(t *testing.T) {
	for _, n := range []string{"HighSpeedRail", "HighSpeedRailStation", "CHN_rails", "ChinaMajorLakes"} {
		z, err := zip.OpenReader("/work/shared/data/raw/yeshan-geographic-data/china/" + n + ".zip")
		if err != nil {
			t.Fatal(err)
		}
		files, _ := shp.FindShapefiles(z)
		fmt.Println(n, files)
		r, err := shp.Open(z, files[0], shp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(r.ShapeType(), r.NumRecords, r.CPG, r.Fields(), r.PRJ[:40])
		for i := 0; ; i++ {
			f, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if i < 3 {
				fmt.Println(f.Properties, f.Geometry.GeoJSONType())
			}
		}
	}
}
