// Package indicators computes the plan's spatial indicators from the
// current layers and compares them with its 2020 baselines and 2025
// targets (data/plan.json): the red-line share of the land, rail transit
// length, the "1+4+N" town system and the 45-minute city circle.
//
// Values are computed on request and cached by the versions of the layers
// they depend on, so a change to a layer (an upload, an edit) shows at
// once, without a restart.
package indicators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gusu-gis/gusu/data/access"
	"github.com/gusu-gis/gusu/data/layers"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

// Status of an indicator against the plan.
const (
	OnTrack       = "on_track"
	Behind        = "behind"
	NotComputable = "not_computable"
)

// PlanFigure is one indicator's entry in plan.json.
type PlanFigure struct {
	ID         string   `json:"id"`
	Table2     *int     `json:"table2"`
	NameZh     string   `json:"name_zh"`
	NameEn     string   `json:"name_en"`
	Unit       string   `json:"unit"`
	Baseline   *float64 `json:"baseline_2020"`
	Target     *float64 `json:"target_2025"`
	TargetKind string   `json:"target_kind"`
	Text       string   `json:"text,omitempty"`
}

// Plan is plan.json.
type Plan struct {
	Source     string       `json:"source"`
	Indicators []PlanFigure `json:"indicators"`
}

// Indicator is one computed indicator.
type Indicator struct {
	PlanFigure
	Value   *float64         `json:"value"`
	Details map[string]any   `json:"details,omitempty"`
	Status  string           `json:"status"`
	Inputs  map[string]int64 `json:"inputs"` // layer → version computed from
	Caveats []string         `json:"caveats"`
	// CaveatsZh are the caveats in Chinese, in the same order.
	CaveatsZh []string `json:"caveats_zh"`
	Counted   []string `json:"counted,omitempty"` // names of what it counts
}

// Service computes indicators.
type Service struct {
	pool   *pgxpool.Pool
	reg    *layers.Registry
	access *access.Service
	plan   Plan
	origin string

	mu    sync.Mutex
	cache map[string]cached

	// CanSeePrivate reports whether a request may see private layers; nil:
	// every request may.
	CanSeePrivate func(*http.Request) bool
}

type cached struct {
	key string
	ind Indicator
}

// NewService parses the plan figures; acc may be nil (the 45-minute circle
// is then not computable).
func NewService(pool *pgxpool.Pool, reg *layers.Registry, acc *access.Service, planJSON []byte) (*Service, error) {
	var p Plan
	if err := json.Unmarshal(planJSON, &p); err != nil {
		return nil, fmt.Errorf("parse plan figures: %w", err)
	}
	return &Service{pool: pool, reg: reg, access: acc, plan: p, origin: "station:苏州", cache: map[string]cached{}}, nil
}

// Plan returns the plan figures.
func (s *Service) Plan() Plan { return s.plan }

// All computes every indicator.
func (s *Service) All(ctx context.Context) ([]Indicator, error) {
	var out []Indicator
	for _, f := range s.plan.Indicators {
		ind, err := s.One(ctx, f.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, ind)
	}
	return out, nil
}

// inputsOf names the layers each indicator depends on.
var inputsOf = map[string][]string{
	"redline_share":  {"eco_redlines", "town_system"},
	"rail_length":    {"rail_lines", "town_system"},
	"town_system":    {"town_system"},
	"city_circle_45": {"town_system", "rail_lines", "rail_stations"},
}

