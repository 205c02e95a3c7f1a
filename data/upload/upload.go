// Package upload puts GIS staff's files into layers: atomically, versioned,
// validated, and checked against the ecological red lines.
//
// One upload is one database transaction on one connection:
//
//  1. the file's features stream (pgx CopyFrom, memory bounded by one
//     feature) into a temporary staging table as WKB plus jsonb attributes;
//  2. the coordinate system is settled (parameter, file, or plausible
//     lon/lat) and PostGIS reprojects to EPSG:4326;
//  3. invalid polygons are repaired (or the upload rejected), features with
//     impossible coordinates are skipped, attribute types are inferred;
//  4. a new table holds the new version; the report (counts, bounds, area,
//     diff against the previous version, red-line overlaps) is computed;
//  5. gusu_layers switches to the new table, which bumps the layer's
//     version and tells every gusu instance (NOTIFY).
//
// Any failure, or the server dying, rolls the transaction back: the
// previous version stays current and nothing of the upload remains.
package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/gusu-gis/gusu/data/audit"
	"github.com/gusu-gis/gusu/geo/crs"
	"github.com/gusu-gis/gusu/geo/feature"
	"github.com/gusu-gis/gusu/geo/gcj02"
)

// Kind classifies upload errors for the HTTP layer.
type Kind int

// Error kinds.
const (
	BadInput    Kind = iota + 1 // 400: the file or a parameter is wrong
	Unsupported                 // 415: not a format gusu reads
	Rejected                    // 422: on_invalid=reject and invalid geometries
	NotFound                    // 404: unknown layer or version
	Conflict                    // 409: e.g. the layer exists already
)

// Error is an upload problem the client can act on.
type Error struct {
	Kind   Kind
	Msg    string
	Detail any
}

func (e *Error) Error() string { return e.Msg }

func badInput(msg string) *Error { return &Error{Kind: BadInput, Msg: msg} }

// Options describe one upload.
type Options struct {
	Layer    string
	FileName string
	// Append adds the file's features to the current ones instead of replacing them.
	Append bool
	// CRS overrides the file's coordinate system ("EPSG:4549", "gcj02").
	CRS string
	// Reject refuses the upload if any geometry is invalid, instead of repairing.
	Reject bool
	// Table names the GeoPackage table or the Shapefile in a zip with several.
	Table string
	// Encoding overrides a Shapefile's .cpg (e.g. "GBK").
	Encoding string
	// Key names the attribute identifying a feature across versions, for
	// the added/removed/changed counts; empty: code, id, fid, objectid or
	// gid if present, else whole-feature comparison.
	Key string
	// User is the token name recorded with the version.
	User string
	// AllowEmpty lets an upload with no usable feature make an empty
	// version current; without it such an upload is refused (422), so a
	// file whose features are all skipped never wipes a layer by accident.
	AllowEmpty bool
	// MaxFeatures bounds the features read from the file (422 beyond); 0: no bound.
	MaxFeatures int
	// IdempotencyKey, if set, makes a retry of this upload (same key, same
	// Fingerprint) answer with the first upload's report instead of
	// writing again.
	IdempotencyKey string
	// Fingerprint identifies the upload's content and options (a hash).
	Fingerprint string
	// Review makes the upload a proposal that a reviewer approves or
	// rejects; a layer with review_required always does so.
	Review bool
}

// Skipped is a feature that was not written, and why.
type Skipped struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// Attribute is a column of the new version.
type Attribute struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Source string `json:"source,omitempty"` // the name in the file, if normalised
}

