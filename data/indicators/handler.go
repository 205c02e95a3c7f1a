package indicators

import (
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
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"plan_source": s.plan.Source, "indicators": all})
		return nil
	})).Methods(http.MethodGet, http.MethodHead)
}
