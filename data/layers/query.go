package layers

import (
	"fmt"
	"sort"
	"strings"

	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/sqlkit"
)

// Query is SQL with its bound arguments, built without touching a database.
type Query = sqlkit.Query

// FeatureParams select features for the features endpoint.
type FeatureParams struct {
	// BBox filters by intersection with a lon/lat box; nil means no filter.
	BBox  *orb.Bound
	Limit int
	// After starts the page after this feature id (keyset paging: as cheap
	// on the last page as on the first). Nil: from the first feature.
	After *int64
	// Offset skips features (cost grows with it; kept for old clients and
	// bounded by the API).
	Offset int
	// ID selects one feature; nil: all that match.
	ID *int64
	// Equal filters by attribute: the column's text equals the value.
	// Column names must be the layer's (the caller checks).
	Equal map[string]string
	// Output is the coordinate system of the geometries; the zero value is
	// lon/lat WGS 84 as stored.
	Output OutputCRS
	// BBoxSRID is the coordinate system of BBox (0: lon/lat, 4326); its
	// axes are in x/y (easting/longitude first) order.
	BBoxSRID int
	// KeepNulls writes NULL attributes as nulls instead of leaving them out.
	KeepNulls bool
}

// OutputCRS says how geometries are written: reprojected to SRID (0:
// stored lon/lat), axes swapped for systems whose authority puts latitude
// or northing first, and to how many decimals.
type OutputCRS struct {
	SRID      int
	SwapAxes  bool
	Precision int
}

func (o OutputCRS) geometry(col string) string {
	g := col
	if o.SRID != 0 && o.SRID != 4326 {
		g = fmt.Sprintf("ST_Transform(%s, %d)", g, o.SRID)
	}
	if o.SwapAxes {
		g = "ST_FlipCoordinates(" + g + ")"
	}
	prec := o.Precision
	if prec == 0 {
		prec = 7
	}
	return fmt.Sprintf("ST_AsGeoJSON(%s, %d)", g, prec)
}

// propertiesSQL builds a jsonb expression of the layer's attributes. Extra
// geometry columns (such as a town's seat) become GeoJSON objects instead
// of hex EWKB. alias qualifies the columns.
func propertiesSQL(l *Layer, alias string, keepNulls bool) string {
	pairs := make([]sqlkit.Pair, 0, len(l.Columns))
	for _, c := range l.Columns {
		expr := alias + "." + sqlkit.Ident(c.Name)
		if c.IsGeometry() {
			expr = "ST_AsGeoJSON(" + expr + ", 7)::jsonb"
		}
		pairs = append(pairs, sqlkit.Pair{Key: c.Name, Expr: expr})
	}
	if keepNulls {
		return sqlkit.JSONObjectWithNulls(pairs)
	}
	return sqlkit.JSONObject(pairs)
}

// FeaturesQuery selects one page of a layer's features as rows of
// (id, geometry as GeoJSON text, properties as jsonb text). Features are
// ordered by id so that pages are stable.
func FeaturesQuery(l *Layer, p FeatureParams) Query {
	var args sqlkit.Args
	var where []string
	if p.BBox != nil {
		srid := p.BBoxSRID
		if srid == 0 {
			srid = 4326
		}
		env := fmt.Sprintf("ST_MakeEnvelope(%s, %s, %s, %s, %d)", args.Add(p.BBox.Min[0]), args.Add(p.BBox.Min[1]), args.Add(p.BBox.Max[0]), args.Add(p.BBox.Max[1]), srid)
		if srid != 4326 {
			// A projected box becomes a lon/lat polygon (densified, so its
			// curved edges are followed) for the index and the test.
			env = fmt.Sprintf("ST_Transform(ST_Segmentize(%s, (ST_XMax(%[1]s) - ST_XMin(%[1]s)) / 32), 4326)", env)
		}
		where = append(where, "t.geom && "+env+" AND ST_Intersects(t.geom, "+env+")")
	}
	if p.After != nil {
		where = append(where, "t.id > "+args.Add(*p.After))
	}
	if p.ID != nil {
		where = append(where, "t.id = "+args.Add(*p.ID))
	}
	cols := make([]string, 0, len(p.Equal))
	for c := range p.Equal {
		cols = append(cols, c)
	}
	sort.Strings(cols) // stable SQL text for the same request
	for _, c := range cols {
		where = append(where, "t."+sqlkit.Ident(c)+"::text = "+args.Add(p.Equal[c]))
	}
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	sql := fmt.Sprintf(`SELECT t.id, %s, %s::text FROM %s AS t %s ORDER BY t.id LIMIT %s`,
		p.Output.geometry("t.geom"), propertiesSQL(l, "t", p.KeepNulls), sqlkit.Ident(l.Table), cond, args.Add(p.Limit))
	if p.Offset > 0 {
		sql += " OFFSET " + args.Add(p.Offset)
	}
	return Query{SQL: sql, Args: args}
}

// OutsideQuery is a frame half a degree around a layer's polygons with the
// polygons cut out (one feature; none when the layer has no polygons),
// simplified to about 10 m.
func OutsideQuery(l *Layer) Query {
	return Query{SQL: fmt.Sprintf(`WITH u AS (SELECT ST_Union(t.geom) AS g FROM %s AS t WHERE GeometryType(t.geom) IN ('POLYGON', 'MULTIPOLYGON'))
		SELECT 0::bigint, ST_AsGeoJSON(ST_SimplifyPreserveTopology(ST_Difference(ST_Expand(ST_Envelope(g), 0.5), g), 0.0001), 5), '{}'
		FROM u WHERE g IS NOT NULL`, sqlkit.Ident(l.Table))}
}

// StatsQuery counts a layer's features and measures their extent.
func StatsQuery(l *Layer) Query {
	return Query{SQL: fmt.Sprintf(
		`SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM %s) AS s`,
		sqlkit.Ident(l.Table))}
}

// LabelPointsQuery selects one label point per polygon feature of l — the
// centre of its largest inscribed circle, so the label sits well inside
// even a concave or many-part unit — with its attributes, as rows of (id,
// point as GeoJSON text, properties as jsonb text).
func LabelPointsQuery(l *Layer, limit int) Query {
	var args sqlkit.Args
	return Query{SQL: fmt.Sprintf(`SELECT t.id, ST_AsGeoJSON((ST_MaximumInscribedCircle(t.geom)).center, 6), %s::text FROM %s AS t
		WHERE GeometryType(t.geom) IN ('POLYGON', 'MULTIPOLYGON') ORDER BY t.id LIMIT %s`,
		propertiesSQL(l, "t", false), sqlkit.Ident(l.Table), args.Add(limit)), Args: args}
}
