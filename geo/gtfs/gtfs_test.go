package gtfs

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func zipOf(t *testing.T, files map[string]string) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	zw.Close()
	return bytes.NewReader(buf.Bytes())
}

func minimal() map[string]string {
	return map[string]string{
		"agency.txt":   "agency_id,agency_name,agency_url,agency_timezone\nA,Agency,http://a,Asia/Shanghai\n",
		"stops.txt":    "stop_id,stop_name,stop_lat,stop_lon\nS1,One,31.30,120.60\nS2,Two,31.31,120.62\nS3,Three,31.32,120.64\n",
		"routes.txt":   "route_id,route_short_name,route_type\nR1,1,1\n",
		"trips.txt":    "route_id,service_id,trip_id,shape_id\nR1,WK,T1,\nR1,WK,T2,\n",
		"calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\nWK,1,1,1,1,1,0,0,20261201,20261231\n",
		"stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" +
			"T1,07:00:00,07:00:00,S1,1\nT1,,,S2,2\nT1,07:10:00,07:10:30,S3,3\n" +
			"T2,24:50:00,24:50:00,S1,1\nT2,25:05:00,25:05:00,S3,2\n",
	}
}

func read(t *testing.T, files map[string]string) (*Feed, error) {
	t.Helper()
	r := zipOf(t, files)
	return Read(r, r.Size())
}

func TestReadsAValidFeed(t *testing.T) {
	f, err := read(t, minimal())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Stops) != 3 || len(f.Trips) != 2 || len(f.StopTimes) != 5 || f.From.Format("20060102") != "20261201" || f.To.Format("20060102") != "20261231" {
		t.Fatalf("%+v", f)
	}
	// An untimed stop takes no time of its own; times past midnight stay past 24 h.
	if st := f.StopTimes[1]; st.Arrival != -1 || st.Sequence != 2 {
		t.Fatalf("untimed stop: %+v", st)
	}
	if st := f.StopTimes[4]; st.Arrival != 25*3600+5*60 {
		t.Fatalf("25:05:00 read as %d s", st.Arrival)
	}
}

// Each broken feed is refused with the file, line and field at fault.
func TestReportsProblemsWithFileLineAndField(t *testing.T) {
	cases := map[string]struct {
		change func(map[string]string)
		want   Problem
	}{
		"missing stop_times": {func(m map[string]string) { delete(m, "stop_times.txt") }, Problem{File: "stop_times.txt", Msg: "required file is missing"}},
		"no calendar at all": {func(m map[string]string) { delete(m, "calendar.txt") }, Problem{File: "calendar.txt"}},
		"time 25:61:00": {func(m map[string]string) {
			m["stop_times.txt"] = strings.Replace(m["stop_times.txt"], "25:05:00,25:05:00", "25:61:00,25:61:00", 1)
		}, Problem{File: "stop_times.txt", Line: 6, Field: "arrival_time"}},
		"unknown trip": {func(m map[string]string) {
			m["stop_times.txt"] += "T9,08:00:00,08:00:00,S1,1\n"
		}, Problem{File: "stop_times.txt", Line: 7, Field: "trip_id"}},
		"unknown stop": {func(m map[string]string) {
			m["stop_times.txt"] += "T1,08:00:00,08:00:00,S9,4\n"
		}, Problem{File: "stop_times.txt", Line: 7, Field: "stop_id"}},
		"trip of an unknown route": {func(m map[string]string) {
			m["trips.txt"] += "R7,WK,T3,\n"
		}, Problem{File: "trips.txt", Line: 4, Field: "route_id"}},
		"latitude off the globe": {func(m map[string]string) {
			m["stops.txt"] = strings.Replace(m["stops.txt"], "31.32,120.64", "131.32,120.64", 1)
		}, Problem{File: "stops.txt", Line: 4, Field: "stop_lat"}},
		"bad date": {func(m map[string]string) {
			m["calendar.txt"] = strings.Replace(m["calendar.txt"], "20261231", "2026-12-31", 1)
		}, Problem{File: "calendar.txt", Line: 2, Field: "end_date"}},
		"missing column": {func(m map[string]string) {
			m["trips.txt"] = "route_id,trip_id\nR1,T1\n"
		}, Problem{File: "trips.txt", Line: 1, Field: "service_id"}},
		"time going backwards": {func(m map[string]string) {
			m["stop_times.txt"] = strings.Replace(m["stop_times.txt"], "T1,07:10:00,07:10:30", "T1,06:10:00,06:10:30", 1)
		}, Problem{File: "stop_times.txt", Field: "arrival_time"}},
	}
	for name, c := range cases {
		m := minimal()
		c.change(m)
		f, err := read(t, m)
		var errs *Errors
		if f != nil || !errors.As(err, &errs) {
			t.Errorf("%s: feed %v, error %v", name, f != nil, err)
			continue
		}
		found := false
		for _, p := range errs.Problems {
			if p.File == c.want.File && (c.want.Line == 0 || p.Line == c.want.Line) && (c.want.Field == "" || p.Field == c.want.Field) &&
				(c.want.Msg == "" || p.Msg == c.want.Msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want a problem like %+v, got %v", name, c.want, errs.Problems)
		}
		if !strings.Contains(err.Error(), c.want.File) {
			t.Errorf("%s: the message %q does not name %s", name, err, c.want.File)
		}
	}
	if _, err := Read(bytes.NewReader([]byte("not a zip")), 9); err == nil {
		t.Error("a non-zip was read")
	}
}

// The Porto Alegre feeds read whole: as many stops, trips and stop times as
// the files have rows (counted here with the standard CSV reader).
func TestPortoAlegreFeeds(t *testing.T) {
	for _, name := range []string{"poa_eptc.zip", "poa_trensurb.zip"} {
		path := "../../../shared/data/raw/r5r-porto-alegre-gtfs-osm/" + name
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		rows := map[string]int{}
		for _, zf := range zr.File {
			rc, _ := zf.Open()
			recs, err := csv.NewReader(rc).ReadAll()
			rc.Close()
			if err != nil {
				t.Fatalf("%s %s: %v", name, zf.Name, err)
			}
			rows[zf.Name] = len(recs) - 1
		}
		if len(f.Stops) != rows["stops.txt"] || len(f.Trips) != rows["trips.txt"] || len(f.StopTimes) != rows["stop_times.txt"] || len(f.Routes) != rows["routes.txt"] {
			t.Errorf("%s: read %d stops, %d trips, %d stop times, %d routes; the files have %v", name, len(f.Stops), len(f.Trips), len(f.StopTimes), len(f.Routes), rows)
		}
		t.Logf("%s: %d stops, %d routes, %d trips, %d stop times, %d shapes; service %s to %s", name, len(f.Stops), len(f.Routes), len(f.Trips), len(f.StopTimes),
			len(f.Shapes), f.From.Format("2006-01-02"), f.To.Format("2006-01-02"))
	}
}
