package access

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// CoverageHeader is the coverage table's header: one row per band for all
// demand, then one per unit of that band when grouped.
var CoverageHeader = []string{"category", "minutes", "unit_id", "unit_code", "unit_name", "covered", "total", "share"}

// CoverageRows is the coverage table of a catchment run.
func (r *CatchmentResult) CoverageRows() [][]string {
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	var rows [][]string
	add := func(category string, cov []BandCoverage) {
		for _, b := range cov {
			rows = append(rows, []string{category, num(b.Minutes), "", "", "all", num(b.Covered), num(b.Total), num(b.Share)})
			for _, u := range b.Units {
				rows = append(rows, []string{category, num(b.Minutes), strconv.FormatInt(u.ID, 10), u.Code, u.Name, num(u.Covered), num(u.Total), num(u.Share)})
			}
		}
	}
	add("", r.Coverage)
	for _, c := range r.Categories {
		add(c.Category, c.Coverage)
	}
	return rows
}

// WriteCSV writes the coverage table as CSV.
func (r *CatchmentResult) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(CoverageHeader)
	cw.WriteAll(r.CoverageRows())
	return cw.Error()
}

// WriteXLSX writes the coverage table as an Excel workbook: the table on
// sheet "coverage" (numbers as numbers), and on sheet "about" what the
// answer rests on (network, note, demand, layer versions).
func (r *CatchmentResult) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "coverage"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	for i, h := range CoverageHeader {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		f.SetCellValue(sheet, cell, h)
	}
	row := 2
	put := func(vals ...any) {
		for i, v := range vals {
			cell, _ := excelize.CoordinatesToCellName(i+1, row)
			f.SetCellValue(sheet, cell, v)
		}
		row++
	}
	add := func(category any, cov []BandCoverage) {
		for _, b := range cov {
			put(category, b.Minutes, nil, nil, "all", b.Covered, b.Total, b.Share)
			for _, u := range b.Units {
				put(category, b.Minutes, u.ID, u.Code, u.Name, u.Covered, u.Total, u.Share)
			}
		}
	}
	add(nil, r.Coverage)
	for _, c := range r.Categories {
		add(c.Category, c.Coverage)
	}
	if _, err := f.NewSheet("about"); err != nil {
		return err
	}
	keys := []string{"network", "note", "mode", "scenario", "split", "preset", "origins", "demand", "group_by", "layer_versions", "network_built_at", "parameters"}
	for i, k := range keys {
		v, ok := r.Meta[k]
		if !ok {
			continue
		}
		text, isString := v.(string)
		if !isString {
			b, _ := json.Marshal(v)
			text = string(b)
		}
		f.SetCellValue("about", fmt.Sprintf("A%d", i+1), k)
		f.SetCellValue("about", fmt.Sprintf("B%d", i+1), text)
	}
	_, err := f.WriteTo(w)
	return err
}

// catchmentsPOST is POST /api/catchments.
func (s *Service) catchmentsPOST(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	for k := range r.URL.Query() {
		if k != "format" && k != "token" {
			return bad("unknown parameter %q; the request is a JSON body (the query string takes format=geojson|csv|xlsx)", k)
		}
	}
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
		format = "csv"
	}
	switch format {
	case "", "geojson", "json", "csv", "xlsx":
	default:
		return bad("format must be geojson, csv or xlsx, not %q", format)
	}
	var req CatchmentRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bad(`the body must be JSON {"origins": {"layer": NAME, "where": {ATTR: VALUE}} or {"points": [[lon, lat], ...]}, "mode": "walk|cycle|drive|transit", "minutes": [15, 30], ...}: %v`, err)
	}
	if dec.More() {
		return bad("the body must hold one JSON object")
	}
	saveAs, user := req.SaveAs, ""
	if saveAs != "" {
		var err error
		if user, err = s.requireEditor(r); err != nil {
			return err
		}
		req.SaveAs = ""
	}
	res, err := s.Catchments(r.Context(), req, s.CanSeePrivate == nil || s.CanSeePrivate(r))
	if err != nil {
		return err
	}
	if saveAs != "" {
		rep, err := s.Save(r.Context(), saveAs, user, req, res)
		if err != nil {
			return err
		}
		res.Meta["saved"] = map[string]any{"layer": saveAs, "version": rep.LayerVersion, "features": rep.FeaturesWritten, "diff": rep.Diff,
			"links": map[string]string{"layer": "/api/layers/" + saveAs, "tiles": "/tiles/" + saveAs + "/{z}/{x}/{y}.mvt",
				"recompute": "/api/catchments/saved/" + saveAs + "/recompute"}}
	}
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="coverage.csv"`)
		return res.WriteCSV(w)
	case "xlsx":
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="coverage.xlsx"`)
		return res.WriteXLSX(w)
	}
	w.Header().Set("Content-Type", "application/geo+json")
	return res.WriteGeoJSON(w)
}

// WriteGeoJSON writes the answer as the API gives it: the features with
// the coverage, uncovered demand, network, note and metadata beside them.
func (r *CatchmentResult) WriteGeoJSON(w io.Writer) error {
	r.Features.ExtraMembers = extraMembers(r)
	return json.NewEncoder(w).Encode(r.Features)
}

// extraMembers is the FeatureCollection's extra members: the coverage table,
// the uncovered demand, the network and note (as isochrones have them)
// and the metadata.
func extraMembers(res *CatchmentResult) map[string]any {
	m := map[string]any{"coverage": res.Coverage, "uncovered": res.Uncovered,
		"network": res.Meta["network"], "note": res.Meta["note"], "metadata": res.Meta}
	if res.Categories != nil {
		m["categories"] = res.Categories
	}
	if res.Comparison != nil {
		m["comparison"] = res.Comparison
	}
	return m
}
