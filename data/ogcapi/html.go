package ogcapi

import (
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
)

// The HTML representation: plain pages a person can browse (links, tables
// of attributes), escaped by html/template.
var pages = template.Must(template.New("").Funcs(template.FuncMap{"json": func(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}}).Parse(`
{{define "head"}}<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{{.}} — gusu OGC API</title>
<style>body{font:14px/1.5 system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}code{font-size:90%}</style></head><body>{{end}}
{{define "links"}}<ul>{{range .}}<li><a href="{{.Href}}">{{if .Title}}{{.Title}}{{else}}{{.Rel}}{{end}}</a> <small>({{.Rel}}{{if .Type}}, {{.Type}}{{end}})</small></li>{{end}}</ul>{{end}}
{{define "landing"}}{{template "head" .title}}<h1>{{.title}}</h1><p>{{.description}}</p>{{template "links" .links}}</body></html>{{end}}
{{define "conformance"}}{{template "head" "Conformance"}}<h1>Conformance classes</h1><ul>{{range .conformsTo}}<li><code>{{.}}</code></li>{{end}}</ul></body></html>{{end}}
{{define "collections"}}{{template "head" "Collections"}}<h1>Collections</h1><table><tr><th>id</th><th>title</th><th>description</th><th></th></tr>
{{range .collections}}<tr><td><code>{{.id}}</code></td><td>{{.title}}</td><td>{{.description}}</td><td>{{range .links}}{{if eq .Type "text/html"}}<a href="{{.Href}}">{{.Title}}</a><br>{{end}}{{end}}</td></tr>{{end}}</table></body></html>{{end}}
{{define "collection"}}{{template "head" .title}}<h1>{{.title}} <small><code>{{.id}}</code></small></h1><p>{{.description}}</p>
<p>{{.attribution}} · {{.license}} · version {{.version}}</p>{{if .extent}}<p>extent (CRS84): <code>{{json .extent.spatial.bbox}}</code></p>{{end}}{{template "links" .links}}</body></html>{{end}}
{{define "items"}}{{template "head" .layer.Title}}<h1>{{.layer.Title}}: features</h1><p>coordinates in <code>{{.crs}}</code></p>{{template "links" .links}}
<table><tr><th>id</th><th>attributes</th><th>geometry</th></tr>{{range .features}}<tr><td>{{.ID}}</td><td>{{range .Props}}<b>{{.K}}</b>: {{.V}}<br>{{end}}</td><td><small>{{.Type}}</small></td></tr>{{end}}</table></body></html>{{end}}
{{define "item"}}{{template "head" .layer.Title}}<h1>{{.layer.Title}}: feature {{.feature.ID}}</h1><table>{{range .feature.Props}}<tr><th>{{.K}}</th><td>{{.V}}</td></tr>{{end}}</table>
<p>{{.feature.Type}} in <code>{{.crs}}</code></p>{{template "links" .links}}</body></html>{{end}}
`))

type kv struct{ K, V string }

type htmlFeature struct {
	ID    int64
	Type  string
	Props []kv
}

// htmlFeatures flattens features for the tables, attributes by name.
func htmlFeatures(fs []feature) []htmlFeature {
	out := make([]htmlFeature, 0, len(fs))
	for _, f := range fs {
		h := htmlFeature{ID: f.ID}
		var g struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(f.Geometry, &g)
		h.Type = g.Type
		var props map[string]any
		_ = json.Unmarshal(f.Properties, &props)
		for k, v := range props {
			s, ok := v.(string)
			if !ok {
				b, _ := json.Marshal(v)
				s = string(b)
			}
			h.Props = append(h.Props, kv{k, s})
		}
		sort.Slice(h.Props, func(i, j int) bool { return h.Props[i].K < h.Props[j].K })
		out = append(out, h)
	}
	return out
}

func renderHTML(w http.ResponseWriter, name string, data any) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	return pages.ExecuteTemplate(w, name, data)
}
