package shp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/paulmach/orb"
)

// Feature is one shapefile record: geometry (nil for a null shape) and attributes.
type Feature struct {
	// Index is the 0-based record number, for error reports.
	Index      int
	Geometry   orb.Geometry
	Properties map[string]any
}

// Options tune Open.
type Options struct {
	// Encoding overrides the .cpg file (e.g. "GBK"). Empty: use .cpg, else
	// UTF-8 where valid and GB18030 otherwise.
	Encoding string
}

// Reader reads a shapefile's .shp and .dbf in step.
type Reader struct {
	geoms   *GeometryReader
	attrs   *AttributeReader
	closers []io.Closer
	// PRJ is the .prj file's WKT, empty if there is none.
	PRJ string
	// CPG is the .cpg file's content, empty if there is none.
	CPG string
	// Encoding is the text encoding in use, "" meaning UTF-8-else-GB18030.
	Encoding string
	// NumRecords is the record count the .dbf (and .shx) declare.
	NumRecords int
	n          int
}

// Open opens the shapefile whose .shp is at shpPath in fsys, with its
// sibling .shx, .dbf, .prj and .cpg found case-insensitively. The .shx is
// only used to check the record count; a missing .shx or .dbf is an error,
// since a shapefile without them is incomplete and loses attributes.
func Open(fsys fs.FS, shpPath string, opts Options) (*Reader, error) {
	dir, base := path.Split(shpPath)
	stem := strings.TrimSuffix(base, path.Ext(base))
	siblings, err := findSiblings(fsys, dir, stem)
	if err != nil {
		return nil, err
	}
	r := &Reader{}
	fail := func(err error) (*Reader, error) {
		r.Close()
		return nil, err
	}
	for _, ext := range []string{".shp", ".shx", ".dbf"} {
		if siblings[ext] == "" {
			return fail(formatErr("%s%s is missing: a shapefile needs .shp, .shx and .dbf", stem, ext))
		}
	}
	if p := siblings[".prj"]; p != "" {
		b, err := readSideFile(fsys, p)
		if err != nil {
			return fail(err)
		}
		r.PRJ = strings.TrimSpace(string(b))
	}
	if p := siblings[".cpg"]; p != "" {
		b, err := readSideFile(fsys, p)
		if err != nil {
			return fail(err)
		}
		r.CPG = strings.TrimSpace(string(b))
	}
	r.Encoding = r.CPG
	if opts.Encoding != "" {
		r.Encoding = opts.Encoding
	}

	shxCount, err := countShx(fsys, siblings[".shx"])
	if err != nil {
		return fail(err)
	}
	shpFile, err := fsys.Open(siblings[".shp"])
	if err != nil {
		return fail(fmt.Errorf("open %s: %w", siblings[".shp"], err))
	}
	r.closers = append(r.closers, shpFile)
	if r.geoms, err = NewGeometryReader(shpFile); err != nil {
		return fail(err)
	}
	dbfFile, err := fsys.Open(siblings[".dbf"])
	if err != nil {
		return fail(fmt.Errorf("open %s: %w", siblings[".dbf"], err))
	}
	r.closers = append(r.closers, dbfFile)
	if r.attrs, err = NewAttributeReader(dbfFile, r.Encoding); err != nil {
		return fail(err)
	}
	if shxCount != r.attrs.NumRecords {
		return fail(formatErr("record counts disagree: .shx indexes %d shapes, .dbf holds %d records", shxCount, r.attrs.NumRecords))
	}
	r.NumRecords = r.attrs.NumRecords
	return r, nil
}

// ShapeType is the geometry type the .shp header declares.
func (r *Reader) ShapeType() ShapeType { return r.geoms.Header.ShapeType }

// Fields lists the attribute columns.
func (r *Reader) Fields() []Field { return r.attrs.Fields }

// Next returns the next feature, skipping records the .dbf marks deleted,
// and io.EOF at the end.
func (r *Reader) Next() (Feature, error) {
	for {
		if r.n >= r.NumRecords {
			if _, err := r.geoms.Next(); !errors.Is(err, io.EOF) {
				return Feature{}, formatErr(".shp holds more shapes than the %d records of .dbf", r.NumRecords)
			}
			return Feature{}, io.EOF
		}
		g, err := r.geoms.Next()
		if errors.Is(err, io.EOF) {
			return Feature{}, formatErr(".shp ends after %d shapes, .dbf holds %d records", r.n, r.NumRecords)
		}
		if err != nil {
			return Feature{}, err
		}
		props, deleted, err := r.attrs.Next()
		if err != nil {
			return Feature{}, err
		}
		idx := r.n
		r.n++
		if deleted {
			continue
		}
		return Feature{Index: idx, Geometry: g, Properties: props}, nil
	}
}

// Close closes the underlying files.
func (r *Reader) Close() error {
	var errs []error
	for _, c := range r.closers {
		errs = append(errs, c.Close())
	}
	r.closers = nil
	return errors.Join(errs...)
}

func findSiblings(fsys fs.FS, dir, stem string) (map[string]string, error) {
	d := strings.TrimSuffix(dir, "/")
	if d == "" {
		d = "."
	}
	entries, err := fs.ReadDir(fsys, d)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d, err)
	}
	found := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(path.Ext(name))
		if e.IsDir() || !strings.EqualFold(strings.TrimSuffix(name, path.Ext(name)), stem) {
			continue
		}
		found[ext] = path.Join(dir, name)
	}
	return found, nil
}

// countShx returns the number of records a .shx indexes: its length after
// the 100-byte header, in 8-byte entries.
func countShx(fsys fs.FS, p string) (int, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	h, err := NewGeometryReader(f) // same header layout as .shp
	if err != nil {
		return 0, fmt.Errorf(".shx: %w", err)
	}
	n, err := io.Copy(io.Discard, h.r)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	if n%8 != 0 {
		return 0, formatErr(".shx is %d bytes after its header, not a whole number of 8-byte entries", n)
	}
	if declared := h.Header.FileLength - headerBytes; declared != n {
		return 0, formatErr(".shx header says %d bytes of entries, file holds %d", declared, n)
	}
	return int(n / 8), nil
}

// MaxSideFile bounds a .prj or .cpg: real ones are a few hundred bytes,
// and reading an unbounded one whole would let a tiny zip fill memory.
const MaxSideFile = 64 << 10

func readSideFile(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSideFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > MaxSideFile {
		return nil, formatErr("%s is over %d KiB; a .prj or .cpg is a few hundred bytes", path.Base(p), MaxSideFile>>10)
	}
	return b, nil
}

// FindShapefiles lists the .shp files in fsys (for example a zip archive),
// in lexical order.
func FindShapefiles(fsys fs.FS) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(path.Ext(p), ".shp") && !strings.HasPrefix(path.Base(p), "._") {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
