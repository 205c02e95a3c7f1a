package access

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/gusu-gis/gusu/data/auth"
	"github.com/gusu-gis/gusu/data/httpapi"
	"github.com/gusu-gis/gusu/data/upload"
)

// SavedRun is a catchment run kept as a layer.
type SavedRun struct {
	Layer   string              `json:"layer"`
	Request CatchmentRequest    `json:"request"`
	Inputs  map[string]int64    `json:"input_versions"`
	Current map[string]int64    `json:"current_versions"`
	Stale   bool                `json:"stale"`
	SavedBy string              `json:"saved_by"`
	SavedAt time.Time           `json:"saved_at"`
	Changed map[string][2]int64 `json:"changed,omitempty"`
}

// inputVersions are the versions of every layer a run read: the network's
// inputs and its origin, demand and unit layers.
func inputVersions(meta map[string]any) map[string]int64 {
	out := map[string]int64{}
	if lv, ok := meta["layer_versions"].(map[string]int64); ok {
		for k, v := range lv {
			out[k] = v
		}
	}
	for _, k := range []string{"origins", "demand", "group_by"} {
		if d, ok := meta[k].(map[string]any); ok {
			if name, ok := d["layer"].(string); ok {
				if v, ok := d["version"].(int64); ok {
					out[name] = v
				}
			}
		}
	}
	return out
}

// Save writes a run's features as a new version of layer name through the
// upload pipeline (versioned, diffed, audited, tiled like any upload) and
// records the request, so the run can be recomputed. A layer that exists
// and is not a saved run is refused (409): a result never overwrites a
// layer GIS staff maintain.
func (s *Service) Save(ctx context.Context, name, user string, req CatchmentRequest, res *CatchmentResult) (*upload.Report, error) {
	if len(res.Features.Features) == 0 {
		return nil, bad("save_as: the run reached nothing, so there is nothing to save")
	}
	var saved bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM gusu_saved_runs WHERE layer = $1)", name).Scan(&saved); err != nil {
		return nil, err
	}
	if _, err := s.reg.Get(ctx, name); err == nil && !saved {
		return nil, &httpapi.Error{Status: http.StatusConflict, Message: fmt.Sprintf("save_as: layer %q exists and is not a saved catchment; choose another name", name)}
	} else if err != nil {
		title := "Catchment " + name
		if req.Preset != "" {
			title += " (" + req.Preset + ")"
		}
		if err := upload.CreateLayer(ctx, s.pool, upload.LayerSpec{Name: name, Title: title, Kind: "other",
			Description: "Saved catchment run (POST /api/catchments save_as); recompute with POST /api/catchments/saved/" + name + "/recompute"}, user); err != nil {
			return nil, upload.HTTPError(err)
		}
	}
	dir, err := os.MkdirTemp("", "gusu-catchment-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "catchment.geojson")
	b, err := json.Marshal(res.Features)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	rep, err := upload.Run(ctx, s.pool, path, upload.Options{Layer: name, FileName: "catchment.geojson", User: user})
	if err != nil {
		return nil, upload.HTTPError(err)
	}
	req.SaveAs = ""
	reqJSON, _ := json.Marshal(req)
	inJSON, _ := json.Marshal(inputVersions(res.Meta))
	if _, err := s.pool.Exec(ctx, `INSERT INTO gusu_saved_runs (layer, request, input_versions, saved_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (layer) DO UPDATE SET request = $2, input_versions = $3, saved_by = $4, saved_at = now()`, name, reqJSON, inJSON, user); err != nil {
		return nil, fmt.Errorf("record the saved run: %w", err)
	}
	if s.reg != nil {
		s.reg.Invalidate(name)
	}
	return rep, nil
}

// SavedRuns lists the saved runs, each marked stale when a layer it read
// has a newer version.
func (s *Service) SavedRuns(ctx context.Context, only string) ([]SavedRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT layer, request, input_versions, saved_by, saved_at FROM gusu_saved_runs WHERE $1 = '' OR layer = $1 ORDER BY layer`, only)
	if err != nil {
		return nil, err
	}
	var out []SavedRun
	var r SavedRun
	var reqJSON, inJSON []byte
	if _, err := pgx.ForEachRow(rows, []any{&r.Layer, &reqJSON, &inJSON, &r.SavedBy, &r.SavedAt}, func() error {
		v := r
		v.Request, v.Inputs, v.Current, v.Changed = CatchmentRequest{}, map[string]int64{}, map[string]int64{}, nil
		if err := json.Unmarshal(reqJSON, &v.Request); err != nil {
			return err
		}
		if err := json.Unmarshal(inJSON, &v.Inputs); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}); err != nil {
		return nil, err
	}
	for i := range out {
		names := make([]string, 0, len(out[i].Inputs))
		for n := range out[i].Inputs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			cur := int64(0) // deleted since
			if l, err := s.reg.Get(ctx, n); err == nil {
				cur = l.Version
			}
			out[i].Current[n] = cur
			if cur != out[i].Inputs[n] {
				if out[i].Changed == nil {
					out[i].Changed = map[string][2]int64{}
				}
				out[i].Changed[n] = [2]int64{out[i].Inputs[n], cur}
				out[i].Stale = true
			}
		}
	}
	return out, nil
}

// Recompute reruns a saved run and saves a new version when any of its
// inputs changed (or force); otherwise it leaves the layer as it is.
func (s *Service) Recompute(ctx context.Context, name, user string, force bool) (map[string]any, error) {
	runs, err := s.SavedRuns(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, &httpapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no saved catchment run %q", name)}
	}
	run := runs[0]
	out := map[string]any{"layer": name, "input_versions": run.Inputs, "current_versions": run.Current, "stale": run.Stale}
	if !run.Stale && !force {
		out["recomputed"] = false
		return out, nil
	}
	res, err := s.Catchments(ctx, run.Request, true)
	if err != nil {
		return nil, fmt.Errorf("recompute %s: %w", name, err)
	}
	rep, err := s.Save(ctx, name, user, run.Request, res)
	if err != nil {
		return nil, err
	}
	out["recomputed"], out["version"], out["changed"], out["diff"] = true, rep.LayerVersion, run.Changed, rep.Diff
	return out, nil
}

func (s *Service) savedGET(w http.ResponseWriter, r *http.Request) error {
	runs, err := s.SavedRuns(r.Context(), "")
	if err != nil {
		return err
	}
	if s.CanSeePrivate != nil && !s.CanSeePrivate(r) {
		var visible []SavedRun
		for _, run := range runs {
			if l, err := s.reg.Get(r.Context(), run.Layer); err == nil && !l.Private {
				visible = append(visible, run)
			}
		}
		runs = visible
	}
	if runs == nil {
		runs = []SavedRun{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"runs": runs})
	return nil
}

func (s *Service) recomputePOST(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.requireEditor(r)
	if err != nil {
		return err
	}
	force := r.URL.Query().Get("force") == "true"
	out, err := s.Recompute(r.Context(), mux.Vars(r)["name"], tok, force)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// requireEditor returns the name saving is recorded under: an editor
// token's, or "anonymous" when no authenticator is configured.
func (s *Service) requireEditor(r *http.Request) (string, error) {
	if s.Auth == nil {
		return "anonymous", nil
	}
	tok, err := s.Auth.Require(r, auth.Editor)
	if err != nil {
		return "", err
	}
	return tok.Name, nil
}
