package export

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/paulmach/orb/maptile"
	"github.com/protomaps/go-pmtiles/pmtiles"
)

// PMTiles writes a PMTiles v3 archive: header, root directory, metadata,
// leaf directories, then the tile data in tile-ID order (clustered), each
// distinct tile stored once however many tiles address it. go-pmtiles
// serialises the header and directories; tiles arrive in any order, so
// they wait in a temporary file next to the output until Close.
type PMTiles struct {
	path    string
	tmp     *os.File
	off     int64
	entries []pending
}

type pending struct {
	id     uint64
	off    int64
	length uint32
	sum    [32]byte
}

// NewPMTiles prepares to write path.
func NewPMTiles(path string) (*PMTiles, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gusu-export-*.tiles")
	if err != nil {
		return nil, fmt.Errorf("create a temporary file beside %s: %w", path, err)
	}
	return &PMTiles{path: path, tmp: tmp}, nil
}

// Put keeps one tile (gzip-compressed MVT).
func (p *PMTiles) Put(t maptile.Tile, gz []byte) error {
	if _, err := p.tmp.Write(gz); err != nil {
		return fmt.Errorf("write a tile: %w", err)
	}
	p.entries = append(p.entries, pending{id: pmtiles.ZxyToID(uint8(t.Z), t.X, t.Y), off: p.off, length: uint32(len(gz)), sum: sha256.Sum256(gz)})
	p.off += int64(len(gz))
	return nil
}

// Abort removes the temporary file (after a failed export).
func (p *PMTiles) Abort() {
	p.tmp.Close()
	os.Remove(p.tmp.Name())
}

// Close writes the archive to its path (atomically: a temporary name,
// then a rename) and removes the temporary tile file.
func (p *PMTiles) Close(m Metadata) error {
	defer p.Abort()
	sort.Slice(p.entries, func(i, j int) bool { return p.entries[i].id < p.entries[j].id })
	// Tile data in ID order; identical tiles once; consecutive IDs with
	// the same content become one run.
	type stored struct {
		off    uint64
		length uint32
	}
	seen := map[[32]byte]stored{}
	var entries []pmtiles.EntryV3
	var order []pending // tiles to copy, in data order
	var dataLen uint64
	for _, e := range p.entries {
		s, dup := seen[e.sum]
		if !dup {
			s = stored{off: dataLen, length: e.length}
			seen[e.sum] = s
			order = append(order, e)
			dataLen += uint64(e.length)
		}
		if n := len(entries); n > 0 && dup && entries[n-1].Offset == s.off && entries[n-1].TileID+uint64(entries[n-1].RunLength) == e.id {
			entries[n-1].RunLength++
			continue
		}
		entries = append(entries, pmtiles.EntryV3{TileID: e.id, Offset: s.off, Length: s.length, RunLength: 1})
	}
	root, leaves, _ := pmtiles.BuildDirectories(entries, 16384-pmtiles.HeaderV3LenBytes, pmtiles.Gzip)
	metaJSON, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var asMap map[string]any
	_ = json.Unmarshal(metaJSON, &asMap)
	metaBytes, err := pmtiles.SerializeMetadata(asMap, pmtiles.Gzip)
	if err != nil {
		return fmt.Errorf("serialise the metadata: %w", err)
	}
	e7 := func(v float64) int32 { return int32(math.Round(v * 1e7)) }
	h := pmtiles.HeaderV3{
		SpecVersion: 3, Clustered: true, InternalCompression: pmtiles.Gzip, TileCompression: pmtiles.Gzip, TileType: pmtiles.Mvt,
		MinZoom: uint8(m.MinZoom), MaxZoom: uint8(m.MaxZoom),
		MinLonE7: e7(m.Bounds[0]), MinLatE7: e7(m.Bounds[1]), MaxLonE7: e7(m.Bounds[2]), MaxLatE7: e7(m.Bounds[3]),
		CenterZoom: uint8(m.Center[2]), CenterLonE7: e7(m.Center[0]), CenterLatE7: e7(m.Center[1]),
		AddressedTilesCount: uint64(len(p.entries)), TileEntriesCount: uint64(len(entries)), TileContentsCount: uint64(len(order)),
	}
	h.RootOffset = pmtiles.HeaderV3LenBytes
	h.RootLength = uint64(len(root))
	h.MetadataOffset = h.RootOffset + h.RootLength
	h.MetadataLength = uint64(len(metaBytes))
	h.LeafDirectoryOffset = h.MetadataOffset + h.MetadataLength
	h.LeafDirectoryLength = uint64(len(leaves))
	h.TileDataOffset = h.LeafDirectoryOffset + h.LeafDirectoryLength
	h.TileDataLength = dataLen

	part := p.path + ".part"
	out, err := os.Create(part)
	if err != nil {
		return fmt.Errorf("create %s: %w", part, err)
	}
	defer os.Remove(part) // no-op after the rename
	w := bufio.NewWriterSize(out, 1<<20)
	for _, b := range [][]byte{pmtiles.SerializeHeader(h), root, metaBytes, leaves} {
		if _, err := w.Write(b); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", part, err)
		}
	}
	for _, e := range order {
		if _, err := io.Copy(w, io.NewSectionReader(p.tmp, e.off, int64(e.length))); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", part, err)
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", part, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("write %s: %w", part, err)
	}
	return os.Rename(part, p.path)
}
