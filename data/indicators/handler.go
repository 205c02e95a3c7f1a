package indicators

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/gusu-gis/gusu/data/httpapi"
)

// Routes registers GET /api/indicators on r.
func (s *Service) Routes(r *mux.Router, log *slog.Logger) {
	r.Handle("/api/indicators", httpapi.Handler(log, func(w http.ResponseWriter, r *http.Request) error {
		all, err := s.All(r.Context())
		if err != nil {
			return err
		}
		if s.CanSeePrivate != nil && !s.CanSeePrivate(r) {
			for i := range all {
				s.withhold(r.Context(), &all[i])
			}
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"plan_source": s.plan.Source, "indicators": all})
		return nil
	})).Methods(http.MethodGet, http.MethodHead)
}

// withhold blanks an indicator computed from a private layer: a client
// that may not see the layer learns nothing from it.
func (s *Service) withhold(ctx context.Context, ind *Indicator) {
	private := false
	visible := map[string]int64{} // a new map: ind's is shared with the cache
	for name, v := range ind.Inputs {
		if l, err := s.reg.Get(ctx, name); err == nil && l.Private {
			private = true
		} else {
			visible[name] = v
		}
	}
	if !private {
		return
	}
	ind.Inputs = visible
	ind.Value, ind.Details, ind.Counted, ind.Status = nil, nil, nil, NotComputable
	ind.Caveats, ind.CaveatsZh = nil, nil
	ind.caveat("computed from a layer that is not available to this client", "由本客户端无权查看的图层计算")
}
