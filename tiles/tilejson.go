package tiles

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// TileJSON is the TileJSON 3.0.0 document for a layer list.
type TileJSON struct {
	TileJSON     string        `json:"tilejson"`
	Name         string        `json:"name"`
	Description  string        `json:"description,omitempty"`
	Version      string        `json:"version"`
	Scheme       string        `json:"scheme"`
	Tiles        []string      `json:"tiles"`
	VectorLayers []VectorLayer `json:"vector_layers"`
	Attribution  string        `json:"attribution,omitempty"`
	Bounds       [4]float64    `json:"bounds"`
	Center       [3]float64    `json:"center"`
	MinZoom      int           `json:"minzoom"`
	MaxZoom      int           `json:"maxzoom"`
}

// VectorLayer describes one MVT layer of the tiles.
type VectorLayer struct {
	ID          string            `json:"id"`
	Description string            `json:"description"`
	Fields      map[string]string `json:"fields"`
	MinZoom     int               `json:"minzoom"`
	MaxZoom     int               `json:"maxzoom"`
}

// TileJSON builds the document for names, with tile URLs under base (the
// externally visible server URL).
func (s *Server) TileJSON(ctx context.Context, names []string, base string) (*TileJSON, error) {
	tj := &TileJSON{TileJSON: "3.0.0", Name: strings.Join(names, ","), Scheme: "xyz", MinZoom: int(MaxZoom)}
	var versions, attributions []string
	var bounds *[4]float64
	for _, name := range names {
		l, err := s.reg.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		st, err := s.reg.Stats(ctx, l)
		if err != nil {
			return nil, err
		}
		vl := VectorLayer{ID: l.Name, Description: l.Title + ". " + l.Description, Fields: map[string]string{"id": "Number"}, MinZoom: l.MinZoom, MaxZoom: l.MaxZoom}
		for _, c := range l.Columns {
			if !c.IsGeometry() {
				vl.Fields[c.Name] = c.JSONType()
			}
		}
		if l.GeometryType == "polygon" {
			// Below the full-resolution zooms, polygons too small to draw
			// come as aggregated blocks carrying this count.
			vl.Fields[AggregateCountField] = "Number"
		}
		tj.VectorLayers = append(tj.VectorLayers, vl)
		tj.MinZoom = min(tj.MinZoom, l.MinZoom)
		tj.MaxZoom = max(tj.MaxZoom, l.MaxZoom)
		versions = append(versions, l.Name+"@"+strconv.FormatInt(l.Version, 10))
		if l.Attribution != "" && !slices.Contains(attributions, l.Attribution) {
			attributions = append(attributions, l.Attribution)
		}
		if st.Bounds != nil {
			if bounds == nil {
				b := *st.Bounds
				bounds = &b
			} else {
				bounds[0], bounds[1] = min(bounds[0], st.Bounds[0]), min(bounds[1], st.Bounds[1])
				bounds[2], bounds[3] = max(bounds[2], st.Bounds[2]), max(bounds[3], st.Bounds[3])
			}
		}
	}
	tj.Version = strings.Join(versions, ",")
	tj.Attribution = strings.Join(attributions, "; ")
	escaped := make([]string, len(names))
	for i, n := range names {
		escaped[i] = url.PathEscape(n)
	}
	tj.Tiles = []string{base + "/tiles/" + strings.Join(escaped, ",") + "/{z}/{x}/{y}.mvt"}
	if bounds == nil {
		tj.Bounds = [4]float64{-180, -85.05112878, 180, 85.05112878}
	} else {
		tj.Bounds = *bounds
	}
	zoom := float64(max(tj.MinZoom, min(8, tj.MaxZoom)))
	tj.Center = [3]float64{(tj.Bounds[0] + tj.Bounds[2]) / 2, (tj.Bounds[1] + tj.Bounds[3]) / 2, zoom}
	return tj, nil
}