// Report is what the planner sees after an upload.
type Report struct {
	Layer           string         `json:"layer"`
	Version         int            `json:"version"`
	LayerVersion    int64          `json:"layer_version"`
	Mode            string         `json:"mode"`
	FileName        string         `json:"file_name"`
	Format          string         `json:"format"`
	FormatDetail    map[string]any `json:"format_detail,omitempty"`
	CRS             string         `json:"crs"`
	CRSName         string         `json:"crs_name"`
	CRSSource       string         `json:"crs_source"`
	GeometryFamily  string         `json:"geometry_family"`
	FeaturesRead    int            `json:"features_read"`
	FeaturesWritten int            `json:"features_written"`
	Repaired        []int          `json:"repaired"`
	Skipped         []Skipped      `json:"skipped"`
	Attributes      []Attribute    `json:"attributes"`
	Bounds          *[4]float64    `json:"bounds"`
	TotalAreaM2     *float64       `json:"total_area_m2,omitempty"`
	TotalLengthKm   *float64       `json:"total_length_km,omitempty"`
	Diff            Diff           `json:"diff"`
	RedLines        *RedLineCheck  `json:"redline_check"`
	// Conformity are the checks against the layers marked as control lines.
	Conformity []*RedLineCheck `json:"conformity"`
	// Proposal is set when the upload awaits review instead of going live.
	Proposal *ProposalRef `json:"proposal,omitempty"`
	TookMS   int64        `json:"took_ms"`
	// Replayed is set when this is the stored answer to an earlier upload
	// with the same Idempotency-Key: nothing new was written.
	Replayed bool `json:"replayed,omitempty"`
}

// Diff counts features against the previous version.
type Diff struct {
	Previous int    `json:"previous_version"`
	Key      string `json:"key"`
	Added    int64  `json:"added"`
	Removed  int64  `json:"removed"`
	Changed  int64  `json:"changed"`
	// Changes lists, for a proposal, what changed feature by feature.
	Changes *Changes `json:"changes,omitempty"`
}

// maxListed bounds the per-feature lists in a report.
const maxListed = 1000

