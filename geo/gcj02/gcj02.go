// Package gcj02 converts between WGS84 and GCJ-02, the obfuscated datum that
// Chinese web maps (AMap/Gaode, DataV, Tencent) publish coordinates in.
//
// The forward transform is the widely published reconstruction of the
// official algorithm (Krasovsky 1940 ellipsoid, polynomial offsets); it is
// accurate to well under a metre against the official implementation. There
// is no closed-form inverse, so ToWGS84 iterates the forward transform until
// it converges (typically 2–4 steps to below 1e-9°, i.e. millimetres).
//
// Outside mainland China GCJ-02 equals WGS84, as in the official service.
package gcj02

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/project"
)

// Krasovsky 1940 ellipsoid, which the GCJ-02 algorithm is defined on.
const (
	semiMajorAxis       = 6378245.0
	eccentricitySquared = 0.00669342162296594323
)

// InChina reports whether a WGS84 point lies in the rough mainland-China box
// where GCJ-02 differs from WGS84. The box is the one used by the reference
// implementations; callers that need the true border should check it themselves.
func InChina(lon, lat float64) bool {
	return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271
}

// FromWGS84 returns the GCJ-02 coordinates of a WGS84 point.
func FromWGS84(p orb.Point) orb.Point {
	lon, lat := p[0], p[1]
	if !InChina(lon, lat) {
		return p
	}
	dLon, dLat := offset(lon, lat)
	return orb.Point{lon + dLon, lat + dLat}
}

// ToWGS84 returns the WGS84 coordinates of a GCJ-02 point: the point whose
// forward transform is p, found by fixed-point iteration.
func ToWGS84(p orb.Point) orb.Point {
	if !InChina(p[0], p[1]) {
		return p
	}
	guess := p
	for i := 0; i < 30; i++ {
		fwd := FromWGS84(guess)
		dx, dy := fwd[0]-p[0], fwd[1]-p[1]
		guess = orb.Point{guess[0] - dx, guess[1] - dy}
		if math.Abs(dx) < 1e-10 && math.Abs(dy) < 1e-10 {
			break
		}
	}
	return guess
}

// offset is the GCJ-02 shift in degrees at a WGS84 point.
func offset(lon, lat float64) (dLon, dLat float64) {
	x, y := lon-105.0, lat-35.0
	dLat = transformLat(x, y)
	dLon = transformLon(x, y)
	radLat := lat / 180.0 * math.Pi
	magic := math.Sin(radLat)
	magic = 1 - eccentricitySquared*magic*magic
	sqrtMagic := math.Sqrt(magic)
	dLat = (dLat * 180.0) / ((semiMajorAxis * (1 - eccentricitySquared)) / (magic * sqrtMagic) * math.Pi)
	dLon = (dLon * 180.0) / (semiMajorAxis / sqrtMagic * math.Cos(radLat) * math.Pi)
	return dLon, dLat
}

func transformLat(x, y float64) float64 {
	r := -100.0 + 2.0*x + 3.0*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(y*math.Pi) + 40.0*math.Sin(y/3.0*math.Pi)) * 2.0 / 3.0
	r += (160.0*math.Sin(y/12.0*math.Pi) + 320*math.Sin(y*math.Pi/30.0)) * 2.0 / 3.0
	return r
}

func transformLon(x, y float64) float64 {
	r := 300.0 + x + 2.0*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(x*math.Pi) + 40.0*math.Sin(x/3.0*math.Pi)) * 2.0 / 3.0
	r += (150.0*math.Sin(x/12.0*math.Pi) + 300.0*math.Sin(x/30.0*math.Pi)) * 2.0 / 3.0
	return r
}

// GeometryToWGS84 converts every vertex of g from GCJ-02 to WGS84, in place
// where g's type allows, and returns the converted geometry.
func GeometryToWGS84(g orb.Geometry) orb.Geometry {
	return project.Geometry(g, ToWGS84)
}

// GeometryFromWGS84 converts every vertex of g from WGS84 to GCJ-02.
func GeometryFromWGS84(g orb.Geometry) orb.Geometry {
	return project.Geometry(g, FromWGS84)
}
