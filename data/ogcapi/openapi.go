package ogcapi

import (
	"net/http"
)

// openAPI is the OpenAPI 3.0 definition of the routes (conformance class
// oas30): paths, their parameters and responses.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	b := a.base(r)
	ref := func(name string) map[string]any { return map[string]any{"$ref": "#/components/parameters/" + name} }
	jsonResp := func(desc string, types ...string) map[string]any {
		content := map[string]any{}
		for _, t := range types {
			content[t] = map[string]any{"schema": map[string]any{"type": "object"}}
		}
		return map[string]any{"200": map[string]any{"description": desc, "content": content},
			"400": map[string]any{"description": "a parameter is wrong; the JSON body says which"},
			"401": map[string]any{"description": "the collection is private: send Authorization: Bearer <token>"},
			"404": map[string]any{"description": "no such collection or feature"}}
	}
	op := func(id, summary string, params []any, resp map[string]any) map[string]any {
		return map[string]any{"get": map[string]any{"operationId": id, "summary": summary, "parameters": params, "responses": resp}}
	}
	crsEnum := crsURIs()
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "gusu OGC API – Features", "version": "1.0",
			"description": "Suzhou's planning layers. Features are GeoJSON; coordinates in CRS84 unless crs= asks otherwise (Content-Crs says which). Attribute filters: any attribute listed by /collections/{collectionId}/queryables, as ?name=value (equality)."},
		"servers": []any{map[string]any{"url": b}},
		"paths": map[string]any{
			"/":            op("getLandingPage", "landing page", []any{ref("f")}, jsonResp("the landing page", typeJSON, typeHTML)),
			"/conformance": op("getConformanceDeclaration", "conformance classes", []any{ref("f")}, jsonResp("the conformance classes", typeJSON, typeHTML)),
			"/collections": op("getCollections", "the collections", []any{ref("f")}, jsonResp("the collections", typeJSON, typeHTML)),
			"/collections/{collectionId}": op("describeCollection", "one collection", []any{ref("collectionId"), ref("f")},
				jsonResp("the collection", typeJSON, typeHTML)),
			"/collections/{collectionId}/items": op("getFeatures", "the features of a collection, paged",
				[]any{ref("collectionId"), ref("limit"), ref("bbox"), ref("bbox-crs"), ref("crs"), ref("datetime"), ref("after"), ref("f")},
				jsonResp("a page of features; a next link while more may follow", typeGeoJSON, typeHTML)),
			"/collections/{collectionId}/items/{featureId}": op("getFeature", "one feature",
				[]any{ref("collectionId"), ref("featureId"), ref("crs"), ref("f")}, jsonResp("the feature", typeGeoJSON, typeHTML)),
		},
		"components": map[string]any{"parameters": map[string]any{
			"f": map[string]any{"name": "f", "in": "query", "required": false, "description": "the representation; otherwise the Accept header decides",
				"schema": map[string]any{"type": "string", "enum": []string{"json", "html"}}},
			"collectionId": map[string]any{"name": "collectionId", "in": "path", "required": true, "schema": map[string]any{"type": "string"}},
			"featureId":    map[string]any{"name": "featureId", "in": "path", "required": true, "schema": map[string]any{"type": "integer"}},
			"limit": map[string]any{"name": "limit", "in": "query", "required": false, "style": "form", "explode": false,
				"schema": map[string]any{"type": "integer", "minimum": 1, "maximum": maxLimit, "default": defaultLimit}},
			"bbox": map[string]any{"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
				"schema": map[string]any{"type": "array", "minItems": 4, "maxItems": 6, "items": map[string]any{"type": "number"}}},
			"bbox-crs": map[string]any{"name": "bbox-crs", "in": "query", "required": false, "schema": map[string]any{"type": "string", "format": "uri", "enum": crsEnum}},
			"crs":      map[string]any{"name": "crs", "in": "query", "required": false, "schema": map[string]any{"type": "string", "format": "uri", "enum": crsEnum}},
			"datetime": map[string]any{"name": "datetime", "in": "query", "required": false, "description": "accepted; gusu's layers carry no time, so it filters nothing",
				"schema": map[string]any{"type": "string"}},
			"after": map[string]any{"name": "after", "in": "query", "required": false, "description": "keyset paging: the features after this id (what next links carry)",
				"schema": map[string]any{"type": "integer"}},
		}},
	}
	w.Header().Set("Content-Type", typeOpenAPI)
	encodeJSON(w, doc)
	return nil
}
