package upload

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gusu-gis/gusu/geo/gpkg"
)

// Formats gusu reads through GDAL, the reference implementation, rather
// than with readers of its own: the file is converted to a GeoPackage by
// ogr2ogr in a sandbox and then goes through the same pipeline (checks,
// CRS, versions, report) as any upload.
const (
	FormatKML       = "KML"
	FormatFileGDB   = "Esri FileGDB"
	FormatDXF       = "DXF"
	FormatMapInfo   = "MapInfo"
	FormatGML       = "GML"
	FormatFlatGeobf = "FlatGeobuf"
	FormatCSV       = "CSV"
)

// gdalExts maps a file's extension to the format GDAL reads it as.
var gdalExts = map[string]string{
	".kml": FormatKML, ".kmz": FormatKML, ".dxf": FormatDXF, ".gml": FormatGML, ".fgb": FormatFlatGeobf,
	".csv": FormatCSV, ".tab": FormatMapInfo, ".mif": FormatMapInfo, ".gdb": FormatFileGDB,
}

// gdalDrivers are the GDAL drivers that may open each format.
var gdalDrivers = map[string][]string{
	FormatKML: {"LIBKML", "KML"}, FormatFileGDB: {"OpenFileGDB"}, FormatDXF: {"DXF"}, FormatMapInfo: {"MapInfo File"},
	FormatGML: {"GML"}, FormatFlatGeobf: {"FlatGeobuf"}, FormatCSV: {"CSV"},
}

var driverRe = regexp.MustCompile("using driver `([^']+)' successful")

// gdalEnv is the sandbox's environment: its own HOME and temp dir; no
// network (every HTTP request goes to a proxy that does not exist); the
// drivers that read other files, run programs or reach servers skipped.
func gdalEnv(dir string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir, "CPL_TMPDIR=" + dir,
		"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "no_proxy=",
		"GDAL_HTTP_PROXY=127.0.0.1:9", "GDAL_HTTP_TIMEOUT=1", "GDAL_HTTP_MAX_RETRY=0", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS=.none",
		"OGR_SKIP=OGR_VRT,GPSBabel,OAPIF,OGCAPI,WFS,CSW,EEDA,Elasticsearch,Carto,AmigoCloud,PLSCENES,NGW,HTTP,PostgreSQL,MySQL,ODBC,PGeo,MSSQLSpatial,OGR_OGDI,GMLAS",
		"GDAL_SKIP=VRT,WMS,WMTS,WCS,DAAS,EEDAI,PLMOSAIC,OGCAPI,HTTP"}
}

// Sandbox limits of a conversion.
const (
	gdalTimeout  = 10 * time.Minute
	gdalMaxBytes = maxZipUncompressed // the converted GeoPackage
)

// gdalAbsent says what to install when ogr2ogr is missing.
func gdalAbsent(format string) error {
	return &Error{Kind: Unsupported, Msg: fmt.Sprintf("%s files are read through GDAL, which is not installed on this server: install it (apt-get install gdal-bin) or upload GeoJSON, a zipped Shapefile or a GeoPackage", format)}
}

var gdalVersion = sync.OnceValue(func() string {
	out, err := exec.Command("ogr2ogr", "--version").Output()
	if err != nil {
		return "GDAL"
	}
	v, _, _ := strings.Cut(strings.TrimSpace(string(out)), ",")
	return v
})

// gdalTarget finds what GDAL should open in an extracted archive: a
// FileGDB directory, a MapInfo or KML file, and so on; "" if nothing.
func gdalTarget(dir string) (string, string, error) {
	var found, format string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		f, ok := gdalExts[ext]
		if !ok || (ext == ".gdb") != d.IsDir() {
			return nil
		}
		found, format = p, f
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	return found, format, err
}

