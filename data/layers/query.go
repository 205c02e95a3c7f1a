package layers

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// Query is SQL with its bound arguments, built without touching a database.
type Query struct {
	SQL  string
	Args []any
}

// FeatureParams select features for the features endpoint.
type FeatureParams struct {
	// BBox filters by intersection with a lon/lat box; nil means no filter.
	BBox   *orb.Bound
	Limit  int
	Offset int
}

// propertiesSQL builds a jsonb expression of the layer's attributes. Extra
// geometry columns (such as a town's seat) become GeoJSON objects instead
// of hex EWKB. alias qualifies the columns.
func propertiesSQL(l *Layer, alias string) string {
	var b strings.Builder
	b.WriteString("jsonb_strip_nulls(jsonb_build_object(")
	first := true
	for _, c := range l.Columns {
		if !first {
			b.WriteString(", ")
		}
		first = false
		col := alias + "." + pgx.Identifier{c.Name}.Sanitize()
		fmt.Fprintf(&b, "'%s', ", strings.ReplaceAll(c.Name, "'", "''"))
		if c.IsGeometry() {
			fmt.Fprintf(&b, "ST_AsGeoJSON(%s, 7)::jsonb", col)
		} else {
			b.WriteString(col)
		}
	}
	b.WriteString("))")
	if len(l.Columns) == 0 {
		return "'{}'::jsonb"
	}
	return b.String()
}

// FeaturesQuery selects one page of a layer's features as rows of
// (id, geometry as GeoJSON text, properties as jsonb text). Features are
// ordered by id so that pages are stable.
func FeaturesQuery(l *Layer, p FeatureParams) Query {
	table := pgx.Identifier{l.Table}.Sanitize()
	var where string
	var args []any
	if p.BBox != nil {
		args = append(args, p.BBox.Min[0], p.BBox.Min[1], p.BBox.Max[0], p.BBox.Max[1])
		where = "WHERE t.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) AND ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))"
	}
	args = append(args, p.Limit, p.Offset)
	sql := fmt.Sprintf(`SELECT t.id, ST_AsGeoJSON(t.geom, 7), %s::text FROM %s AS t %s ORDER BY t.id LIMIT $%d OFFSET $%d`,
		propertiesSQL(l, "t"), table, where, len(args)-1, len(args))
	return Query{SQL: sql, Args: args}
}

// StatsQuery counts a layer's features and measures their extent.
func StatsQuery(l *Layer) Query {
	return Query{SQL: fmt.Sprintf(
		`SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM %s) AS s`,
		pgx.Identifier{l.Table}.Sanitize())}
}
