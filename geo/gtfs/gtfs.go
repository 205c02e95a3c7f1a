// Package gtfs reads GTFS static feeds (a zip of CSV tables) into memory
// and validates them: required files and fields, times, dates,
// coordinates and the references between tables. Every problem is
// reported with its file, line and field, so a transport planner can fix
// the feed; a feed with errors yields no Feed.
package gtfs

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Stop is a stop or station.
type Stop struct {
	ID, Code, Name string
	Lat, Lon       float64
	LocationType   int
	Parent         string
}

// Route is a route.
type Route struct {
	ID, Agency, ShortName, LongName string
	Type                            int
	Color, TextColor                string
}

// Trip is a trip.
type Trip struct {
	ID, Route, Service, Headsign, Shape string
	Direction                           int
}

// StopTime is a trip's visit to a stop; times are seconds after noon minus
// 12 h of the service day (GTFS times may pass 24:00:00); -1 when empty
// (a stop between timepoints).
type StopTime struct {
	Trip               string
	Stop               string
	Sequence           int
	Arrival, Departure int
}

// Calendar is a weekly service pattern between two dates.
type Calendar struct {
	Service    string
	Days       [7]bool // Monday first
	Start, End time.Time
}

// CalendarDate adds (1) or removes (2) a service on a date.
type CalendarDate struct {
	Service   string
	Date      time.Time
	Exception int
}

// Frequency runs a trip's pattern every Headway seconds between Start and End.
type Frequency struct {
	Trip       string
	Start, End int
	Headway    int
	ExactTimes bool
}

// Transfer is a transfer rule between two stops.
type Transfer struct {
	From, To string
	Type     int
	MinTime  int // seconds; -1 when not given
}

// ShapePoint is one point of a shape.
type ShapePoint struct {
	Lat, Lon float64
	Sequence int
}

// Feed is a validated GTFS feed.
type Feed struct {
	Agencies      int
	Stops         []Stop
	Routes        []Route
	Trips         []Trip
	StopTimes     []StopTime
	Calendars     []Calendar
	CalendarDates []CalendarDate
	Frequencies   []Frequency
	Transfers     []Transfer
	Shapes        map[string][]ShapePoint
	// From and To are the first and last dates any service runs.
	From, To time.Time
}

// Problem is one thing wrong with a feed.
type Problem struct {
	File  string `json:"file"`
	Line  int    `json:"line,omitempty"` // 1 is the header
	Field string `json:"field,omitempty"`
	Msg   string `json:"message"`
}

func (p Problem) String() string {
	s := p.File
	if p.Line > 0 {
		s += fmt.Sprintf(" line %d", p.Line)
	}
	if p.Field != "" {
		s += ", field " + p.Field
	}
	return s + ": " + p.Msg
}

// Errors are a feed's problems (at most MaxProblems).
type Errors struct {
	Problems []Problem
	More     int // problems not listed
}

// MaxProblems bounds the problems reported for one feed.
const MaxProblems = 50

func (e *Errors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the GTFS feed has %d problem(s)", len(e.Problems)+e.More)
	for i, p := range e.Problems {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)+e.More-5)
			break
		}
		b.WriteString("; " + p.String())
	}
	return b.String()
}

func (e *Errors) add(p Problem) {
	if len(e.Problems) < MaxProblems {
		e.Problems = append(e.Problems, p)
	} else {
		e.More++
	}
}

// table is one CSV file: its header and rows.
type table struct {
	name string
	cols map[string]int
	rows [][]string
	errs *Errors
	line int // of the current row
	row  []string
}

func (t *table) has(field string) bool { _, ok := t.cols[field]; return ok }

func (t *table) get(field string) string {
	if i, ok := t.cols[field]; ok && i < len(t.row) {
		return strings.TrimSpace(t.row[i])
	}
	return ""
}

