// Package data is gusu's PostGIS side. This root package only carries the
// bundled Suzhou dataset (built by `gusu data build` from shared/data/raw);
// the sub-packages manage the cluster (pgcluster), the schema (migrate), the
// connection (database), loading the bundle (bundle) and the layer
// registry and feature API (layers).
package data

import "embed"

// Suzhou holds suzhou/*.geojson: one FeatureCollection per planning layer.
//
//go:embed suzhou/*.geojson
var Suzhou embed.FS

// Plan is plan.json: the plan's indicator figures (2020 baselines, 2025
// targets) with their source, for gusu's plan monitoring.
//
//go:embed plan.json
var Plan []byte
