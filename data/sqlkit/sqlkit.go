// Package sqlkit is gusu's one SQL toolkit: statements with bound values,
// identifier and literal quoting, and the attribute-object builder that
// both the features API and the tiles use. It builds text; it never
// touches a database.
package sqlkit

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Query is SQL with its bound arguments.
type Query struct {
	SQL  string
	Args []any
}

// Ident quotes an identifier, qualified when given several parts
// (schema, table, column).
func Ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// Literal quotes s as an SQL string literal. Only for names gusu itself
// validated (column names as JSON keys); user values are bound with Args.
func Literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Args collects bound values and hands out their placeholders.
type Args []any

// Add binds v and returns its placeholder ("$n").
func (a *Args) Add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// Pair is one key of a JSON object and the SQL expression of its value.
type Pair struct {
	Key  string
	Expr string
}

// maxPairsPerCall keeps each jsonb_build_object under PostgreSQL's limit of
// 100 function arguments (two per pair).
const maxPairsPerCall = 50

// JSONObject is a jsonb expression of pairs with NULL values left out:
// jsonb_build_object calls of at most 50 pairs each, concatenated, so a
// layer may have any number of attributes.
func JSONObject(pairs []Pair) string {
	if len(pairs) == 0 {
		return "'{}'::jsonb"
	}
	return "jsonb_strip_nulls(" + JSONObjectWithNulls(pairs) + ")"
}

// JSONObjectWithNulls is JSONObject keeping NULL values as JSON nulls, so
// that every object has every key (feature servers' clients read a
// layer's schema from its first features).
func JSONObjectWithNulls(pairs []Pair) string {
	if len(pairs) == 0 {
		return "'{}'::jsonb"
	}
	var chunks []string
	for start := 0; start < len(pairs); start += maxPairsPerCall {
		var b strings.Builder
		for i, p := range pairs[start:min(start+maxPairsPerCall, len(pairs))] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(Literal(p.Key))
			b.WriteString(", ")
			b.WriteString(p.Expr)
		}
		chunks = append(chunks, "jsonb_build_object("+b.String()+")")
	}
	return strings.Join(chunks, " || ")
}
