package mapexport

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/gusu-gis/gusu/data/httpapi"
)

// Handler serves GET /api/maps/export.
type Handler struct {
	Exporter *Exporter
	// Base is where this gusu answers on loopback (the page is loaded from it).
	Base func() string
	// Check refuses layers the request may not draw (404 unknown, 401/403 private).
	Check func(r *http.Request, layers []string) error
	// Slots bounds the exports that run at once (each runs a browser).
	Slots *httpapi.Limiter
	Log   *slog.Logger
}

// Routes registers the export route on r.
func (h *Handler) Routes(r *mux.Router) {
	r.Handle("/api/maps/export", httpapi.Handler(h.Log, h.Slots.Wrap(h.export))).Methods(http.MethodGet, http.MethodHead)
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request) error {
	o, err := Parse(r.URL.Query())
	var br *BadRequest
	if errors.As(err, &br) {
		return httpapi.BadRequest(br.Msg, nil)
	} else if err != nil {
		return err
	}
	if h.Check != nil {
		if err := h.Check(r, o.Layers); err != nil {
			return err
		}
	}
	if err := h.Exporter.Available(); err != nil {
		return httpapi.Unavailable(err.Error(), err)
	}
	// A large map takes longer than other responses may.
	timeout := h.Exporter.Timeout
	if timeout <= 0 {
		timeout = 90 * time.Second
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 15*time.Second))
	headers := map[string]any{}
	if a := r.Header.Get("Authorization"); a != "" {
		headers["Authorization"] = a
	} else if tok := r.URL.Query().Get("token"); tok != "" {
		headers["Authorization"] = "Bearer " + tok
	}
	out, err := h.Exporter.Export(r.Context(), h.Base(), o, headers)
	if errors.As(err, &br) {
		return httpapi.BadRequest(br.Msg, nil)
	}
	if err != nil {
		return err
	}
	ctype := map[string]string{"pdf": "application/pdf", "png": "image/png"}[o.Format]
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="gusu-map-%s-%s-%ddpi.%s"`, strings.ToLower(o.PaperName), o.Orientation, o.DPI, o.Format))
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(out)
	return err
}
