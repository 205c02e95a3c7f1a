package shp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// FieldType is a dBASE field type letter.
type FieldType byte

// The dBASE field types gusu reads.
const (
	Character FieldType = 'C'
	Numeric   FieldType = 'N'
	Float     FieldType = 'F'
	Logical   FieldType = 'L'
	Date      FieldType = 'D'
	Integer   FieldType = 'I' // Visual FoxPro 4-byte binary integer
	Double    FieldType = 'O' // 8-byte binary double
	Memo      FieldType = 'M' // pointer into a .dbt file, which shapefiles do not carry
)

// Field describes one attribute column.
type Field struct {
	Name     string
	Type     FieldType
	Length   int
	Decimals int
	// FileName is the name in the file when Name had to differ from it (a
	// repeated name, or an empty one); empty otherwise.
	FileName string
}

// AttributeReader streams records from a .dbf file.
type AttributeReader struct {
	r          *bufio.Reader
	Fields     []Field
	NumRecords int
	recordLen  int
	decoder    *textDecoder
	n          int
	buf        []byte
}

// textDecoder turns DBF bytes into UTF-8. With an explicit encoding (from the
// .cpg file or the caller) it is used as is; otherwise text that is valid
// UTF-8 stays as it is and anything else is read as GB18030, the superset of
// GBK that Chinese ArcGIS and QGIS installations write by default.
type textDecoder struct {
	explicit *encoding.Decoder
	fallback *encoding.Decoder
	name     string
}

func (d *textDecoder) decode(b []byte) (string, error) {
	if d.explicit != nil {
		out, err := d.explicit.Bytes(b)
		if err != nil {
			return "", fmt.Errorf("decode text as %s: %w", d.name, err)
		}
		return string(out), nil
	}
	if utf8.Valid(b) {
		return string(b), nil
	}
	out, err := d.fallback.Bytes(b)
	if err != nil {
		return "", fmt.Errorf("decode text as GB18030: %w", err)
	}
	return string(out), nil
}

// Encoding returns the decoder for an encoding name as a .cpg file or a user
// writes it ("UTF-8", "GBK", "936", "CP936", "GB18030", "ISO-8859-1", ...).
// An empty name means: UTF-8 where valid, else GB18030.
func Encoding(name string) (*encoding.Decoder, string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	switch n {
	case "":
		return nil, "", nil
	case "UTF-8", "UTF8", "65001":
		return unicode.UTF8.NewDecoder(), "UTF-8", nil
	case "GBK", "936", "CP936", "MS936", "WINDOWS-936", "GB2312", "EUC-CN":
		// GB18030 decodes every GBK and GB2312 byte sequence the same way.
		return simplifiedchinese.GB18030.NewDecoder(), "GBK", nil
	case "GB18030", "54936":
		return simplifiedchinese.GB18030.NewDecoder(), "GB18030", nil
	}
	if cp, err := strconv.Atoi(n); err == nil {
		n = "windows-" + strconv.Itoa(cp)
	}
	enc, err := htmlindex.Get(strings.TrimPrefix(n, "CP"))
	if err != nil {
		enc, err = htmlindex.Get(n)
	}
	if err != nil {
		return nil, "", fmt.Errorf("unknown text encoding %q", name)
	}
	cname, _ := htmlindex.Name(enc)
	return enc.NewDecoder(), cname, nil
}

// NewAttributeReader reads the .dbf header from r. encodingName is the .cpg
// content or a caller's override; empty selects UTF-8-else-GB18030.
func NewAttributeReader(r io.Reader, encodingName string) (*AttributeReader, error) {
	dec, cname, err := Encoding(encodingName)
	if err != nil {
		return nil, err
	}
	td := &textDecoder{explicit: dec, name: cname, fallback: simplifiedchinese.GB18030.NewDecoder()}
	br := bufio.NewReaderSize(r, 64<<10)
	var h [32]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, formatErr(".dbf is shorter than its 32-byte header")
	}
	switch h[0] & 0x07 {
	case 0x03, 0x04, 0x05: // dBASE III/IV/5 (the low bits; high bits flag memo files)
	default:
		if h[0] != 0x30 && h[0] != 0x31 { // Visual FoxPro
			return nil, formatErr(".dbf starts with version byte 0x%02x: not a dBASE file", h[0])
		}
	}
	numRecords := int(binary.LittleEndian.Uint32(h[4:8]))
	headerLen := int(binary.LittleEndian.Uint16(h[8:10]))
	recordLen := int(binary.LittleEndian.Uint16(h[10:12]))
	if headerLen < 33 || recordLen < 1 {
		return nil, formatErr(".dbf header declares header length %d and record length %d", headerLen, recordLen)
	}
	rest := make([]byte, headerLen-32)
	if _, err := io.ReadFull(br, rest); err != nil {
		return nil, formatErr(".dbf is truncated in its field descriptors")
	}
	var fields []Field
	width := 1 // the deletion flag
	for off := 0; off+32 <= len(rest) && rest[off] != 0x0D; off += 32 {
		d := rest[off : off+32]
		rawName := d[:11]
		if i := bytes.IndexByte(rawName, 0); i >= 0 {
			rawName = rawName[:i]
		}
		name, err := td.decode(bytes.TrimSpace(rawName))
		if err != nil {
			return nil, fmt.Errorf(".dbf field %d name: %w", len(fields)+1, err)
		}
		f := Field{Name: name, Type: FieldType(d[11]), Length: int(d[16]), Decimals: int(d[17])}
		if f.Type == Character && h[0] == 0x30 { // FoxPro stores long text widths across both bytes
			f.Length = int(binary.LittleEndian.Uint16(d[16:18]))
			f.Decimals = 0
		}
		fields = append(fields, f)
		width += f.Length
	}
	if len(fields) == 0 {
		return nil, formatErr(".dbf has no fields")
	}
	uniqueFieldNames(fields)
	if width != recordLen {
		return nil, formatErr(".dbf fields add up to %d bytes but records are %d", width, recordLen)
	}
	return &AttributeReader{r: br, Fields: fields, NumRecords: numRecords, recordLen: recordLen, decoder: td, buf: make([]byte, recordLen)}, nil
}

