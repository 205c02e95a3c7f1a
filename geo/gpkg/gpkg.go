// Package gpkg reads feature tables from OGC GeoPackage files (.gpkg).
//
// SQLite is read with modernc.org/sqlite (pure Go, read-only). Geometry
// blobs are the GeoPackage header followed by WKB, which go-geom decodes
// whatever its dimensions (XYZ, XYM, XYZM); Z and M are dropped, since gusu
// stores 2D geometry.
package gpkg

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"

	"github.com/paulmach/orb"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/gusu-gis/gusu/geo/crs"
	"github.com/gusu-gis/gusu/geo/feature"
)

// ErrFormat marks files that are not usable GeoPackages.
var ErrFormat = errors.New("malformed GeoPackage")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Reader streams one feature table.
type Reader struct {
	db        *sql.DB
	rows      *sql.Rows
	cols      []string
	geomCol   int
	index     int
	Table     string
	CRS       crs.CRS
	CRSErr    error // why the table's CRS is not known, if it is not
	GeomType  string
	geomName  string
	closeOnce bool
}

// Tables lists the feature tables of the GeoPackage at path, in the order
// of gpkg_contents.
func Tables(path string) ([]string, error) {
	db, err := open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return tables(db)
}

func open(path string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&immutable=1"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open GeoPackage: %w", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('gpkg_contents', 'gpkg_geometry_columns', 'gpkg_spatial_ref_sys')").Scan(&n); err != nil {
		db.Close()
		return nil, formatErr("not an SQLite database (%v)", err)
	}
	if n != 3 {
		db.Close()
		return nil, formatErr("SQLite database without the GeoPackage tables gpkg_contents, gpkg_geometry_columns and gpkg_spatial_ref_sys")
	}
	return db, nil
}

