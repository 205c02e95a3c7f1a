package upload

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/gusu-gis/gusu/geo/crs"
	"github.com/gusu-gis/gusu/geo/feature"
	"github.com/gusu-gis/gusu/geo/geojsonstream"
	"github.com/gusu-gis/gusu/geo/gpkg"
	"github.com/gusu-gis/gusu/geo/shp"
)

// Zip limits: a Shapefile needs a handful of entries; anything far beyond
// these is a mistake or a zip bomb.
const (
	maxZipEntries      = 200
	maxZipUncompressed = 4 << 30 // 4 GiB
	maxZipRatio        = 1000    // uncompressed/compressed of any entry
)

// Formats gusu accepts.
const (
	FormatGeoJSON   = "GeoJSON"
	FormatShapefile = "Shapefile"
	FormatGPKG      = "GeoPackage"
)

// source yields features from an uploaded file.
type source struct {
	format string
	// declared is the CRS the file states; declaredErr why it states none usable.
	declared    *crs.CRS
	declaredErr error
	next        func() (feature.Feature, error) // io.EOF at the end
	close       func() error
	// lateCRS reports a CRS that only becomes known at the end (GeoJSON's crs member may follow the features).
	lateCRS func() (*crs.CRS, error)
	detail  map[string]any
}

// openSource detects the format of the spooled file at path (named name by
// the client) and opens it.
func openSource(ctx context.Context, path, name string, opts Options) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	f.Close()
	if n == 0 {
		return nil, badInput("the file is empty")
	}
	ext := strings.ToLower(filepath.Ext(name))
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || ext == ".zip":
		return openZip(ctx, path, name, opts)
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")) || ext == ".gpkg":
		return openGPKG(path, opts)
	case ext == ".geojson" || ext == ".json" || startsJSON(head):
		return openGeoJSON(path)
	case ext == ".shp" || ext == ".dbf" || ext == ".shx":
		return nil, badInput("a Shapefile is several files: zip the .shp with its .shx, .dbf and .prj (and .cpg) and upload the .zip")
	case gdalExts[ext] != "" && ext != ".gdb":
		return openWithGDAL(ctx, path, name, nil, opts)
	}
	return nil, &Error{Kind: Unsupported, Msg: fmt.Sprintf("unsupported file %q: format not supported (accepted: %s)", name, accepted())}
}

func startsJSON(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n\xef\xbb\xbf")
	return len(t) > 0 && t[0] == '{'
}

func openGeoJSON(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := geojsonstream.NewReader(f)
	s := &source{format: FormatGeoJSON, close: f.Close}
	s.next = func() (feature.Feature, error) {
		ft, err := r.Next()
		if errors.Is(err, geojsonstream.ErrFormat) {
			return ft, badInput(err.Error())
		}
		return ft, err
	}
	s.lateCRS = func() (*crs.CRS, error) {
		if r.CRSName() == "" {
			return nil, nil
		}
		c, err := crs.ParseUser(r.CRSName())
		if err != nil {
			return nil, badInput(fmt.Sprintf("the file's crs member %q is not understood: %v", r.CRSName(), err))
		}
		return &c, nil
	}
	return s, nil
}

func openGPKG(path string, opts Options) (*source, error) {
	r, err := gpkg.Open(path, opts.Table)
	if err != nil {
		if errors.Is(err, gpkg.ErrFormat) {
			return nil, badInput(err.Error())
		}
		return nil, err
	}
	s := &source{format: FormatGPKG, close: r.Close, detail: map[string]any{"table": r.Table}}
	if r.CRSErr == nil {
		c := r.CRS
		s.declared = &c
	} else {
		s.declaredErr = r.CRSErr
	}
	s.next = func() (feature.Feature, error) {
		f, err := r.Next()
		if errors.Is(err, gpkg.ErrEnd) {
			return f, io.EOF
		}
		if errors.Is(err, gpkg.ErrFormat) {
			return f, badInput(err.Error())
		}
		return f, err
	}
	return s, nil
}

// checkZip refuses archives that could exhaust the server or escape a
// directory: too many entries, too large uncompressed, absurd compression
// ratios, absolute paths or "..".
func checkZip(z *zip.Reader) error {
	if len(z.File) > maxZipEntries {
		return badInput(fmt.Sprintf("the zip has %d entries; a Shapefile needs a handful (limit %d)", len(z.File), maxZipEntries))
	}
	var total uint64
	for _, f := range z.File {
		name := f.Name
		if strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || (len(name) > 1 && name[1] == ':') {
			return badInput(fmt.Sprintf("the zip entry %q has an absolute path", name))
		}
		for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
			if part == ".." {
				return badInput(fmt.Sprintf("the zip entry %q climbs out of the archive (..)", name))
			}
		}
		total += f.UncompressedSize64
		if f.CompressedSize64 > 0 && f.UncompressedSize64/f.CompressedSize64 > maxZipRatio {
			return badInput(fmt.Sprintf("the zip entry %q expands %d-fold: refused as a possible zip bomb", name, f.UncompressedSize64/f.CompressedSize64))
		}
	}
	if total > maxZipUncompressed {
		return badInput(fmt.Sprintf("the zip would expand to %d MiB (limit %d MiB)", total>>20, maxZipUncompressed>>20))
	}
	return nil
}

