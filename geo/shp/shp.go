// Package shp reads ESRI Shapefiles: the .shp geometry stream, the .dbf
// attribute table (with its text encoding) and the .prj/.cpg side files.
//
// Reading streams record by record, so memory stays bounded by the largest
// single record, not by the file. Z and M values are read past and dropped:
// gusu stores 2D geometry. Every structural problem (bad magic number, record
// counts that disagree, truncated records, parts that point outside the
// point array) is an error that names the file and the record.
package shp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// ShapeType is the shape type code from the .shp header and each record.
type ShapeType int32

// Shape types defined by the ESRI Shapefile Technical Description (1998).
const (
	NullShape   ShapeType = 0
	Point       ShapeType = 1
	PolyLine    ShapeType = 3
	Polygon     ShapeType = 5
	MultiPoint  ShapeType = 8
	PointZ      ShapeType = 11
	PolyLineZ   ShapeType = 13
	PolygonZ    ShapeType = 15
	MultiPointZ ShapeType = 18
	PointM      ShapeType = 21
	PolyLineM   ShapeType = 23
	PolygonM    ShapeType = 25
	MultiPointM ShapeType = 28
	MultiPatch  ShapeType = 31
)

// base returns the 2D shape type that t is a Z or M variant of.
func (t ShapeType) base() ShapeType {
	switch t {
	case PointZ, PointM:
		return Point
	case PolyLineZ, PolyLineM:
		return PolyLine
	case PolygonZ, PolygonM:
		return Polygon
	case MultiPointZ, MultiPointM:
		return MultiPoint
	}
	return t
}

func (t ShapeType) String() string {
	switch t {
	case NullShape:
		return "Null"
	case Point:
		return "Point"
	case PolyLine:
		return "PolyLine"
	case Polygon:
		return "Polygon"
	case MultiPoint:
		return "MultiPoint"
	case PointZ:
		return "PointZ"
	case PolyLineZ:
		return "PolyLineZ"
	case PolygonZ:
		return "PolygonZ"
	case MultiPointZ:
		return "MultiPointZ"
	case PointM:
		return "PointM"
	case PolyLineM:
		return "PolyLineM"
	case PolygonM:
		return "PolygonM"
	case MultiPointM:
		return "MultiPointM"
	case MultiPatch:
		return "MultiPatch"
	}
	return fmt.Sprintf("ShapeType(%d)", int32(t))
}

const (
	fileCode      = 9994
	headerBytes   = 100
	recordHeader  = 8
	maxRecordSize = 1 << 28 // 256 MiB: no real record is larger; a bigger length means a corrupt file
)

// ErrFormat marks structural problems in a file, as opposed to I/O errors.
var ErrFormat = errors.New("malformed shapefile")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Header is the .shp file header.
type Header struct {
	ShapeType ShapeType
	// FileLength is the declared length of the .shp file in bytes.
	FileLength int64
	Bound      orb.Bound
}

// GeometryReader streams geometries from a .shp file.
type GeometryReader struct {
	r      *bufio.Reader
	Header Header
	pos    int64 // bytes consumed, to check against FileLength
	n      int   // records read
	buf    []byte
}

// NewGeometryReader reads the .shp header from r.
func NewGeometryReader(r io.Reader) (*GeometryReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var h [headerBytes]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(".shp is shorter than its 100-byte header")
		}
		return nil, fmt.Errorf("read .shp header: %w", err)
	}
	if code := binary.BigEndian.Uint32(h[0:4]); code != fileCode {
		return nil, formatErr(".shp has file code %d, want %d: not a shapefile", code, fileCode)
	}
	if v := binary.LittleEndian.Uint32(h[28:32]); v != 1000 {
		return nil, formatErr(".shp has version %d, want 1000", v)
	}
	st := ShapeType(int32(binary.LittleEndian.Uint32(h[32:36])))
	if st.String() == fmt.Sprintf("ShapeType(%d)", int32(st)) {
		return nil, formatErr(".shp declares unknown shape type %d", int32(st))
	}
	if st == MultiPatch {
		return nil, formatErr(".shp holds MultiPatch (3D surfaces), which gusu does not read")
	}
	return &GeometryReader{
		r: br,
		Header: Header{
			ShapeType:  st,
			FileLength: int64(binary.BigEndian.Uint32(h[24:28])) * 2,
			Bound: orb.Bound{
				Min: orb.Point{readF64(h[36:]), readF64(h[44:])},
				Max: orb.Point{readF64(h[52:]), readF64(h[60:])},
			},
		},
		pos: headerBytes,
	}, nil
}

// Next returns the next record's geometry, nil for a null shape, and io.EOF
// after the last record.
func (g *GeometryReader) Next() (orb.Geometry, error) {
	if g.Header.FileLength > 0 && g.pos >= g.Header.FileLength {
		return nil, io.EOF
	}
	var rh [recordHeader]byte
	n, err := io.ReadFull(g.r, rh[:])
	if n == 0 && errors.Is(err, io.EOF) {
		if g.Header.FileLength > 0 && g.pos < g.Header.FileLength {
			return nil, formatErr(".shp is truncated: header says %d bytes, file ends at %d", g.Header.FileLength, g.pos)
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, g.truncated(err)
	}
	g.n++
	contentLen := int64(binary.BigEndian.Uint32(rh[4:8])) * 2
	if contentLen < 4 || contentLen > maxRecordSize {
		return nil, formatErr(".shp record %d declares content length %d bytes", g.n, contentLen)
	}
	if cap(g.buf) < int(contentLen) {
		g.buf = make([]byte, contentLen)
	}
	buf := g.buf[:contentLen]
	if _, err := io.ReadFull(g.r, buf); err != nil {
		return nil, g.truncated(err)
	}
	g.pos += recordHeader + contentLen
	geom, err := decodeShape(buf, g.Header.ShapeType)
	if err != nil {
		return nil, fmt.Errorf(".shp record %d: %w", g.n, err)
	}
	return geom, nil
}

func (g *GeometryReader) truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(".shp is truncated in record %d", g.n)
	}
	return fmt.Errorf("read .shp record %d: %w", g.n, err)
}

