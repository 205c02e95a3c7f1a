package ogcapi

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gusu-gis/gusu/data/layers"
)

// CRS84 is OGC API's default: lon/lat WGS 84, longitude first.
const CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

const epsgPrefix = "http://www.opengis.net/def/crs/EPSG/0/"

// outputCRS is a coordinate system gusu writes features in.
type outputCRS struct {
	URI string
	layers.OutputCRS
}

// supported lists the systems of crs= and bbox-crs=: CRS84, WGS 84 and
// CGCS2000 lon/lat (latitude first, as EPSG orders their axes), the
// CGCS2000 3-degree Gauss-Krüger zones 4513–4554 (northing first, as EPSG
// orders them) and Web Mercator.
func supported() []outputCRS {
	out := []outputCRS{
		{CRS84, layers.OutputCRS{}},
		{epsgPrefix + "4326", layers.OutputCRS{SRID: 4326, SwapAxes: true}},
		{epsgPrefix + "4490", layers.OutputCRS{SRID: 4490, SwapAxes: true}},
		{epsgPrefix + "3857", layers.OutputCRS{SRID: 3857, Precision: 3}},
	}
	for code := 4513; code <= 4554; code++ {
		out = append(out, outputCRS{epsgPrefix + strconv.Itoa(code), layers.OutputCRS{SRID: code, SwapAxes: true, Precision: 3}})
	}
	return out
}

var byURI = func() map[string]outputCRS {
	m := map[string]outputCRS{}
	for _, c := range supported() {
		m[c.URI] = c
	}
	return m
}()

func crsURIs() []string {
	var out []string
	for _, c := range supported() {
		out = append(out, c.URI)
	}
	return out
}

// parseCRS reads a crs or bbox-crs value: the URI OGC API uses, and for
// convenience "EPSG:4549", "urn:ogc:def:crs:EPSG::4549" or "CRS84".
func parseCRS(v string) (outputCRS, error) {
	if v == "" {
		return byURI[CRS84], nil
	}
	uri := strings.TrimSpace(v)
	uri = strings.TrimPrefix(strings.TrimSuffix(uri, ">"), "<")
	switch u := strings.ToUpper(uri); {
	case u == "CRS84" || u == "OGC:CRS84" || u == "URN:OGC:DEF:CRS:OGC:1.3:CRS84":
		uri = CRS84
	case strings.HasPrefix(u, "EPSG:"):
		uri = epsgPrefix + uri[len("EPSG:"):]
	case strings.HasPrefix(u, "URN:OGC:DEF:CRS:EPSG::"):
		uri = epsgPrefix + uri[len("urn:ogc:def:crs:EPSG::"):]
	case strings.HasPrefix(u, "HTTPS://WWW.OPENGIS.NET/"):
		uri = "http://" + uri[len("https://"):]
	}
	if c, ok := byURI[uri]; ok {
		return c, nil
	}
	return outputCRS{}, fmt.Errorf("coordinate system %q is not offered; offered: CRS84, EPSG:4326, EPSG:4490, EPSG:3857 and EPSG:4513 to EPSG:4554 (as %s… URIs)", v, epsgPrefix)
}