// One computes (or returns the cached) indicator id.
func (s *Service) One(ctx context.Context, id string) (Indicator, error) {
	var fig *PlanFigure
	for i := range s.plan.Indicators {
		if s.plan.Indicators[i].ID == id {
			fig = &s.plan.Indicators[i]
		}
	}
	if fig == nil {
		return Indicator{}, fmt.Errorf("unknown indicator %q", id)
	}
	ind := Indicator{PlanFigure: *fig, Inputs: map[string]int64{}, Caveats: []string{}, CaveatsZh: []string{}}
	tables := map[string]string{}
	inputs := map[string]*layers.Layer{}
	var key strings.Builder
	for _, name := range inputsOf[id] {
		l, err := s.reg.Get(ctx, name)
		if err != nil {
			ind.Status = NotComputable
			ind.caveat(fmt.Sprintf("layer %s is missing", name), fmt.Sprintf("缺少图层 %s", name))
			return ind, nil
		}
		ind.Inputs[name] = l.Version
		tables[name] = pgx.Identifier{l.Table}.Sanitize()
		inputs[name] = l
		fmt.Fprintf(&key, "%s@%d;", name, l.Version)
	}
	s.mu.Lock()
	if c, ok := s.cache[id]; ok && c.key == key.String() && s.reg.Synced() {
		s.mu.Unlock()
		return c.ind, nil
	}
	s.mu.Unlock()
	var err error
	switch id {
	case "redline_share":
		err = s.redlineShare(ctx, tables, inputs["eco_redlines"], &ind)
	case "rail_length":
		err = s.railLength(ctx, tables, &ind)
	case "town_system":
		err = s.townSystem(ctx, tables, &ind)
	case "city_circle_45":
		err = s.cityCircle(ctx, &ind)
	}
	if err != nil {
		return Indicator{}, fmt.Errorf("indicator %s: %w", id, err)
	}
	s.mu.Lock()
	s.cache[id] = cached{key.String(), ind}
	s.mu.Unlock()
	return ind, nil
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func (ind *Indicator) judge(v float64) {
	ind.Value = &v
	if ind.Target == nil {
		ind.Status = NotComputable
		return
	}
	if v >= *ind.Target {
		ind.Status = OnTrack
	} else {
		ind.Status = Behind
	}
}

// cityLand is the city's land: the union of the town system's polygons.
func cityLand(tables map[string]string) string {
	return fmt.Sprintf(`(SELECT ST_Union(geom) FROM %s WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON'))`, tables["town_system"])
}

// redlineShare: red lines clipped to the city and unioned (overlaps counted
// once) over the city's area, both on the WGS 84 ellipsoid.
func (s *Service) redlineShare(ctx context.Context, tables map[string]string, redlines *layers.Layer, ind *Indicator) error {
	var red, land *float64
	var approx *bool
	// Uploaded official red lines need not carry the approximate flag.
	approxExpr := "NULL::boolean"
	if _, ok := redlines.Column("approximate"); ok {
		approxExpr = fmt.Sprintf("(SELECT bool_or(approximate) FROM %s)", tables["eco_redlines"])
	}
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`WITH city AS (SELECT %s AS g),
		red AS (SELECT ST_Union(ST_Intersection(r.geom, city.g)) AS g FROM %s r, city WHERE ST_Intersects(r.geom, city.g))
		SELECT ST_Area(red.g::geography), ST_Area(city.g::geography), %s FROM red, city`, cityLand(tables), tables["eco_redlines"], approxExpr)).Scan(&red, &land, &approx)
	if err != nil {
		return err
	}
	if land == nil || *land == 0 {
		ind.Status = NotComputable
		ind.caveat("the town system has no polygons: the city's area is unknown", "城镇体系图层没有面要素，无法得到全市面积")
		return nil
	}
	r := 0.0
	if red != nil {
		r = *red
	}
	ind.judge(round(100*r / *land, 2))
	ind.Details = map[string]any{"redline_km2": round(r/1e6, 2), "land_km2": round(*land/1e6, 2)}
	if approx != nil && *approx {
		ind.caveat("the red lines are provisional: lake outlines (Taihu, Yangcheng, Dianshan) from GSHHG stand in for the official red-line polygons, which are not public; upload them to eco_redlines",
			"生态保护红线为临时数据：以 GSHHG 湖泊轮廓（太湖、阳澄湖、淀山湖）代替未公开的官方红线范围；请将官方红线上传到 eco_redlines 图层")
	}
	ind.caveat("the city's area is the union of the county-level polygons (DataV, simplified), lakes included", "全市面积取各区、县级市面要素（DataV，已简化）之并集，含湖泊水面")
	return nil
}

// railLength: metro and tram lines within the city, shared track counted
// once, existing and planned separately.
func (s *Service) railLength(ctx context.Context, tables map[string]string, ind *Indicator) error {
	var existing, planned *float64
	var schematic *bool
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`WITH city AS (SELECT %[1]s AS g),
		l AS (SELECT status, schematic, ST_Intersection(geom, city.g) AS g FROM %[2]s, city WHERE kind IN ('metro', 'tram') AND ST_Intersects(geom, city.g))
		SELECT (SELECT ST_Length(ST_Union(g)::geography) / 1000 FROM l WHERE status = 'existing'),
		       (SELECT ST_Length(ST_Union(g)::geography) / 1000 FROM l WHERE status = 'planned'),
		       (SELECT bool_or(schematic) FROM l)`, cityLand(tables), tables["rail_lines"])).Scan(&existing, &planned, &schematic)
	if err != nil {
		if undefinedColumn(err) { // an uploaded rail layer without kind or status
			ind.Status = NotComputable
			ind.caveat("the rail_lines layer has no kind and status attributes", "轨道线路图层缺少 kind 和 status 属性")
			return nil
		}
		return err
	}
	e, p := 0.0, 0.0
	if existing != nil {
		e = *existing
	}
	if planned != nil {
		p = *planned
	}
	ind.judge(round(e, 1))
	ind.Details = map[string]any{"existing_km": round(e, 1), "planned_km": round(p, 1), "existing_and_planned_km": round(e+p, 1)}
	if schematic != nil && *schematic {
		ind.caveat("metro lines are schematic (stations joined by straight lines): real track is longer, so the length is underestimated", "地铁线路为示意线（站点间直线连接），实际线路更长，故里程偏小")
	}
	if p == 0 {
		ind.caveat("no planned urban rail lines are in the data", "数据中没有规划城市轨道线路")
	}
	return nil
}

