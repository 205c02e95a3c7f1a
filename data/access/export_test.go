package access

import "github.com/gusu-gis/gusu/geo/gtfs"

// RailModelFeed exposes the rail model's generated feed to the tests.
func (s *Service) RailModelFeed(planned bool) (*gtfs.Feed, error) {
	b, err := s.current()
	if err != nil {
		return nil, err
	}
	return b.rail.feed(s.params, planned)
}