func readF64(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }

// decodeShape decodes one record's content. Records must match the file's
// shape type or be null, as the specification requires.
func decodeShape(b []byte, fileType ShapeType) (orb.Geometry, error) {
	st := ShapeType(int32(binary.LittleEndian.Uint32(b[0:4])))
	if st == NullShape {
		return nil, nil
	}
	if st != fileType {
		return nil, formatErr("shape type %v in a %v file", st, fileType)
	}
	b = b[4:]
	switch st.base() {
	case Point:
		if len(b) < 16 {
			return nil, formatErr("point record is %d bytes, want at least 16", len(b))
		}
		return orb.Point{readF64(b), readF64(b[8:])}, nil
	case MultiPoint:
		if len(b) < 36 {
			return nil, formatErr("multipoint record is %d bytes", len(b))
		}
		np := int(binary.LittleEndian.Uint32(b[32:36]))
		pts, err := readPoints(b[36:], np)
		if err != nil {
			return nil, err
		}
		return orb.MultiPoint(pts), nil
	case PolyLine, Polygon:
		if len(b) < 40 {
			return nil, formatErr("%v record is %d bytes", st, len(b))
		}
		numParts := int(binary.LittleEndian.Uint32(b[32:36]))
		numPoints := int(binary.LittleEndian.Uint32(b[36:40]))
		b = b[40:]
		if numParts < 1 || numParts > len(b)/4 {
			return nil, formatErr("%v record declares %d parts", st, numParts)
		}
		parts := make([]int, numParts)
		for i := range parts {
			parts[i] = int(binary.LittleEndian.Uint32(b[i*4:]))
			if parts[i] < 0 || parts[i] >= numPoints || (i > 0 && parts[i] <= parts[i-1]) || (i == 0 && parts[0] != 0) {
				return nil, formatErr("%v record part %d starts at point %d of %d", st, i, parts[i], numPoints)
			}
		}
		pts, err := readPoints(b[numParts*4:], numPoints)
		if err != nil {
			return nil, err
		}
		if st.base() == PolyLine {
			return polyline(pts, parts), nil
		}
		return polygon(pts, parts)
	}
	return nil, formatErr("unsupported shape type %v", st)
}

func readPoints(b []byte, n int) ([]orb.Point, error) {
	if n < 0 || n > len(b)/16 {
		return nil, formatErr("record declares %d points but holds room for %d", n, len(b)/16)
	}
	pts := make([]orb.Point, n)
	for i := range pts {
		pts[i] = orb.Point{readF64(b[i*16:]), readF64(b[i*16+8:])}
	}
	return pts, nil
}

func splitParts(pts []orb.Point, parts []int) [][]orb.Point {
	out := make([][]orb.Point, len(parts))
	for i, start := range parts {
		end := len(pts)
		if i+1 < len(parts) {
			end = parts[i+1]
		}
		out[i] = pts[start:end]
	}
	return out
}

func polyline(pts []orb.Point, parts []int) orb.Geometry {
	split := splitParts(pts, parts)
	if len(split) == 1 {
		return orb.LineString(split[0])
	}
	mls := make(orb.MultiLineString, len(split))
	for i, p := range split {
		mls[i] = orb.LineString(p)
	}
	return mls
}

// polygon assembles rings into polygons. The specification says outer rings
// run clockwise and holes counter-clockwise; each hole goes to the smallest
// shell that contains it. A "hole" that no shell contains is taken as a shell
// with its orientation wrong, which is what careless writers produce.
func polygon(pts []orb.Point, parts []int) (orb.Geometry, error) {
	var shells, holes []orb.Ring
	for i, p := range splitParts(pts, parts) {
		if len(p) < 4 {
			return nil, formatErr("polygon ring %d has %d points, want at least 4", i, len(p))
		}
		r := orb.Ring(p)
		if !r.Closed() {
			r = append(r, r[0])
		}
		if r.Orientation() == orb.CW {
			shells = append(shells, r)
		} else {
			holes = append(holes, r)
		}
	}
	polys := make([]orb.Polygon, len(shells))
	for i, s := range shells {
		polys[i] = orb.Polygon{s}
	}
	for _, h := range holes {
		best, bestArea := -1, math.Inf(1)
		for i, s := range shells {
			if a := math.Abs(planar.Area(s)); a < bestArea && ringInside(h, s) {
				best, bestArea = i, a
			}
		}
		if best < 0 {
			polys = append(polys, orb.Polygon{h.Clone()})
			continue
		}
		polys[best] = append(polys[best], h)
	}
	// Store shells counter-clockwise and holes clockwise, as GeoJSON (RFC 7946) prefers.
	for _, p := range polys {
		for j := range p {
			want := orb.CCW
			if j > 0 {
				want = orb.CW
			}
			if p[j].Orientation() != want {
				p[j].Reverse()
			}
		}
	}
	if len(polys) == 1 {
		return polys[0], nil
	}
	return orb.MultiPolygon(polys), nil
}

// ringInside reports whether inner lies inside outer. Valid holes lie wholly
// inside their shell, so one vertex inside (or on the boundary) is enough.
func ringInside(inner, outer orb.Ring) bool {
	for _, p := range inner {
		if planar.RingContains(outer, p) {
			return true
		}
	}
	return false
}
