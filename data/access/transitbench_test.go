package access_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/gusu-gis/gusu/data/access"
)

// gusu bench transit imports the feeds and prints a median for each of
// the four measures, with its target.
func TestBenchTransitPrintsItsFigures(t *testing.T) {
	f := newFixture(t)
	var out bytes.Buffer
	err := access.BenchTransit(context.Background(), access.TransitBenchConfig{Pool: f.pool,
		Feeds: []string{portoAlegre + "poa_eptc.zip", portoAlegre + "poa_trensurb.zip"}, Departure: "2019-05-15T13:00", Runs: 1, MatrixSize: 20, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{`import of 2 feed\(s\): [\dm.]+s \(4010 stops, 3622 trips`, `isochrone 15/30/45 min, one departure +1 +[\d.]+ .*< 100 ms`,
		`120-min window \(121 departures\) +1 +[\d.]+ .*< 2 s`, `1 × 20 matrix`, `20 × 20 matrix, one departure +1 +[\d.]+ .*< 10 s`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("no %q in the report", want)
		}
	}
}
