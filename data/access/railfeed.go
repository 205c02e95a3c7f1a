package access

import (
	"fmt"
	"time"

	"github.com/gusu-gis/gusu/geo/gtfs"
	"github.com/gusu-gis/gusu/geo/isochrone"
)

// railModel is the rail network the headway model is built from.
type railModel struct {
	stations []isochrone.Station
	lines    []isochrone.Line
}

// modelServiceDays bounds the model feed's calendar: it has no dates of
// its own, so every day runs the same service.
var modelServiceDays = [2]time.Time{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)}

// feed writes the rail model as frequency-based GTFS, so that where no
// timetable has been imported the city's rail runs through the same engine
// as one: per line (each drawn part of it), a route; a trip each way with
// times from the along-line distances at the line's average speed (dwell
// included, as the headway model has it); run every headway from 00:00 to
// 24:00 on every day (the model has no service hours); one platform stop
// per line at each station, and between a station's platforms a
// min_transfer_time of the model's transfer walk. Planned lines are left
// out unless planned is set.
func (m railModel) feed(p isochrone.Params, planned bool) (*gtfs.Feed, error) {
	f := &gtfs.Feed{Agencies: 1, From: modelServiceDays[0], To: modelServiceDays[1],
		Calendars: []gtfs.Calendar{{Service: "model", Days: [7]bool{true, true, true, true, true, true, true}, Start: modelServiceDays[0], End: modelServiceDays[1]}}}
	platforms := map[int][]string{} // station → its platforms
	for _, l := range m.lines {
		if l.Planned && !planned {
			continue
		}
		speed, headway := l.SpeedKmh, l.HeadwayMin
		if speed <= 0 {
			speed = p.RailKmh[l.Kind]
		}
		if headway <= 0 {
			headway = p.HeadwayMin[l.Kind]
		}
		if speed <= 0 || headway <= 0 {
			return nil, fmt.Errorf("line %s: no speed or headway for kind %q", l.Name, l.Kind)
		}
		routeType := 2 // rail
		switch l.Kind {
		case "metro":
			routeType = 1
		case "tram":
			routeType = 0
		}
		f.Routes = append(f.Routes, gtfs.Route{ID: l.ID, LongName: l.Name, Type: routeType})
		stops := make([]string, len(l.Stations))
		seen := map[string]bool{}
		for k, st := range l.Stations {
			stops[k] = m.stations[st].ID + "@" + l.ID
			if seen[stops[k]] { // a loop line calls at a station twice
				stops[k] += fmt.Sprintf("#%d", k)
			}
			seen[stops[k]] = true
			at := m.stations[st].At
			f.Stops = append(f.Stops, gtfs.Stop{ID: stops[k], Name: m.stations[st].Name, Lon: at[0], Lat: at[1]})
			platforms[st] = append(platforms[st], stops[k])
		}
		secs := make([]int, len(l.Stations))
		for k := 1; k < len(secs); k++ {
			secs[k] = secs[k-1] + int(l.Metres[k-1]/(speed/3.6)+0.5)
		}
		total := secs[len(secs)-1]
		for dir := 0; dir < 2; dir++ {
			trip := fmt.Sprintf("%s/%d", l.ID, dir)
			f.Trips = append(f.Trips, gtfs.Trip{ID: trip, Route: l.ID, Service: "model", Direction: dir})
			for k := range stops {
				i, at := k, secs[k]
				if dir == 1 {
					i, at = len(stops)-1-k, total-secs[len(stops)-1-k]
				}
				f.StopTimes = append(f.StopTimes, gtfs.StopTime{Trip: trip, Stop: stops[i], Sequence: k + 1, Arrival: at, Departure: at})
			}
			f.Frequencies = append(f.Frequencies, gtfs.Frequency{Trip: trip, Start: 0, End: 24 * 3600, Headway: int(headway * 60)})
		}
	}
	for _, ps := range platforms {
		for _, a := range ps {
			for _, b := range ps {
				if a != b {
					f.Transfers = append(f.Transfers, gtfs.Transfer{From: a, To: b, Type: 2, MinTime: int(p.TransferMin * 60)})
				}
			}
		}
	}
	if len(f.Trips) == 0 {
		return nil, fmt.Errorf("the rail model has no lines with stations")
	}
	return f, nil
}