// openZip reads a zip: a Shapefile with gusu's own reader, else what GDAL
// reads (a FileGDB, MapInfo, KML — a KMZ is a zip — …), else a 415 naming
// what the zip holds.
func openZip(ctx context.Context, file, name string, opts Options) (*source, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, badInput("not a readable zip archive: " + err.Error())
	}
	fail := func(err error) (*source, error) { zr.Close(); return nil, err }
	decodeZipNames(&zr.Reader)
	if err := checkZip(&zr.Reader); err != nil {
		return fail(err)
	}
	shps, err := shp.FindShapefiles(zr)
	if err != nil {
		return fail(badInput("cannot list the zip's entries: " + err.Error()))
	}
	if len(shps) == 0 {
		defer zr.Close()
		src, err := openWithGDAL(ctx, file, name, &zr.Reader, opts)
		if src == nil && err == nil {
			return nil, noShapefile(&zr.Reader)
		}
		return src, err
	}
	return openZippedShapefile(zr, opts, shps)
}

func openZippedShapefile(zr *zip.ReadCloser, opts Options, shps []string) (*source, error) {
	fail := func(err error) (*source, error) { zr.Close(); return nil, err }
	var pick string
	switch {
	case len(shps) == 0:
		return fail(noShapefile(&zr.Reader))
	case opts.Table != "":
		for _, s := range shps {
			if strings.EqualFold(strings.TrimSuffix(path.Base(s), path.Ext(s)), opts.Table) {
				pick = s
			}
		}
		if pick == "" {
			return fail(badInput(fmt.Sprintf("the zip has no Shapefile %q; it has %s", opts.Table, strings.Join(shps, ", "))))
		}
	case len(shps) > 1:
		return fail(badInput(fmt.Sprintf("the zip holds %d Shapefiles (%s): name one with ?table=", len(shps), strings.Join(shps, ", "))))
	default:
		pick = shps[0]
	}
	r, err := shp.Open(newLimitFS(&zr.Reader), pick, shp.Options{Encoding: opts.Encoding})
	if err != nil {
		if errors.Is(err, shp.ErrFormat) {
			return fail(badInput(err.Error()))
		}
		return fail(badInput(fmt.Sprintf("cannot read %s: %v", pick, err)))
	}
	s := &source{format: FormatShapefile, detail: map[string]any{"shapefile": pick, "encoding": encodingName(r)}}
	var renamed []map[string]string
	for _, f := range r.Fields() {
		if f.FileName != "" {
			renamed = append(renamed, map[string]string{"field": f.FileName, "renamed_to": f.Name})
		}
	}
	if renamed != nil {
		s.detail["renamed_fields"] = renamed
		s.detail["renamed_note"] = "the .dbf names some fields twice (or not at all); each kept its values under a new name"
	}
	s.close = func() error { r.Close(); return zr.Close() }
	if r.PRJ != "" {
		c, err := crs.FromWKT(r.PRJ)
		if err != nil {
			s.declaredErr = err
		} else {
			s.declared = &c
		}
	} else {
		s.declaredErr = errors.New("the zip has no .prj file")
	}
	s.next = func() (feature.Feature, error) {
		f, err := r.Next()
		if err != nil {
			if errors.Is(err, shp.ErrFormat) {
				return feature.Feature{}, badInput(err.Error())
			}
			if errors.Is(err, io.EOF) {
				return feature.Feature{}, io.EOF
			}
			return feature.Feature{}, badInput(fmt.Sprintf("cannot read %s: %v", pick, err))
		}
		out := feature.Feature{Index: f.Index, Geometry: f.Geometry, Properties: map[string]json.RawMessage{}}
		for _, field := range r.Fields() {
			b, err := json.Marshal(f.Properties[field.Name])
			if err != nil {
				return feature.Feature{}, fmt.Errorf("attribute %q of record %d: %w", field.Name, f.Index, err)
			}
			out.Properties[field.Name] = b
			out.Order = append(out.Order, field.Name)
		}
		out.Skip = feature.Check(f.Geometry)
		if out.Skip != "" {
			out.Geometry = nil
		}
		return out, nil
	}
	return s, nil
}

