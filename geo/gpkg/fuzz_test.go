package gpkg

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes as a GeoPackage: the reader may refuse
// them (ErrFormat), never panic or read without end.
func FuzzOpen(f *testing.F) {
	b, err := os.ReadFile(fixture)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "in.gpkg")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p, "")
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 100000; i++ {
			_, err := r.Next()
			if errors.Is(err, ErrEnd) {
				return
			}
			if err != nil && !errors.Is(err, ErrFormat) {
				return // an SQLite read error on a damaged page is a refusal too
			}
		}
		t.Fatal("over 100000 features from a fuzzed file")
	})
}
