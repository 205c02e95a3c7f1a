// Package geojsonstream reads GeoJSON (RFC 7946, and the 2008 draft's crs
// member) one feature at a time, so a 200 MB FeatureCollection never sits
// in memory whole.
//
// Attribute values are kept as raw JSON: long numeric codes keep every
// digit. A feature whose geometry cannot be used (null, empty, unknown
// type, non-finite or malformed coordinates) comes back with Skip set to
// the reason; only a file that is not JSON, or not GeoJSON, is an error.
package geojsonstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/paulmach/orb/geojson"

	"github.com/gusu-gis/gusu/geo/feature"
)

// ErrFormat marks input that is not usable GeoJSON.
var ErrFormat = errors.New("malformed GeoJSON")

// Feature is one feature of the input.
type Feature = feature.Feature

// Reader streams features.
type Reader struct {
	dec     *json.Decoder
	state   int // 0 start, 1 inside features array, 2 after features, 3 done
	index   int
	crsName string
	sawType string
	// A top-level Feature's members, kept until the object ends.
	topGeometry, topProperties json.RawMessage
	emitted                    bool
}

// NewReader starts reading r. A leading UTF-8 byte-order mark (written by
// some Windows tools) is skipped.
func NewReader(r io.Reader) *Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		_, _ = br.Discard(3)
	}
	d := json.NewDecoder(br)
	d.UseNumber()
	return &Reader{dec: d}
}

// CRSName is the name in the legacy crs member ("urn:ogc:def:crs:EPSG::4549"),
// empty if there is none. It is known once the member has been read; after
// io.EOF it is final.
func (r *Reader) CRSName() string { return r.crsName }

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Next returns the next feature, or io.EOF.
func (r *Reader) Next() (Feature, error) {
	for {
		switch r.state {
		case 0:
			if err := r.readUntilFeatures(); err != nil {
				return Feature{}, err
			}
		case 1:
			if r.dec.More() {
				var raw json.RawMessage
				if err := r.dec.Decode(&raw); err != nil {
					return Feature{}, formatErr("feature %d: %v", r.index, err)
				}
				f := parseFeature(raw, r.index)
				r.index++
				return f, nil
			}
			if _, err := r.dec.Token(); err != nil { // ]
				return Feature{}, formatErr("after features: %v", err)
			}
			r.state = 2
		case 2:
			if err := r.readRest(); err != nil {
				return Feature{}, err
			}
			r.state = 3
		default:
			if r.sawType == "Feature" && !r.emitted {
				r.emitted = true
				raw, _ := json.Marshal(map[string]json.RawMessage{"type": json.RawMessage(`"Feature"`), "geometry": orNull(r.topGeometry), "properties": orNull(r.topProperties)})
				f := parseFeature(raw, 0)
				r.index++
				return f, nil
			}
			if r.index == 0 {
				return Feature{}, formatErr("no features: the file holds no \"features\" array or it is empty")
			}
			return Feature{}, io.EOF
		}
	}
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// readUntilFeatures reads top-level members up to the features array.
func (r *Reader) readUntilFeatures() error {
	tok, err := r.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return formatErr("the file is empty")
		}
		return formatErr("not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return formatErr("the top level is not a JSON object")
	}
	for r.dec.More() {
		key, err := r.key()
		if err != nil {
			return err
		}
		switch key {
		case "features":
			tok, err := r.dec.Token()
			if err != nil {
				return formatErr("features: %v", err)
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return formatErr("\"features\" is not an array")
			}
			r.state = 1
			return nil
		default:
			if err := r.member(key); err != nil {
				return err
			}
		}
	}
	return r.finishObject()
}

func (r *Reader) key() (string, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return "", formatErr("%v", err)
	}
	k, ok := tok.(string)
	if !ok {
		return "", formatErr("expected a member name, got %v", tok)
	}
	return k, nil
}

// member handles a top-level member other than features.
func (r *Reader) member(key string) error {
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return formatErr("member %q: %v", key, err)
	}
	switch key {
	case "geometry":
		r.topGeometry = raw
	case "properties":
		r.topProperties = raw
	case "type":
		var t string
		if json.Unmarshal(raw, &t) != nil {
			return formatErr("\"type\" is not a string")
		}
		r.sawType = t
		switch t {
		case "FeatureCollection", "Feature":
		default:
			return formatErr("type %q: upload a FeatureCollection or a Feature", t)
		}
	case "crs":
		var c struct {
			Type       string `json:"type"`
			Properties struct {
				Name string `json:"name"`
			} `json:"properties"`
		}
		if json.Unmarshal(raw, &c) == nil && c.Properties.Name != "" {
			r.crsName = c.Properties.Name
		} else if !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return formatErr("the crs member is not of the form {\"type\":\"name\",\"properties\":{\"name\":...}}")
		}
	}
	return nil
}

func (r *Reader) readRest() error {
	for r.dec.More() {
		key, err := r.key()
		if err != nil {
			return err
		}
		if err := r.member(key); err != nil {
			return err
		}
	}
	return r.finishObject()
}

func (r *Reader) finishObject() error {
	if _, err := r.dec.Token(); err != nil { // }
		return formatErr("unterminated object: %v", err)
	}
	if r.sawType == "" {
		return formatErr("no \"type\" member: not GeoJSON")
	}
	if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
		return formatErr("data after the GeoJSON object")
	}
	r.state = 3
	return nil
}

// parseFeature turns one feature's JSON into a Feature, recording why it
// cannot be used instead of failing the file.
func parseFeature(raw json.RawMessage, index int) Feature {
	f := Feature{Index: index}
	var parts struct {
		Type       string          `json:"type"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil || parts.Type != "Feature" {
		f.Skip = "not a GeoJSON Feature object"
		return f
	}
	if len(parts.Properties) > 0 && !bytes.Equal(parts.Properties, []byte("null")) {
		props, order, err := orderedObject(parts.Properties)
		if err != nil {
			f.Skip = "properties is not a JSON object"
			return f
		}
		f.Properties, f.Order = props, order
	}
	if len(parts.Geometry) == 0 || bytes.Equal(parts.Geometry, []byte("null")) {
		f.Skip = "null geometry"
		return f
	}
	g, err := geojson.UnmarshalGeometry(parts.Geometry)
	if err != nil {
		f.Skip = "unreadable geometry: " + err.Error()
		return f
	}
	f.Geometry = g.Geometry()
	if reason := feature.Check(f.Geometry); reason != "" {
		f.Skip = reason
		f.Geometry = nil
	}
	return f
}

// orderedObject decodes a JSON object's members as raw values, keeping the
// order of their names (a map would lose it, and columns should follow the file).
func orderedObject(raw json.RawMessage) (map[string]json.RawMessage, []string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, nil, err
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, nil, errors.New("not an object")
	}
	out := map[string]json.RawMessage{}
	var order []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := out[k]; !dup {
			order = append(order, k)
		}
		out[k] = v
	}
	return out, order, nil
}