// Run performs an upload of the spooled file at path.
func Run(ctx context.Context, pool *pgxpool.Pool, path string, opts Options) (*Report, error) {
	start := time.Now()
	var userCRS *crs.CRS
	if opts.CRS != "" {
		c, err := crs.ParseUser(opts.CRS)
		if err != nil {
			return nil, badInput(err.Error())
		}
		userCRS = &c
	}
	src, err := openSource(ctx, path, opts.FileName, opts)
	if err != nil {
		return nil, err
	}
	defer src.close()

	rep := &Report{Layer: opts.Layer, FileName: opts.FileName, Format: src.format, FormatDetail: src.detail,
		Repaired: []int{}, Skipped: []Skipped{}, Mode: "replace"}
	if opts.Append {
		rep.Mode = "append"
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	cur, err := lockLayer(ctx, tx, opts.Layer)
	if err != nil {
		return nil, err
	}
	// With the layer locked, a concurrent retry of the same upload has
	// either committed its key (found here) or not started writing.
	if prev, err := replay(ctx, tx, opts); prev != nil || err != nil {
		return prev, err
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE gusu_stage (idx integer, props jsonb, wkb bytea) ON COMMIT DROP`); err != nil {
		return nil, fmt.Errorf("create staging table: %w", err)
	}
	// GCJ-02 must be undone in Go (PostGIS has no such datum), so a file
	// declared GCJ-02 is converted while streaming.
	st := &stager{src: src, rep: rep, max: opts.MaxFeatures, gcj: userCRS != nil && userCRS.GCJ02, keys: map[string]string{}, used: map[string]bool{}}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"gusu_stage"}, []string{"idx", "props", "wkb"}, st)
	if st.err != nil {
		// The file failed mid-stream; PostgreSQL only reports the aborted COPY.
		return nil, st.err
	}
	if err != nil {
		return nil, fmt.Errorf("stage features: %w", err)
	}
	rep.FeaturesRead = st.read
	rep.GeometryFamily = st.family
	if n == 0 {
		return nil, &Error{Kind: Rejected, Msg: fmt.Sprintf("no usable features among %d read: nothing was written and the layer is unchanged", st.read), Detail: map[string]any{"skipped": rep.Skipped}}
	}

	// Settle the coordinate system.
	c, how, err := settleCRS(userCRS, src, st.extent)
	if err != nil {
		return nil, err
	}
	rep.CRS, rep.CRSName, rep.CRSSource = c.String(), c.Name, how
	var proj4 string
	err = tx.QueryRow(ctx, "SELECT coalesce(proj4text, '') FROM spatial_ref_sys WHERE srid = $1", c.EPSG).Scan(&proj4)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, badInput(fmt.Sprintf("EPSG:%d is not a coordinate system PostGIS knows", c.EPSG))
	}
	if err != nil {
		return nil, fmt.Errorf("look up EPSG:%d: %w", c.EPSG, err)
	}
	// What the file's definition said must be what PostGIS will apply.
	if err := c.CheckAgainst(proj4); err != nil {
		return nil, badInput(err.Error())
	}
	if err := prepare(ctx, tx, c.EPSG, st.family, opts.Reject, rep); err != nil {
		return nil, err
	}
	if opts.Append && cur.tableName != "" {
		if err := stageCurrent(ctx, tx, cur.tableName, st); err != nil {
			return nil, err
		}
	}
	attrs, err := inferAttributes(ctx, tx, st.order, st.keys)
	if err != nil {
		return nil, err
	}
	rep.Attributes = attrs
	// One number per layer: a version is numbered by the layer's version
	// counter (the catalog's "version", the tiles' cache key) as it will be
	// when this version becomes current; the row is locked, so the switch
	// below bumps it exactly once, to this.
	rep.Version = int(cur.version) + 1
	table := fmt.Sprintf("up_%s_v%d", opts.Layer, rep.Version)
	review := opts.Review || cur.reviewRequired
	var proposal int64
	if review {
		// A proposal is not a version yet: it gets a number when approved.
		if err := tx.QueryRow(ctx, "SELECT nextval('gusu_proposals_id_seq')").Scan(&proposal); err != nil {
			return nil, fmt.Errorf("number the proposal: %w", err)
		}
		rep.Version, table = 0, fmt.Sprintf("up_%s_p%d", opts.Layer, proposal)
	}
	written, err := buildTable(ctx, tx, table, attrs, st.family)
	if err != nil {
		return nil, err
	}
	rep.FeaturesWritten = int(written)
	if written == 0 && !opts.AllowEmpty {
		return nil, &Error{Kind: Rejected,
			Msg:    fmt.Sprintf("every one of the %d features was skipped, so this upload would leave the layer empty; nothing was written (to empty a layer on purpose, pass allow_empty=true)", st.read),
			Detail: map[string]any{"skipped": rep.Skipped, "features_read": st.read}}
	}
	if err := measure(ctx, tx, table, st.family, rep); err != nil {
		return nil, err
	}
	rep.Diff = Diff{Previous: cur.dataVersion}
	if cur.tableName != "" {
		if rep.Diff, err = diff(ctx, tx, cur.tableName, table, opts.Key); err != nil {
			return nil, err
		}
		rep.Diff.Previous = cur.dataVersion
	}
	if st.family == feature.Polygons {
		if rep.RedLines, err = checkRedLines(ctx, tx, table, opts.Layer, cur.kind); err != nil {
			return nil, err
		}
		if rep.Conformity, err = checkControlLines(ctx, tx, table, opts.Layer); err != nil {
			return nil, err
		}
	} else {
		rep.RedLines = &RedLineCheck{Checked: false, Note: "the red-line check applies to polygon layers"}
	}
	if rep.Conformity == nil {
		rep.Conformity = []*RedLineCheck{}
	}
	if review {
		if cur.tableName != "" {
			if rep.Diff.Changes, err = changes(ctx, tx, cur.tableName, table, rep.Diff.Key); err != nil {
				return nil, err
			}
		}
		rep.TookMS = time.Since(start).Milliseconds()
		if err := propose(ctx, tx, proposal, opts, cur, table, rep); err != nil {
			return nil, err
		}
		if err := rememberKey(ctx, tx, opts, rep); err != nil {
			return nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("commit proposal: %w", err)
		}
		return rep, nil
	}
	rep.TookMS = time.Since(start).Milliseconds()
	if rep.LayerVersion, err = commitVersion(ctx, tx, opts, cur, table, rep); err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, tx, opts.User, audit.Upload, opts.Layer, rep.LayerVersion, map[string]any{
		"file_name": opts.FileName, "format": rep.Format, "mode": rep.Mode, "features_written": rep.FeaturesWritten,
		"added": rep.Diff.Added, "removed": rep.Diff.Removed, "changed": rep.Diff.Changed, "redline_features": redLineHits(rep.RedLines)}); err != nil {
		return nil, err
	}
	if err := rememberKey(ctx, tx, opts, rep); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit upload: %w", err)
	}
	return rep, nil
}

func redLineHits(c *RedLineCheck) int {
	if c == nil {
		return 0
	}
	return c.FeaturesHit
}

// current is the layer as the upload found it (row locked).
type current struct {
	tableName      string
	dataVersion    int
	kind           string
	version        int64
	reviewRequired bool
	family         string // point, line, polygon or mixed
}

func lockLayer(ctx context.Context, tx pgx.Tx, name string) (*current, error) {
	c := &current{}
	err := tx.QueryRow(ctx, "SELECT table_name, data_version, kind, version, review_required, geometry_type FROM gusu_layers WHERE name = $1 FOR UPDATE", name).
		Scan(&c.tableName, &c.dataVersion, &c.kind, &c.version, &c.reviewRequired, &c.family)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &Error{Kind: NotFound, Msg: fmt.Sprintf("unknown layer %q: create it first with POST /api/layers", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("lock layer %q: %w", name, err)
	}
	return c, nil
}

// stager feeds CopyFrom from the source, one feature at a time.
type stager struct {
	src      *source
	rep      *Report
	gcj      bool
	max      int // features; 0: no bound
	read     int
	family   string
	firstIdx int
	extent   *crs.Extent
	row      []any
	err      error
	// keys maps a file attribute name to its normalised column name.
	keys  map[string]string
	order []string        // normalised names in first-seen order
	used  map[string]bool // column names taken, so two attributes never share one
}

func (s *stager) Next() bool {
	for {
		f, err := s.src.next()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			s.err = err
			return false
		}
		s.read++
		if s.max > 0 && s.read > s.max {
			s.err = &Error{Kind: Rejected, Msg: fmt.Sprintf("the file holds more than %d features, the most one upload may hold (--max-upload-features); nothing was written", s.max),
				Detail: map[string]any{"max_features": s.max}}
			return false
		}
		if f.Skip != "" {
			s.skip(f.Index, f.Skip)
			continue
		}
		fam := feature.Family(f.Geometry)
		if s.family == "" {
			s.family, s.firstIdx = fam, f.Index
		} else if fam != s.family {
			s.err = &Error{Kind: BadInput, Msg: fmt.Sprintf("mixed geometry families: feature %d is a %s, feature %d a %s; a layer holds one family (multi-part allowed)", s.firstIdx, s.family, f.Index, fam)}
			return false
		}
		g := f.Geometry
		if s.gcj {
			g = gcj02.GeometryToWGS84(g)
		}
		s.grow(g)
		b, err := wkb.Marshal(g)
		if err != nil {
			s.skip(f.Index, "cannot encode geometry: "+err.Error())
			continue
		}
		props, err := s.normalise(f)
		if err != nil {
			s.err = err
			return false
		}
		s.row = []any{f.Index, props, b}
		return true
	}
}

func (s *stager) skip(idx int, reason string) {
	if len(s.rep.Skipped) < maxListed {
		s.rep.Skipped = append(s.rep.Skipped, Skipped{Index: idx, Reason: reason})
	}
}

func (s *stager) grow(g orb.Geometry) {
	b := g.Bound()
	if s.extent == nil {
		s.extent = &crs.Extent{MinX: b.Min[0], MinY: b.Min[1], MaxX: b.Max[0], MaxY: b.Max[1]}
		return
	}
	s.extent.MinX, s.extent.MinY = min(s.extent.MinX, b.Min[0]), min(s.extent.MinY, b.Min[1])
	s.extent.MaxX, s.extent.MaxY = max(s.extent.MaxX, b.Max[0]), max(s.extent.MaxY, b.Max[1])
}

func (s *stager) Values() ([]any, error) { return s.row, nil }
func (s *stager) Err() error             { return s.err }

// reserved are column names gusu's tables use itself, and PostgreSQL's
// system columns, which no table can have.
var reserved = map[string]bool{"id": true, "geom": true,
	"tableoid": true, "xmin": true, "cmin": true, "xmax": true, "cmax": true, "ctid": true, "oid": true}

// maxAttributes bounds the attributes of one layer; PostgreSQL allows 1600
// columns in a table and gusu needs a few itself.
const maxAttributes = 1000

// maxIdentBytes is PostgreSQL's identifier length (NAMEDATALEN - 1).
const maxIdentBytes = 63

var nonIdent = regexp.MustCompile(`[^\p{L}\p{N}_]+`)

// normaliseName turns a file's attribute name into a column name:
// lower-case, letters (any script, so 名称 stays 名称), digits and
// underscores, at most 60 bytes, not starting with a digit.
func normaliseName(s string) string {
	n := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(strings.TrimSpace(s)), "_"), "_")
	if n == "" {
		n = "attr"
	}
	if unicode.IsDigit([]rune(n)[0]) {
		n = "a_" + n
	}
	return truncateBytes(n, 60)
}

// truncateBytes shortens s to at most max bytes without splitting a rune.
func truncateBytes(s string, max int) string {
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func (s *stager) normalise(f feature.Feature) ([]byte, error) {
	names := f.Order
	if len(names) != len(f.Properties) {
		names = names[:0:0]
		for k := range f.Properties {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	out := make(map[string]json.RawMessage, len(names))
	for _, k := range names {
		col, ok := s.keys[k]
		if !ok {
			if err := checkJSONText(f.Index, "the attribute name", k); err != nil {
				return nil, err
			}
			if len(s.order) == maxAttributes {
				return nil, &Error{Kind: BadInput, Msg: fmt.Sprintf("the file has more than %d attributes; a layer holds at most %d", maxAttributes, maxAttributes)}
			}
			col = normaliseName(k)
			for base, i := col, 2; reserved[col] || s.used[col]; i++ {
				// The suffix must survive PostgreSQL's 63-byte truncation,
				// or two attributes would collide after all.
				suffix := fmt.Sprintf("_%d", i)
				col = truncateBytes(base, maxIdentBytes-len(suffix)) + suffix
			}
			s.keys[k] = col
			s.used[col] = true
			s.order = append(s.order, col)
		}
		v := f.Properties[k]
		if err := checkValue(f.Index, k, v); err != nil {
			return nil, err
		}
		out[col] = v
	}
	return json.Marshal(out)
}

// checkJSONText refuses text PostgreSQL cannot store: invalid UTF-8 (a
// GBK-encoded GeoJSON, say) and NUL characters.
func checkJSONText(idx int, what, text string) error {
	switch {
	case !utf8.ValidString(text):
		return &Error{Kind: BadInput, Msg: fmt.Sprintf("feature %d: %s is not UTF-8 text; GeoJSON must be UTF-8 (RFC 7946): convert the file, e.g. iconv -f GBK -t UTF-8", idx, what),
			Detail: map[string]any{"feature": idx}}
	case strings.ContainsRune(text, 0):
		return &Error{Kind: BadInput, Msg: fmt.Sprintf("feature %d: %s contains a NUL character (\\u0000), which cannot be stored", idx, what),
			Detail: map[string]any{"feature": idx}}
	}
	return nil
}

// checkValue refuses attribute values PostgreSQL would reject: invalid
// UTF-8, NUL characters, and numbers beyond double precision (1e400).
func checkValue(idx int, name string, v json.RawMessage) error {
	what := fmt.Sprintf("attribute %q", name)
	if !utf8.Valid(v) {
		return checkJSONText(idx, what, string(v))
	}
	if len(v) == 0 {
		return nil
	}
	switch c := v[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		if f, err := strconv.ParseFloat(string(v), 64); err != nil || math.IsInf(f, 0) {
			return &Error{Kind: BadInput, Msg: fmt.Sprintf("feature %d: attribute %q is the number %.40s, beyond what a double can hold", idx, name, v),
				Detail: map[string]any{"feature": idx, "attribute": name}}
		}
	case bytes.Contains(v, []byte(`\u0000`)):
		// An escaped NUL somewhere in a string, array or object value.
		var x any
		if err := json.Unmarshal(v, &x); err == nil && containsNUL(x) {
			return checkJSONText(idx, what, "\x00")
		}
	case c == '[' || c == '{':
		// Numbers nested in arrays and objects are checked too.
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				return &Error{Kind: BadInput, Msg: fmt.Sprintf("feature %d: attribute %q holds a number beyond what a double can hold", idx, name),
					Detail: map[string]any{"feature": idx, "attribute": name}}
			}
		}
	}
	return nil
}

func containsNUL(x any) bool {
	switch v := x.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		return slices.ContainsFunc(v, containsNUL)
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || containsNUL(e) {
				return true
			}
		}
	}
	return false
}

// settleCRS decides the coordinate system: the parameter wins, then the
// file's declaration; with neither, lon/lat-looking coordinates are taken as
// WGS 84 and anything else is an error that says what to pass.
func settleCRS(user *crs.CRS, src *source, ext *crs.Extent) (crs.CRS, string, error) {
	declared := src.declared
	if declared == nil && src.lateCRS != nil {
		late, err := src.lateCRS()
		if err != nil {
			return crs.CRS{}, "", err
		}
		declared = late
	}
	var c crs.CRS
	var how string
	switch {
	case user != nil:
		c, how = *user, "parameter"
	case declared != nil:
		c, how = *declared, "file"
	case ext.LooksGeographic():
		reason := "no coordinate system in the file"
		if src.declaredErr != nil {
			reason = src.declaredErr.Error()
		}
		return crs.WGS84, "assumed: " + reason + "; the coordinates are plausible longitude/latitude", nil
	default:
		msg := "the file declares no coordinate system and its coordinates are not longitude/latitude"
		if src.declaredErr != nil {
			msg = "the file's coordinate system is not understood (" + src.declaredErr.Error() + ") and its coordinates are not longitude/latitude"
		}
		return crs.CRS{}, "", &Error{Kind: BadInput, Msg: msg + ": " + ext.Suggest(),
			Detail: map[string]any{"extent": []float64{ext.MinX, ext.MinY, ext.MaxX, ext.MaxY}}}
	}
	if c.Geographic && !ext.LooksGeographic() {
		return crs.CRS{}, "", &Error{Kind: BadInput,
			Msg:    fmt.Sprintf("the coordinate system is %s (%s), longitude/latitude, but coordinates reach x=%.0f, y=%.0f: %s", c, how, ext.MaxX, ext.MaxY, ext.Suggest()),
			Detail: map[string]any{"extent": []float64{ext.MinX, ext.MinY, ext.MaxX, ext.MaxY}}}
	}
	return c, how, nil
}