// decodeZipNames turns entry names that are not UTF-8 into UTF-8, reading
// them as GB18030 (a superset of GBK): zips made by Windows on Chinese
// systems store names that way without saying so. It must run before the
// first Open, which indexes the names.
func decodeZipNames(z *zip.Reader) {
	for _, f := range z.File {
		if utf8.ValidString(f.Name) {
			continue
		}
		if name, err := simplifiedchinese.GB18030.NewDecoder().String(f.Name); err == nil && utf8.ValidString(name) {
			f.Name = name
		} else {
			f.Name = strings.ToValidUTF8(f.Name, "\uFFFD")
		}
	}
}

// otherFormats names what a zip holds when it holds no Shapefile: formats
// people zip up that gusu does not read itself.
var otherFormats = []struct{ ext, name string }{
	{".kml", "KML/KMZ"}, {".gdb", "Esri FileGDB"}, {".gdbtable", "Esri FileGDB"}, {".tab", "MapInfo TAB"}, {".mif", "MapInfo MIF"},
	{".dxf", "DXF"}, {".dwg", "DWG"}, {".gml", "GML"}, {".csv", "CSV"}, {".fgb", "FlatGeobuf"},
	{".geojson", "GeoJSON (upload the .geojson itself, unzipped)"}, {".gpkg", "GeoPackage (upload the .gpkg itself, unzipped)"},
}

// noShapefile explains a zip without a .shp: what it seems to hold, and
// what gusu accepts.
func noShapefile(z *zip.Reader) error {
	seen := map[string]bool{}
	found := []string{}
	for _, f := range z.File {
		for _, part := range strings.Split(strings.ToLower(f.Name), "/") {
			for _, o := range otherFormats {
				if strings.HasSuffix(part, o.ext) && !seen[o.name] {
					seen[o.name] = true
					found = append(found, o.name)
				}
			}
		}
	}
	msg := "the zip holds no Shapefile (.shp)"
	if len(found) > 0 {
		msg = "the zip holds " + strings.Join(found, ", ") + ", not a Shapefile"
	}
	if _, err := exec.LookPath("ogr2ogr"); err != nil && len(found) > 0 {
		msg += "; formats other than GeoJSON, Shapefile and GeoPackage are read through GDAL, which is not installed (apt-get install gdal-bin)"
	}
	return &Error{Kind: Unsupported, Msg: msg + ": format not supported (accepted: " + accepted() + ")", Detail: map[string]any{"found": found}}
}

// accepted lists the formats gusu reads, for error messages: its own
// three, and those GDAL converts when ogr2ogr is installed.
func accepted() string {
	own := "GeoJSON (.geojson), a zipped Shapefile (.zip with .shp, .shx, .dbf, .prj) or a GeoPackage (.gpkg)"
	if _, err := exec.LookPath("ogr2ogr"); err != nil {
		return own + "; with GDAL installed also KML/KMZ, zipped FileGDB, DXF, zipped MapInfo TAB/MIF, GML, FlatGeobuf and CSV"
	}
	return own + ", KML/KMZ, a zipped FileGDB (.gdb folder), DXF (with ?crs=), zipped MapInfo TAB/MIF, GML, FlatGeobuf, or CSV with a WKT or lon/lat columns"
}

func encodingName(r *shp.Reader) string {
	if r.Encoding == "" {
		return "UTF-8, else GB18030 (no .cpg)"
	}
	return r.Encoding
}

// limitFS enforces the zip limits on the bytes actually decompressed, not
// only on the sizes the headers declare (which a crafted archive can fake):
// each entry may expand at most maxZipRatio times its compressed size, and
// the archive at most maxZipUncompressed in all.
type limitFS struct {
	z     *zip.Reader
	total *int64
}

func newLimitFS(z *zip.Reader) fs.FS {
	var n int64
	return limitFS{z: z, total: &n}
}

func (l limitFS) Open(name string) (fs.File, error) {
	f, err := l.z.Open(name)
	if err != nil {
		return nil, err
	}
	limit := int64(maxZipUncompressed)
	for _, zf := range l.z.File {
		if zf.Name == name {
			limit = int64(zf.CompressedSize64)*maxZipRatio + 1<<20
		}
	}
	return &limitFile{File: f, name: name, left: limit, total: l.total}, nil
}

func (l limitFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(l.z, name) }

type limitFile struct {
	fs.File
	name  string
	left  int64
	total *int64
}

func (f *limitFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.left -= int64(n)
	*f.total += int64(n)
	if f.left < 0 {
		return n, badInput(fmt.Sprintf("the zip entry %q expands more than %d-fold: refused as a possible zip bomb", f.name, maxZipRatio))
	}
	if *f.total > maxZipUncompressed {
		return n, badInput(fmt.Sprintf("the zip expands beyond %d MiB: refused", maxZipUncompressed>>20))
	}
	return n, err
}