func (t *table) problem(field, format string, args ...any) {
	t.errs.add(Problem{File: t.name, Line: t.line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// required reads a field that must be present and not empty.
func (t *table) required(field string) (string, bool) {
	v := t.get(field)
	if v == "" {
		t.problem(field, "is required and empty")
		return "", false
	}
	return v, true
}

func (t *table) integer(field string, def, lo, hi int) int {
	v := t.get(field)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		t.problem(field, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func (t *table) float(field string, lo, hi float64) (float64, bool) {
	v, ok := t.required(field)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		t.problem(field, "%q is not a number from %g to %g", v, lo, hi)
		return 0, false
	}
	return f, true
}

func (t *table) date(field string) (time.Time, bool) {
	v, ok := t.required(field)
	if !ok {
		return time.Time{}, false
	}
	d, err := time.Parse("20060102", v)
	if err != nil {
		t.problem(field, "%q is not a date (YYYYMMDD)", v)
		return time.Time{}, false
	}
	return d, true
}

// ParseTime reads a GTFS time (H:MM:SS or HH:MM:SS, hours may pass 24) as
// seconds.
func ParseTime(v string) (int, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 || len(parts[1]) != 2 || len(parts[2]) != 2 || len(parts[0]) == 0 || len(parts[0]) > 2 {
		return 0, fmt.Errorf("%q is not a time (HH:MM:SS)", v)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return 0, fmt.Errorf("%q is not a time (HH:MM:SS)", v)
		}
		n[i] = x
	}
	if n[1] > 59 || n[2] > 59 {
		return 0, fmt.Errorf("%q is not a time: minutes and seconds run to 59", v)
	}
	return n[0]*3600 + n[1]*60 + n[2], nil
}

func (t *table) clock(field string, required bool) int {
	v := t.get(field)
	if v == "" {
		if required {
			t.problem(field, "is required and empty")
		}
		return -1
	}
	s, err := ParseTime(v)
	if err != nil {
		t.problem(field, "%v", err)
		return -1
	}
	return s
}

// Limits of one feed, so a hostile file cannot exhaust memory.
const (
	MaxFileBytes = 1 << 30
	MaxRows      = 20_000_000
)

func readTable(f *zip.File, errs *Errors) (*table, error) {
	if f.UncompressedSize64 > MaxFileBytes {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", f.Name, f.UncompressedSize64, MaxFileBytes)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name, err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = false
	name := path.Base(f.Name)
	t := &table{name: name, cols: map[string]int{}, errs: errs}
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		errs.add(Problem{File: name, Msg: "is empty (no header line)"})
		return t, nil
	}
	if err != nil {
		errs.add(Problem{File: name, Line: 1, Msg: "the header is not CSV: " + err.Error()})
		return t, nil
	}
	for i, h := range header {
		t.cols[strings.TrimSpace(h)] = i
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs.add(Problem{File: name, Line: line, Msg: "not CSV: " + err.Error()})
			break
		}
		if len(t.rows) >= MaxRows {
			return nil, fmt.Errorf("%s has more than %d rows", name, MaxRows)
		}
		t.rows = append(t.rows, rec)
	}
	return t, nil
}

// each calls f for each row with t positioned on it.
func (t *table) each(f func()) {
	for i, r := range t.rows {
		t.line, t.row = i+2, r
		f()
	}
}

func (t *table) needColumns(cols ...string) bool {
	ok := true
	for _, c := range cols {
		if !t.has(c) {
			t.errs.add(Problem{File: t.name, Line: 1, Field: c, Msg: "required column is missing"})
			ok = false
		}
	}
	return ok
}

// Read reads and validates a GTFS zip.
func Read(r io.ReaderAt, size int64) (*Feed, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a zip file: %w", err)
	}
	errs := &Errors{}
	tables := map[string]*table{}
	for _, f := range zr.File {
		name := path.Base(f.Name)
		if !strings.HasSuffix(name, ".txt") || strings.HasPrefix(name, ".") {
			continue
		}
		switch name {
		case "agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "calendar.txt", "calendar_dates.txt",
			"frequencies.txt", "transfers.txt", "shapes.txt":
		default:
			continue // fares, feed_info, …: not used
		}
		if _, dup := tables[name]; dup {
			errs.add(Problem{File: name, Msg: "appears twice in the zip"})
			continue
		}
		t, err := readTable(f, errs)
		if err != nil {
			return nil, err
		}
		tables[name] = t
	}
	for _, name := range []string{"agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt"} {
		if tables[name] == nil {
			errs.add(Problem{File: name, Msg: "required file is missing"})
		}
	}
	if tables["calendar.txt"] == nil && tables["calendar_dates.txt"] == nil {
		errs.add(Problem{File: "calendar.txt", Msg: "calendar.txt or calendar_dates.txt is required; both are missing"})
	}
	if len(errs.Problems) > 0 {
		return nil, errs
	}
	feed := &Feed{Shapes: map[string][]ShapePoint{}, Agencies: len(tables["agency.txt"].rows)}

	stops := map[string]bool{}
	if t := tables["stops.txt"]; t.needColumns("stop_id") {
		t.each(func() {
			id, ok := t.required("stop_id")
			if !ok {
				return
			}
			if stops[id] {
				t.problem("stop_id", "%q appears twice", id)
				return
			}
			s := Stop{ID: id, Code: t.get("stop_code"), Name: t.get("stop_name"), Parent: t.get("parent_station"),
				LocationType: t.integer("location_type", 0, 0, 4)}
			if s.LocationType <= 2 {
				lat, ok1 := t.float("stop_lat", -90, 90)
				lon, ok2 := t.float("stop_lon", -180, 180)
				if !ok1 || !ok2 {
					return
				}
				s.Lat, s.Lon = lat, lon
			}
			stops[id] = true
			feed.Stops = append(feed.Stops, s)
		})
	}
	routes := map[string]bool{}
	if t := tables["routes.txt"]; t.needColumns("route_id", "route_type") {
		t.each(func() {
			id, ok := t.required("route_id")
			if !ok {
				return
			}
			if routes[id] {
				t.problem("route_id", "%q appears twice", id)
				return
			}
			rt := t.integer("route_type", -1, 0, 1702)
			if rt < 0 {
				if t.get("route_type") == "" {
					t.problem("route_type", "is required and empty")
				}
				return
			}
			routes[id] = true
			feed.Routes = append(feed.Routes, Route{ID: id, Agency: t.get("agency_id"), ShortName: t.get("route_short_name"),
				LongName: t.get("route_long_name"), Type: rt, Color: t.get("route_color"), TextColor: t.get("route_text_color")})
		})
	}
	services := map[string]bool{}
	if t := tables["calendar.txt"]; t != nil && t.needColumns("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "start_date", "end_date") {
		days := []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
		t.each(func() {
			id, ok := t.required("service_id")
			if !ok {
				return
			}
			c := Calendar{Service: id}
			for i, d := range days {
				c.Days[i] = t.integer(d, 0, 0, 1) == 1
			}
			var ok1, ok2 bool
			c.Start, ok1 = t.date("start_date")
			c.End, ok2 = t.date("end_date")
			if !ok1 || !ok2 {
				return
			}
			if c.End.Before(c.Start) {
				t.problem("end_date", "%s is before start_date %s", c.End.Format("20060102"), c.Start.Format("20060102"))
				return
			}
			services[id] = true
			feed.Calendars = append(feed.Calendars, c)
		})
	}
	if t := tables["calendar_dates.txt"]; t != nil && t.needColumns("service_id", "date", "exception_type") {
		t.each(func() {
			id, ok := t.required("service_id")
			if !ok {
				return
			}
			d, ok := t.date("date")
			ex := t.integer("exception_type", 0, 1, 2)
			if !ok || ex == 0 {
				if t.get("exception_type") == "" {
					t.problem("exception_type", "is required and empty")
				}
				return
			}
			services[id] = true
			feed.CalendarDates = append(feed.CalendarDates, CalendarDate{Service: id, Date: d, Exception: ex})
		})
	}
	trips := map[string]bool{}
	if t := tables["trips.txt"]; t.needColumns("route_id", "service_id", "trip_id") {
		t.each(func() {
			id, ok := t.required("trip_id")
			route, ok2 := t.required("route_id")
			service, ok3 := t.required("service_id")
			if !ok || !ok2 || !ok3 {
				return
			}
			if trips[id] {
				t.problem("trip_id", "%q appears twice", id)
				return
			}
			if !routes[route] {
				t.problem("route_id", "%q is not in routes.txt", route)
				return
			}
			if !services[service] {
				t.problem("service_id", "%q is in neither calendar.txt nor calendar_dates.txt", service)
				return
			}
			trips[id] = true
			feed.Trips = append(feed.Trips, Trip{ID: id, Route: route, Service: service, Headsign: t.get("trip_headsign"),
				Shape: t.get("shape_id"), Direction: t.integer("direction_id", 0, 0, 1)})
		})
	}
	if t := tables["stop_times.txt"]; t.needColumns("trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time") {
		feed.StopTimes = make([]StopTime, 0, len(t.rows))
		t.each(func() {
			trip, ok := t.required("trip_id")
			stop, ok2 := t.required("stop_id")
			if !ok || !ok2 {
				return
			}
			if !trips[trip] {
				t.problem("trip_id", "%q is not in trips.txt", trip)
				return
			}
			if !stops[stop] {
				t.problem("stop_id", "%q is not in stops.txt", stop)
				return
			}
			seq := t.integer("stop_sequence", -1, 0, 1<<30)
			if seq < 0 {
				if t.get("stop_sequence") == "" {
					t.problem("stop_sequence", "is required and empty")
				}
				return
			}
			st := StopTime{Trip: trip, Stop: stop, Sequence: seq, Arrival: t.clock("arrival_time", false), Departure: t.clock("departure_time", false)}
			if st.Arrival < 0 {
				st.Arrival = st.Departure
			}
			if st.Departure < 0 {
				st.Departure = st.Arrival
			}
			if st.Arrival >= 0 && st.Departure < st.Arrival {
				t.problem("departure_time", "departs before it arrives")
				return
			}
			feed.StopTimes = append(feed.StopTimes, st)
		})
	}
	if t := tables["frequencies.txt"]; t != nil && t.needColumns("trip_id", "start_time", "end_time", "headway_secs") {
		t.each(func() {
			trip, ok := t.required("trip_id")
			if !ok {
				return
			}
			if !trips[trip] {
				t.problem("trip_id", "%q is not in trips.txt", trip)
				return
			}
			f := Frequency{Trip: trip, Start: t.clock("start_time", true), End: t.clock("end_time", true),
				Headway: t.integer("headway_secs", 0, 1, 86400), ExactTimes: t.integer("exact_times", 0, 0, 1) == 1}
			if f.Start < 0 || f.End < 0 || f.Headway == 0 {
				return
			}
			if f.End <= f.Start {
				t.problem("end_time", "is not after start_time")
				return
			}
			feed.Frequencies = append(feed.Frequencies, f)
		})
	}
	if t := tables["transfers.txt"]; t != nil && t.needColumns("from_stop_id", "to_stop_id", "transfer_type") {
		t.each(func() {
			from, to := t.get("from_stop_id"), t.get("to_stop_id")
			if from == "" || to == "" {
				return // trip- or route-level transfers are not used
			}
			for field, id := range map[string]string{"from_stop_id": from, "to_stop_id": to} {
				if !stops[id] {
					t.problem(field, "%q is not in stops.txt", id)
					return
				}
			}
			feed.Transfers = append(feed.Transfers, Transfer{From: from, To: to, Type: t.integer("transfer_type", 0, 0, 5),
				MinTime: t.integer("min_transfer_time", -1, 0, 86400)})
		})
	}
	if t := tables["shapes.txt"]; t != nil && t.needColumns("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence") {
		t.each(func() {
			id, ok := t.required("shape_id")
			lat, ok1 := t.float("shape_pt_lat", -90, 90)
			lon, ok2 := t.float("shape_pt_lon", -180, 180)
			seq := t.integer("shape_pt_sequence", -1, 0, 1<<30)
			if !ok || !ok1 || !ok2 || seq < 0 {
				return
			}
			feed.Shapes[id] = append(feed.Shapes[id], ShapePoint{Lat: lat, Lon: lon, Sequence: seq})
		})
	}
	if len(errs.Problems) > 0 {
		return nil, errs
	}
	// Each trip's stops in order, and its times rising.
	sort.SliceStable(feed.StopTimes, func(i, j int) bool {
		a, b := feed.StopTimes[i], feed.StopTimes[j]
		return a.Trip < b.Trip || (a.Trip == b.Trip && a.Sequence < b.Sequence)
	})
	last, lastSeq := -1, 0 // the trip's latest known departure, across untimed stops
	for i := range feed.StopTimes {
		b := feed.StopTimes[i]
		if i == 0 || feed.StopTimes[i-1].Trip != b.Trip {
			last = b.Departure
			lastSeq = b.Sequence
			continue
		}
		a := feed.StopTimes[i-1]
		if a.Sequence == b.Sequence {
			errs.add(Problem{File: "stop_times.txt", Field: "stop_sequence", Msg: fmt.Sprintf("trip %q has stop_sequence %d twice", a.Trip, a.Sequence)})
		} else if last >= 0 && b.Arrival >= 0 && b.Arrival < last {
			errs.add(Problem{File: "stop_times.txt", Field: "arrival_time", Msg: fmt.Sprintf("trip %q arrives at stop_sequence %d before it leaves %d", b.Trip, b.Sequence, lastSeq)})
		}
		if b.Departure >= 0 {
			last, lastSeq = b.Departure, b.Sequence
		}
	}
	for id, pts := range feed.Shapes {
		sort.Slice(pts, func(i, j int) bool { return pts[i].Sequence < pts[j].Sequence })
		feed.Shapes[id] = pts
	}
	if len(errs.Problems) > 0 {
		return nil, errs
	}
	feed.From, feed.To = serviceSpan(feed)
	return feed, nil
}

// serviceSpan is the first and last date with any service.
func serviceSpan(f *Feed) (from, to time.Time) {
	for _, c := range f.Calendars {
		if from.IsZero() || c.Start.Before(from) {
			from = c.Start
		}
		if c.End.After(to) {
			to = c.End
		}
	}
	for _, d := range f.CalendarDates {
		if d.Exception != 1 {
			continue
		}
		if from.IsZero() || d.Date.Before(from) {
			from = d.Date
		}
		if d.Date.After(to) {
			to = d.Date
		}
	}
	return from, to
}