// uniqueFieldNames renames repeated (case-insensitively, as DBF tools
// compare) and empty field names to NAME_2, NAME_3… so that no column's
// values are lost under another's key; FileName keeps the original.
func uniqueFieldNames(fields []Field) {
	taken := map[string]bool{}
	for _, f := range fields {
		taken[strings.ToUpper(f.Name)] = true
	}
	seen := map[string]bool{}
	for i := range fields {
		f := &fields[i]
		key := strings.ToUpper(f.Name)
		if f.Name != "" && !seen[key] {
			seen[key] = true
			continue
		}
		base := f.Name
		if base == "" {
			base = "FIELD"
		}
		for n := 2; ; n++ {
			cand := fmt.Sprintf("%s_%d", base, n)
			if !taken[strings.ToUpper(cand)] {
				f.FileName, f.Name = f.Name, cand
				if f.FileName == "" {
					f.FileName = "(empty)"
				}
				taken[strings.ToUpper(cand)], seen[strings.ToUpper(cand)] = true, true
				break
			}
		}
	}
}

// Next returns the next record's values, keyed by field name, and io.EOF
// after the declared number of records. Deleted records are returned too (as
// Deleted=true) so that they stay aligned with the .shp records.
func (a *AttributeReader) Next() (values map[string]any, deleted bool, err error) {
	if a.n >= a.NumRecords {
		return nil, false, io.EOF
	}
	if _, err := io.ReadFull(a.r, a.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, false, formatErr(".dbf is truncated at record %d of %d", a.n+1, a.NumRecords)
		}
		return nil, false, fmt.Errorf("read .dbf record %d: %w", a.n+1, err)
	}
	a.n++
	deleted = a.buf[0] == '*'
	values = make(map[string]any, len(a.Fields))
	off := 1
	for _, f := range a.Fields {
		raw := a.buf[off : off+f.Length]
		off += f.Length
		v, err := a.value(f, raw)
		if err != nil {
			return nil, false, fmt.Errorf(".dbf record %d field %q: %w", a.n, f.Name, err)
		}
		values[f.Name] = v
	}
	return values, deleted, nil
}

// value converts one field. Empty or unparseable numbers become nil rather
// than errors: DBF writers fill missing numbers with blanks or asterisks.
func (a *AttributeReader) value(f Field, raw []byte) (any, error) {
	switch f.Type {
	case Character, Memo:
		s, err := a.decoder.decode(bytes.TrimRight(raw, " \x00"))
		if err != nil {
			return nil, err
		}
		return strings.TrimLeft(s, " "), nil
	case Numeric, Float:
		s := strings.TrimSpace(string(raw))
		if s == "" || strings.Trim(s, "*") == "" {
			return nil, nil
		}
		if f.Decimals == 0 && f.Type == Numeric {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, nil
		}
		return x, nil
	case Logical:
		switch raw[0] {
		case 'T', 't', 'Y', 'y':
			return true, nil
		case 'F', 'f', 'N', 'n':
			return false, nil
		}
		return nil, nil
	case Date:
		s := strings.TrimSpace(string(raw))
		if len(s) != 8 {
			return nil, nil
		}
		return s[0:4] + "-" + s[4:6] + "-" + s[6:8], nil
	case Integer:
		if len(raw) != 4 {
			return nil, formatErr("integer field is %d bytes, want 4", len(raw))
		}
		return int64(int32(binary.LittleEndian.Uint32(raw))), nil
	case Double:
		if len(raw) != 8 {
			return nil, formatErr("double field is %d bytes, want 8", len(raw))
		}
		return readF64(raw), nil
	}
	s, err := a.decoder.decode(bytes.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	return s, nil
}
