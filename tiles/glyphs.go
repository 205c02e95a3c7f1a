package tiles

import (
	"embed"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gusu-gis/gusu/data/httpapi"
)

// LabelFont is the font stack the style's labels name.
const LabelFont = "Noto Sans Regular"

// fonts holds the glyph ranges gusu serves itself: Noto Sans (SIL Open
// Font License, fonts/OFL.txt) for Latin, Greek, Cyrillic and
// punctuation, rendered to signed-distance fields by `gusu data glyphs`.
//
//go:embed fonts
var fonts embed.FS

// FontDir is the directory of a fontstack's glyphs under fonts/.
func FontDir(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), " ", "-")
}

// glyphs answers /fonts/{fontstack}/{start}-{end}.pbf: the first font of
// the stack that gusu has, for the ranges it has (Latin and the like);
// otherwise a valid glyph set with no glyphs. CJK text (most of Suzhou's
// names) is drawn by MapLibre with the browser's own fonts
// (localIdeographFontFamily), which keeps the download small, and an empty
// set keeps it from erroring, offline, on ranges it would otherwise fetch.
func (h *Handler) glyphs(w http.ResponseWriter, r *http.Request) error {
	v := mux.Vars(r)
	rng := strings.TrimSuffix(v["range"], ".pbf")
	lo, hi, ok := strings.Cut(rng, "-")
	start, err1 := strconv.Atoi(lo)
	end, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || start < 0 || start%256 != 0 || end != start+255 || end > 65535 || !strings.HasSuffix(v["range"], ".pbf") {
		return httpapi.BadRequest(fmt.Sprintf("glyph range must be {start}-{start+255}.pbf with start a multiple of 256, got %q", v["range"]), nil)
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	for _, name := range strings.Split(v["fontstack"], ",") {
		if b, err := fonts.ReadFile(path.Join("fonts", FontDir(name), rng+".pbf")); err == nil {
			_, _ = w.Write(b)
			return nil
		}
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
	_, _ = w.Write(msg)
	return nil
}
