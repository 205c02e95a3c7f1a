package tiles

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gusu-gis/gusu/data/httpapi"
)

// LabelFont is the font stack the style's labels name.
const LabelFont = "Noto Sans Regular"

// glyphs answers /fonts/{fontstack}/{start}-{end}.pbf with a valid glyph
// set that holds no glyphs. gusu bundles no SDF fonts: MapLibre draws CJK
// text (all of Suzhou's names) with the browser's own fonts
// (localIdeographFontFamily, on by default), and an empty set keeps it from
// erroring, offline, on the ranges it would otherwise fetch. Latin text in
// labels is therefore not drawn.
func (h *Handler) glyphs(w http.ResponseWriter, r *http.Request) error {
	v := mux.Vars(r)
	rng := strings.TrimSuffix(v["range"], ".pbf")
	lo, hi, ok := strings.Cut(rng, "-")
	start, err1 := strconv.Atoi(lo)
	end, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || start < 0 || start%256 != 0 || end != start+255 || end > 65535 || !strings.HasSuffix(v["range"], ".pbf") {
		return httpapi.BadRequest(fmt.Sprintf("glyph range must be {start}-{start+255}.pbf with start a multiple of 256, got %q", v["range"]), nil)
	}
	// glyphs { stacks: fontstack { name: 1, range: 2 } } per the glyph protocol.
	var stack []byte
	stack = protowire.AppendTag(stack, 1, protowire.BytesType)
	stack = protowire.AppendString(stack, v["fontstack"])
	stack = protowire.AppendTag(stack, 2, protowire.BytesType)
	stack = protowire.AppendString(stack, rng)
	var msg []byte
	msg = protowire.AppendTag(msg, 1, protowire.BytesType)
	msg = protowire.AppendBytes(msg, stack)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(msg)
	return nil
}
