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
		// The upload stops at the first error, as this does; a reader must
		// end (ErrEnd or an error) rather than yield rows without end.
		for i := 0; i < 100000; i++ {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, ErrEnd) && !errors.Is(err, ErrFormat) {
					t.Fatalf("error of another kind: %v", err)
				}
				return
			}
		}
		t.Fatalf("over 100000 features from a %d-byte file", len(data))
	})
}