func tables(db *sql.DB) ([]string, error) {
	// Only real tables: a view registered as a feature table may compute
	// anything (a recursive one yields rows without end), and virtual
	// tables run module code.
	rows, err := db.Query(`SELECT c.table_name FROM gpkg_contents c
		JOIN sqlite_master m ON m.name = c.table_name AND m.type = 'table' AND upper(coalesce(m.sql, '')) NOT LIKE 'CREATE VIRTUAL%'
		WHERE c.data_type = 'features' ORDER BY c.rowid`)
	if err != nil {
		return nil, formatErr("read gpkg_contents: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, formatErr("read gpkg_contents: %v", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Open opens table (the first feature table if empty) for reading.
func Open(path, table string) (*Reader, error) {
	db, err := open(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{db: db}
	fail := func(err error) (*Reader, error) { db.Close(); return nil, err }
	names, err := tables(db)
	if err != nil {
		return fail(err)
	}
	if len(names) == 0 {
		return fail(formatErr("no feature tables (only tables listed in gpkg_contents are read, never views)"))
	}
	if table == "" {
		table = names[0]
	} else if !slices.Contains(names, table) {
		return fail(formatErr("no feature table %q (views are not read); tables: %s", table, strings.Join(names, ", ")))
	}
	r.Table = table
	var srsID int
	if err := db.QueryRow("SELECT column_name, geometry_type_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?", table).Scan(&r.geomName, &r.GeomType, &srsID); err != nil {
		return fail(formatErr("table %q has no row in gpkg_geometry_columns", table))
	}
	r.CRS, r.CRSErr = srsOf(db, srsID)
	r.rows, err = db.Query(`SELECT * FROM "` + strings.ReplaceAll(table, `"`, `""`) + `"`)
	if err != nil {
		return fail(formatErr("read table %q: %v", table, err))
	}
	r.cols, _ = r.rows.Columns()
	r.geomCol = -1
	for i, c := range r.cols {
		if strings.EqualFold(c, r.geomName) {
			r.geomCol = i
		}
	}
	if r.geomCol < 0 {
		r.rows.Close()
		return fail(formatErr("table %q has no geometry column %q", table, r.geomName))
	}
	return r, nil
}

// srsOf identifies an srs_id: EPSG by organisation, else from its WKT.
func srsOf(db *sql.DB, id int) (crs.CRS, error) {
	var org sql.NullString
	var code sql.NullInt64
	var def sql.NullString
	if err := db.QueryRow("SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?", id).Scan(&org, &code, &def); err != nil {
		return crs.CRS{}, fmt.Errorf("srs_id %d is not in gpkg_spatial_ref_sys", id)
	}
	if strings.EqualFold(org.String, "EPSG") && code.Int64 > 0 {
		return crs.FromEPSG(int(code.Int64)), nil
	}
	if id <= 0 { // 0: undefined geographic, -1: undefined Cartesian
		return crs.CRS{}, fmt.Errorf("the table's coordinate system is undefined (srs_id %d)", id)
	}
	return crs.FromWKT(def.String)
}

// Next returns the next feature, or io.EOF-like sql.ErrNoRows at the end.
func (r *Reader) Next() (feature.Feature, error) {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return feature.Feature{}, formatErr("read %q: %v", r.Table, err)
		}
		return feature.Feature{}, ErrEnd
	}
	vals := make([]any, len(r.cols))
	ptrs := make([]any, len(r.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return feature.Feature{}, formatErr("read %q row %d: %v", r.Table, r.index, err)
	}
	f := feature.Feature{Index: r.index, Properties: map[string]json.RawMessage{}}
	r.index++
	for i, c := range r.cols {
		if i == r.geomCol {
			continue
		}
		v := vals[i]
		if b, ok := v.([]byte); ok {
			v = string(b) // text stored as BLOB by some writers; binary attributes become strings
		}
		if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			v = nil
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return feature.Feature{}, fmt.Errorf("attribute %q of row %d: %w", c, f.Index, err)
		}
		f.Properties[c] = raw
		f.Order = append(f.Order, c)
	}
	blob, _ := vals[r.geomCol].([]byte)
	g, skip := decodeGeometry(blob)
	if skip == "" {
		skip = feature.Check(g)
	}
	f.Geometry, f.Skip = g, skip
	if skip != "" {
		f.Geometry = nil
	}
	return f, nil
}

// ErrEnd ends a table.
var ErrEnd = errors.New("end of table")

// Close releases the file.
func (r *Reader) Close() error {
	if r.rows != nil {
		r.rows.Close()
	}
	return r.db.Close()
}

// decodeGeometry reads a GeoPackage geometry blob: "GP", version, flags,
// srs_id, an optional envelope, then WKB. It returns the reason a blob is
// unusable instead of an error: one bad row must not fail the file.
func decodeGeometry(b []byte) (orb.Geometry, string) {
	if len(b) == 0 {
		return nil, "null geometry"
	}
	if len(b) < 8 || b[0] != 'G' || b[1] != 'P' {
		return nil, "geometry blob lacks the GeoPackage header"
	}
	flags := b[3]
	if flags&0x10 != 0 {
		return nil, "empty geometry"
	}
	if flags&0x20 != 0 {
		return nil, "extended GeoPackage geometry type (not standard WKB)"
	}
	envelopeBytes := map[byte]int{0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags>>1)&0x07]
	if (flags>>1)&0x07 > 4 {
		return nil, "invalid envelope code in the geometry header"
	}
	start := 8 + envelopeBytes
	if len(b) < start+5 {
		return nil, "truncated geometry blob"
	}
	_ = binary.LittleEndian // header integers are unused beyond their size
	g, err := wkb.Unmarshal(b[start:])
	if err != nil {
		return nil, "unreadable WKB: " + err.Error()
	}
	return toOrb(g)
}

// toOrb flattens a go-geom geometry to orb's 2D types.
func toOrb(g geom.T) (orb.Geometry, string) {
	pt := func(c geom.Coord) orb.Point { return orb.Point{c[0], c[1]} }
	line := func(cs []geom.Coord) orb.LineString {
		out := make(orb.LineString, len(cs))
		for i, c := range cs {
			out[i] = pt(c)
		}
		return out
	}
	poly := func(p *geom.Polygon) orb.Polygon {
		out := make(orb.Polygon, 0, p.NumLinearRings())
		for i := 0; i < p.NumLinearRings(); i++ {
			out = append(out, orb.Ring(line(p.LinearRing(i).Coords())))
		}
		return out
	}
	switch g := g.(type) {
	case *geom.Point:
		if g.Empty() {
			return nil, "empty geometry"
		}
		return pt(g.Coords()), ""
	case *geom.MultiPoint:
		out := make(orb.MultiPoint, 0, g.NumPoints())
		for i := 0; i < g.NumPoints(); i++ {
			out = append(out, pt(g.Point(i).Coords()))
		}
		return out, ""
	case *geom.LineString:
		return line(g.Coords()), ""
	case *geom.MultiLineString:
		out := make(orb.MultiLineString, 0, g.NumLineStrings())
		for i := 0; i < g.NumLineStrings(); i++ {
			out = append(out, line(g.LineString(i).Coords()))
		}
		return out, ""
	case *geom.Polygon:
		return poly(g), ""
	case *geom.MultiPolygon:
		out := make(orb.MultiPolygon, 0, g.NumPolygons())
		for i := 0; i < g.NumPolygons(); i++ {
			out = append(out, poly(g.Polygon(i)))
		}
		return out, ""
	case *geom.GeometryCollection:
		return nil, "GeometryCollection: split it into points, lines or polygons"
	}
	return nil, fmt.Sprintf("unsupported geometry type %T", g)
}