func (s *Service) townSystem(ctx context.Context, tables map[string]string, ind *Indicator) error {
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT level, count(*), count(*) FILTER (WHERE level = 'town' AND parent IS NULL),
		array_agg(name_zh ORDER BY name_zh) FILTER (WHERE level = 'town' AND parent IS NULL) FROM %s GROUP BY level`, tables["town_system"]))
	if undefinedColumn(err) {
		ind.Status = NotComputable
		ind.caveat("the town_system layer lacks level, parent or name_zh attributes", "城镇体系图层缺少 level、parent 或 name_zh 属性")
		return nil
	}
	if err != nil {
		return err
	}
	counts := map[string]int64{}
	var orphans []string
	var level string
	var n, noParent int64
	var names []string
	if _, err := pgx.ForEachRow(rows, []any{&level, &n, &noParent, &names}, func() error {
		counts[level] = n
		orphans = append(orphans, names...)
		return nil
	}); err != nil {
		return err
	}
	total := float64(counts["central_city"] + counts["county_city"] + counts["town"])
	ind.Value = &total
	ind.Details = map[string]any{"central_city_districts": counts["central_city"], "county_cities": counts["county_city"], "towns": counts["town"],
		"towns_without_parent": len(orphans), "orphans": orphans}
	ind.Status = OnTrack
	if counts["county_city"] != 4 || counts["central_city"] == 0 || len(orphans) > 0 {
		ind.Status = Behind
	}
	ind.caveat("towns are the GeoNames township seats matched to official codes; 57 of Suzhou's 118 official town-level units have no location in any open source",
		"镇/街道为 GeoNames 的乡镇驻地点，已与官方区划代码匹配；苏州 118 个乡级单位中有 57 个在公开数据中没有位置")
	return nil
}

// cityCircle: county-level cities and towns whose seat lies within 45
// minutes of the central city (Suzhou railway station) by transit.
func (s *Service) cityCircle(ctx context.Context, ind *Indicator) error {
	if s.access == nil {
		ind.Status = NotComputable
		ind.caveat("no accessibility network", "可达性网络不可用")
		return nil
	}
	origin, err := s.access.Resolve(s.origin)
	if err != nil {
		ind.Status = NotComputable
		ind.caveat("the origin "+s.origin+" is not available: "+err.Error(), "起点 "+s.origin+" 不可用："+err.Error())
		return nil
	}
	units, meta, err := s.access.Towns(access.Query{Origins: []orb.Point{origin}, From: []string{s.origin}, Mode: isochrone.Transit, Minutes: []float64{45}})
	if err != nil {
		return err
	}
	var counties, countiesIn, towns, townsIn int
	var names []string
	for _, u := range units {
		in := u.Band != nil
		switch u.Level {
		case "county_city":
			counties++
			if in {
				countiesIn++
				names = append(names, u.Name)
			}
		case "town":
			towns++
			if in {
				townsIn++
				names = append(names, u.Name)
			}
		}
	}
	sort.Strings(names)
	share := 0.0
	if counties > 0 {
		share = 100 * float64(countiesIn) / float64(counties)
	}
	ind.judge(round(share, 1))
	townShare := 0.0
	if towns > 0 {
		townShare = round(100*float64(townsIn)/float64(towns), 1)
	}
	ind.Details = map[string]any{"origin": s.origin, "county_cities_within": countiesIn, "county_cities": counties,
		"towns_within": townsIn, "towns": towns, "towns_share": townShare, "network": meta["network"]}
	ind.Counted = names
	ind.caveat(fmt.Sprintf("%v: transit runs on the surface-and-rail model, so access to stations is on foot and expressways do not count; the plan's circle counts rail and expressways", meta["network"]),
		fmt.Sprintf("%v：公共交通按“步行＋轨道”模型计算，进出站为步行，不计高速公路；规划的交通圈包括轨道和高速公路", networkZh(meta["network"])))
	return nil
}

// undefinedColumn reports PostgreSQL's undefined_column: a layer replaced by
// an upload without the attributes an indicator needs.
func undefinedColumn(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42703"
}

// caveat records a caveat in English and Chinese.
func (ind *Indicator) caveat(en, zh string) {
	ind.Caveats = append(ind.Caveats, en)
	ind.CaveatsZh = append(ind.CaveatsZh, zh)
}

// networkZh names a network model in Chinese.
func networkZh(v any) string {
	switch v {
	case "off-network estimate":
		return "路网外估算"
	case "roads":
		return "道路网络"
	}
	return fmt.Sprint(v)
}
