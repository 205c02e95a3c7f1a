package access

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/data/httpapi"
)

//go:embed lifecircles.json
var lifeCirclesJSON []byte

// LifeCircles are the presets' definitions and sources (lifecircles.json).
type LifeCircles struct {
	About       string   `json:"about"`
	WalkMPerMin float64  `json:"walk_m_per_min"`
	Presets     []Preset `json:"presets"`
}

// Preset is a named life circle: its bands, mode and facility categories.
type Preset struct {
	ID           string     `json:"id"`
	NameZh       string     `json:"name_zh"`
	NameEn       string     `json:"name_en"`
	Source       string     `json:"source"`
	Mode         string     `json:"mode"`
	Minutes      []float64  `json:"minutes"`
	DistanceNote string     `json:"distance_note"`
	Categories   []Category `json:"categories"`
	// PlanTarget is the plan's own target for this circle, where it has one.
	PlanTarget *PlanTarget `json:"plan_target,omitempty"`
}

// PlanTarget is a plan target as the viewer states it, with the indicator
// that measures it.
type PlanTarget struct {
	Zh        string `json:"zh"`
	En        string `json:"en"`
	Indicator string `json:"indicator"`
}

// Category is a kind of facility a preset measures, with its own band and
// the attribute values facility layers name it by.
type Category struct {
	ID      string   `json:"id"`
	NameZh  string   `json:"name_zh"`
	Minutes float64  `json:"minutes"`
	Aliases []string `json:"aliases"`
}

// Presets returns the life-circle presets.
func Presets() LifeCircles {
	var lc LifeCircles
	if err := json.Unmarshal(lifeCirclesJSON, &lc); err != nil {
		panic(fmt.Sprintf("lifecircles.json: %v", err)) // embedded and tested
	}
	return lc
}

func presetByID(id string) (*Preset, error) {
	lc := Presets()
	var ids []string
	for i := range lc.Presets {
		if lc.Presets[i].ID == id {
			return &lc.Presets[i], nil
		}
		ids = append(ids, lc.Presets[i].ID)
	}
	return nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no preset %q; known: %v (GET /api/catchments/presets)", id, ids)}
}

// CategoryResult is one preset category's catchment and coverage.
type CategoryResult struct {
	Category string         `json:"category"`
	NameZh   string         `json:"name_zh"`
	Minutes  float64        `json:"minutes"`
	Values   []string       `json:"values"`
	Origins  int            `json:"origins"`
	Coverage []BandCoverage `json:"coverage"`
	Note     string         `json:"note,omitempty"`
}

// applyPreset fills mode and minutes from the preset where the request
// leaves them out.
func applyPreset(req *CatchmentRequest) (*Preset, error) {
	p, err := presetByID(req.Preset)
	if err != nil {
		return nil, err
	}
	if req.Mode == "" {
		if p.Mode == "" {
			return nil, bad("preset %s does not fix a mode (%s): give mode", p.ID, p.DistanceNote)
		}
		req.Mode = p.Mode
	}
	if len(req.Minutes) == 0 {
		req.Minutes = p.Minutes
	}
	return p, nil
}

// byCategory runs one catchment per preset category, from the origins
// whose category attribute names it (its id or an alias), each at the
// category's own band.
func (s *Service) byCategory(ctx context.Context, req CatchmentRequest, p *Preset, seePrivate bool) ([]CategoryResult, []*geojson.Feature, error) {
	var out []CategoryResult
	var feats []*geojson.Feature
	for _, c := range p.Categories {
		sub := req
		sub.Preset, sub.Minutes = "", []float64{c.Minutes}
		o := *req.Origins
		o.Category = ""
		o.Where = map[string]json.RawMessage{}
		for k, v := range req.Origins.Where {
			o.Where[k] = v
		}
		values := append([]string{c.ID}, c.Aliases...)
		o.Where[req.Origins.Category], _ = json.Marshal(values)
		sub.Origins = &o
		cr := CategoryResult{Category: c.ID, NameZh: c.NameZh, Minutes: c.Minutes, Values: values}
		res, err := s.catchments(ctx, sub, seePrivate)
		switch {
		case errors.Is(err, errNoOrigins):
			cr.Note = "no facility of this category in the layer: nothing is covered"
			cr.Coverage = []BandCoverage{}
		case err != nil:
			return nil, nil, fmt.Errorf("category %s: %w", c.ID, err)
		default:
			cr.Origins = res.Meta["origins"].(map[string]any)["count"].(int)
			cr.Coverage = res.Coverage
			for _, f := range res.Features.Features {
				f.Properties["category"] = c.ID
				feats = append(feats, f)
			}
		}
		out = append(out, cr)
	}
	return out, feats, nil
}

// presetsGET is GET /api/catchments/presets.
func (s *Service) presetsGET(w http.ResponseWriter, r *http.Request) error {
	httpapi.WriteJSON(w, http.StatusOK, Presets())
	return nil
}
