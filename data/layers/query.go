package layers

import (
	"fmt"
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
}

// propertiesSQL builds a jsonb expression of the layer's attributes. Extra
// geometry columns (such as a town's seat) become GeoJSON objects instead
// of hex EWKB. alias qualifies the columns.
func propertiesSQL(l *Layer, alias string) string {
	pairs := make([]sqlkit.Pair, 0, len(l.Columns))
	for _, c := range l.Columns {
		expr := alias + "." + sqlkit.Ident(c.Name)
		if c.IsGeometry() {
			expr = "ST_AsGeoJSON(" + expr + ", 7)::jsonb"
		}
		pairs = append(pairs, sqlkit.Pair{Key: c.Name, Expr: expr})
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
		env := fmt.Sprintf("ST_MakeEnvelope(%s, %s, %s, %s, 4326)", args.Add(p.BBox.Min[0]), args.Add(p.BBox.Min[1]), args.Add(p.BBox.Max[0]), args.Add(p.BBox.Max[1]))
		where = append(where, "t.geom && "+env+" AND ST_Intersects(t.geom, "+env+")")
	}
	if p.After != nil {
		where = append(where, "t.id > "+args.Add(*p.After))
	}
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	sql := fmt.Sprintf(`SELECT t.id, ST_AsGeoJSON(t.geom, 7), %s::text FROM %s AS t %s ORDER BY t.id LIMIT %s`,
		propertiesSQL(l, "t"), sqlkit.Ident(l.Table), cond, args.Add(p.Limit))
	if p.Offset > 0 {
		sql += " OFFSET " + args.Add(p.Offset)
	}
	return Query{SQL: sql, Args: args}
}

// StatsQuery counts a layer's features and measures their extent.
func StatsQuery(l *Layer) Query {
	return Query{SQL: fmt.Sprintf(
		`SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM %s) AS s`,
		sqlkit.Ident(l.Table))}
}
