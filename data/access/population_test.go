package access

import "testing"

func TestPopulationReachedCountsEachPersonOnce(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	kunshan := Unit{Code: "320583", Level: "county_city", Population: n(2_092_496)}
	zhouzhuang := Unit{Code: "z", Parent: "320583", Level: "town", Population: n(22_000)}
	mudu := Unit{Code: "320506103", Parent: "320506", Level: "town", Population: n(61_902)}
	noFigure := Unit{Code: "320506", Level: "central_city"} // a unit the data gives no population
	townInNoFigure := Unit{Code: "t", Parent: "320506", Level: "town", Population: n(10_000)}
	for _, c := range []struct {
		name    string
		reached []Unit
		want    int64
	}{
		{"nothing", nil, 0},
		{"a county alone", []Unit{kunshan}, 2_092_496},
		{"a town whose county is reached adds nothing", []Unit{kunshan, zhouzhuang}, 2_092_496},
		{"order does not matter", []Unit{zhouzhuang, kunshan}, 2_092_496},
		{"a town alone counts", []Unit{zhouzhuang}, 22_000},
		{"towns in a county without a figure count", []Unit{noFigure, mudu, townInNoFigure}, 71_902},
		{"a mix", []Unit{kunshan, zhouzhuang, mudu}, 2_092_496 + 61_902},
	} {
		if got := populationReached(c.reached); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
