package upload

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzZippedShapefile feeds arbitrary bytes to the zip handling and the
// Shapefile reader behind it: it may refuse them (as *Error), never panic,
// hang or write outside its temp dir.
func FuzzZippedShapefile(f *testing.F) {
	for _, name := range []string{"districts_4549_gbk.zip", "districts_4490_utf8.zip"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "uploads", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	fw, _ := w.Create("../x.shp")
	fw.Write([]byte("x"))
	w.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "in.zip")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := openSource(context.Background(), p, "in.zip", Options{})
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("error is not an upload error: %v", err)
			}
			return
		}
		defer src.close()
		for i := 0; i < 100000; i++ {
			if _, err := src.next(); err != nil {
				var ue *Error
				if !errors.Is(err, io.EOF) && !errors.As(err, &ue) {
					t.Fatalf("read error is not an upload error: %v", err)
				}
				return
			}
		}
		t.Fatal("reader did not end")
	})
}