// extractZip writes a checked archive's entries under dir, with the zip
// limits enforced on the bytes actually decompressed.
func extractZip(z *zip.Reader, dir string) error {
	fsys := newLimitFS(z)
	for _, f := range z.File {
		name := path.Clean(strings.ReplaceAll(f.Name, `\`, "/"))
		if f.FileInfo().IsDir() || strings.HasPrefix(path.Base(name), "._") {
			continue
		}
		if !filepath.IsLocal(name) || strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return badInput(fmt.Sprintf("the zip entry %q is not a plain relative path", f.Name))
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		// Entry names are the client's: a name the file system refuses is
		// their error, said without the server's paths.
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return badInput(fmt.Sprintf("the zip entry %q cannot be extracted (its name is not usable as a path)", f.Name))
		}
		src, err := fsys.Open(f.Name)
		if err != nil {
			return badInput(fmt.Sprintf("cannot read the zip entry %q: %v", f.Name, err))
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			src.Close()
			return badInput(fmt.Sprintf("the zip entry %q cannot be extracted (a repeated or unusable name)", f.Name))
		}
		_, err = io.Copy(out, src)
		src.Close()
		out.Close()
		if err != nil {
			var ue *Error
			if errors.As(err, &ue) {
				return err
			}
			return badInput(fmt.Sprintf("cannot read the zip entry %q: %v", f.Name, err))
		}
	}
	return nil
}

// convertWithGDAL converts the dataset at input (a file or a FileGDB
// directory) to a GeoPackage in dir and opens the layer opts.Table names,
// else the first. The sandbox: its own temp dir and HOME, no network (every
// HTTP request goes to a proxy that does not exist), a time limit, and a
// size limit on what it writes.
func convertWithGDAL(ctx context.Context, input, format, dir string, opts Options) (*source, error) {
	if _, err := exec.LookPath("ogr2ogr"); err != nil {
		return nil, gdalAbsent(format)
	}
	if format == FormatDXF && opts.CRS == "" {
		return nil, badInput("DXF drawings carry no coordinate system: pass it with ?crs=, e.g. ?crs=EPSG:4549 for CGCS2000 3-degree Gauss-Kruger CM 120E (Suzhou's usual)")
	}
	out := filepath.Join(dir, "converted.gpkg")
	args := []string{"-f", "GPKG", out, input}

	switch format {
	case FormatCSV:
		args = append(args, "-oo", "X_POSSIBLE_NAMES=lon,lng,long,longitude,x,经度,东经", "-oo", "Y_POSSIBLE_NAMES=lat,latitude,y,纬度,北纬",
			"-oo", "GEOM_POSSIBLE_NAMES=wkt,geom,geometry,the_geom,shape", "-oo", "KEEP_GEOM_COLUMNS=NO", "-oo", "AUTODETECT_TYPE=YES")
	case FormatGML:
		args = append(args, "--config", "GML_SKIP_RESOLVE_ELEMS", "ALL", "--config", "GML_DOWNLOAD_WFS_SCHEMA", "NO")
	}
	ctx, cancel := context.WithTimeout(ctx, gdalTimeout)
	defer cancel()
	env := gdalEnv(dir)
	// Only the format's own drivers may open the input: GDAL picks a driver
	// by content, and a file named .kml could be a VRT that reads other
	// files on the server. ogrinfo names the driver first.
	probe := exec.CommandContext(ctx, "ogrinfo", "-ro", "-so", input)
	probe.Dir, probe.Env = dir, env
	info, _ := probe.CombinedOutput()
	m := driverRe.FindSubmatch(info)
	if m == nil {
		return nil, &Error{Kind: BadInput, Msg: fmt.Sprintf("GDAL could not read the %s file: %s", format, gdalErrors(string(info), dir))}
	}
	if !slices.Contains(gdalDrivers[format], string(m[1])) {
		return nil, badInput(fmt.Sprintf("the file is named as %s but GDAL reads it as %s: refused", format, m[1]))
	}
	cmd := exec.CommandContext(ctx, "ogr2ogr", args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ogr2ogr: %w", err)
	}
	// Watch what it writes: a small file that converts to gigabytes is
	// stopped like a zip bomb.
	tooBig := make(chan struct{})
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if fi, err := os.Stat(out); err == nil && fi.Size() > gdalMaxBytes {
					close(tooBig)
					_ = cmd.Process.Kill()
					return
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	select {
	case <-tooBig:
		return nil, badInput(fmt.Sprintf("the %s file converts to more than %d MiB: refused", format, gdalMaxBytes>>20))
	default:
	}
	if ctx.Err() == context.DeadlineExceeded {
		return nil, badInput(fmt.Sprintf("converting the %s file took longer than %v: refused", format, gdalTimeout))
	}
	if err != nil {
		return nil, &Error{Kind: BadInput, Msg: fmt.Sprintf("GDAL could not read the %s file: %s", format, gdalErrors(stderr.String(), dir))}
	}
	tables, err := gpkg.Tables(out)
	if err != nil {
		return nil, fmt.Errorf("read GDAL's conversion: %w", err)
	}
	if len(tables) == 0 {
		hint := ""
		if format == FormatCSV {
			hint = ": a CSV needs a WKT column (wkt, geom, geometry) or longitude/latitude columns (lon/lat, x/y, longitude/latitude, 经度/纬度)"
		}
		return nil, badInput(fmt.Sprintf("the %s file holds no layer with geometries%s", format, hint))
	}
	pick := tables[0]
	if opts.Table != "" {
		pick = ""
		for _, t := range tables {
			if strings.EqualFold(t, opts.Table) {
				pick = t
			}
		}
		if pick == "" {
			return nil, badInput(fmt.Sprintf("the %s file has no layer %q; it has %s", format, opts.Table, strings.Join(tables, ", ")))
		}
	}
	o := opts
	o.Table = pick
	src, err := openGPKG(out, o)
	if err != nil {
		return nil, err
	}
	src.format = format
	src.detail = map[string]any{"converted_by": gdalVersion() + " (ogr2ogr)", "layer": pick, "layers": tables}
	if len(tables) > 1 && opts.Table == "" {
		src.detail["layer_note"] = fmt.Sprintf("the file holds %d layers; the first, %q, was read: name another with ?table=", len(tables), pick)
	}
	return src, nil
}

// gdalErrors keeps GDAL's ERROR lines (the first three), without the
// sandbox's path.
func gdalErrors(stderr, dir string) string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(strings.ReplaceAll(line, dir+string(filepath.Separator), ""))
		if _, msg, ok := strings.Cut(line, "ERROR "); ok {
			if _, m, ok := strings.Cut(msg, ": "); ok {
				msg = m
			}
			out = append(out, msg)
		}
	}
	if len(out) == 0 {
		return "no layer it can open"
	}
	return strings.Join(out[:min(3, len(out))], "; ")
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// openWithGDAL converts an upload GDAL reads: a single file (by its
// extension) or an extracted archive. The sandbox dir goes with the source.
func openWithGDAL(ctx context.Context, file, name string, z *zip.Reader, opts Options) (*source, error) {
	dir, err := os.MkdirTemp(filepath.Dir(file), SpoolPrefix+"gdal-*")
	if err != nil {
		return nil, fmt.Errorf("make a sandbox for GDAL: %w", err)
	}
	fail := func(err error) (*source, error) { os.RemoveAll(dir); return nil, err }
	var input, format string
	if z != nil {
		in := filepath.Join(dir, "in")
		if err := os.Mkdir(in, 0o700); err != nil {
			return fail(err)
		}
		if err := extractZip(z, in); err != nil {
			return fail(err)
		}
		if input, format, err = gdalTarget(in); err != nil {
			return fail(err)
		}
		if input == "" {
			return fail(nil)
		}
		if format == FormatKML {
			// A KMZ's doc.kml may only link to the layers beside it:
			// LIBKML reads the whole .kmz, by that extension.
			input = filepath.Join(dir, "in.kmz")
			if err := copyFile(file, input); err != nil {
				return fail(err)
			}
		}
	} else {
		format = gdalExts[strings.ToLower(filepath.Ext(name))]
		input = file
		if format == FormatMapInfo && strings.EqualFold(filepath.Ext(name), ".tab") {
			return fail(badInput("a MapInfo .tab comes with its .dat, .map and .id: zip them together and upload the .zip"))
		}

	}
	src, err := convertWithGDAL(ctx, input, format, dir, opts)
	if err != nil {
		return fail(err)
	}
	inner := src.close
	src.close = func() error { err := inner(); os.RemoveAll(dir); return err }
	return src, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
