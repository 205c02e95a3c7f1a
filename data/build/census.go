package build

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

const (
	censusFile   = "census-county-2020-leiii/census_county_2020_v1.xlsx"
	censusSheet  = "七普（年鉴）"
	censusSource = "2020 census (7th), county-level table: leiii/census census_county_2020_v1.xlsx (MIT)"
)

// readCensus returns the 2020 census total population (人口数_合计) of every
// row whose 区划代码 starts with prefix, keyed by that code. The yearbook
// numbers the Suzhou Industrial Park 320571, as DataV does.
func readCensus(raw, prefix string) (map[string]int64, error) {
	path := filepath.Join(raw, censusFile)
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("open the census table: %w", err)
	}
	defer f.Close()
	rows, err := f.Rows(censusSheet)
	if err != nil {
		return nil, fmt.Errorf("%s: sheet %s: %w", path, censusSheet, err)
	}
	defer rows.Close()
	codeCol, popCol := -1, -1
	out := map[string]int64{}
	for rows.Next() {
		cells, err := rows.Columns()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if codeCol < 0 {
			for i, c := range cells {
				switch strings.TrimSpace(c) {
				case "区划代码":
					codeCol = i
				case "人口数_合计":
					popCol = i
				}
			}
			if codeCol >= 0 && popCol < 0 {
				return nil, fmt.Errorf("%s: header has 区划代码 but no 人口数_合计", path)
			}
			continue
		}
		if len(cells) <= max(codeCol, popCol) {
			continue
		}
		code := strings.TrimSpace(cells[codeCol])
		if !strings.HasPrefix(code, prefix) {
			continue
		}
		pop, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(cells[popCol]), ",", ""), 64)
		if err != nil || pop <= 0 {
			return nil, fmt.Errorf("%s: %s: population %q is not a positive number", path, code, cells[popCol])
		}
		out[code] = int64(pop)
	}
	if err := rows.Error(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if codeCol < 0 {
		return nil, fmt.Errorf("%s: no header row with 区划代码", path)
	}
	return out, nil
}
