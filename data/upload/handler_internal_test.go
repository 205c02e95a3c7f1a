package upload

import (
	"errors"
	"strings"
	"testing"
)

// A reader's error that quotes the spool's server path reaches the client
// with the client's own file name instead.
func TestHidePath(t *testing.T) {
	path := "/tmp/gusu-upload-12345.gpkg"
	err := hidePath(badInput("malformed GeoPackage: cannot open "+path+": locked"), path, "规划.gpkg")
	var ue *Error
	if !errors.As(err, &ue) || strings.Contains(ue.Msg, "/tmp") || !strings.Contains(ue.Msg, "规划.gpkg") {
		t.Fatalf("%v", err)
	}
	for _, name := range []string{"a.ZIP", "../../etc/passwd", "x.geo json", "x." + strings.Repeat("a", 20)} {
		if ext := spoolExt(name); strings.ContainsAny(ext, "/ ") || len(ext) > 10 {
			t.Errorf("spoolExt(%q) = %q", name, ext)
		}
	}
}
