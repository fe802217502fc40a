package edge

import (
	"errors"
	"net/http"
	"time"
)

// A source is where the fetch stage of a miss goes: the site's origin, or
// the key's owner in the cluster (shield.go). The stages around it — decide,
// publish and pump, store — are the same whatever the source; a source only
// sends the cache fetch and returns the response headers, counting what it
// did in its own metrics.
//
// req is the fetch as the origin would get it (built by startFlight: URL,
// Host and the header fetchHeader made); a source may derive its own
// request from it and from f. It must not block beyond the site's timeouts.
type source interface {
	fetch(p *Proxy, s *site, f *flight, req *http.Request) (*http.Response, error)
}

// originSource fetches from the site's origin (through its connection
// slots) and counts meshcdn_edge_origin_*.
type originSource struct{}

func (originSource) fetch(p *Proxy, s *site, _ *flight, req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := p.roundTrip(s, req)
	s.m.fetchSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		if !errors.Is(err, errOriginBusy) { // not sent: no origin outcome to count
			_, outcome := classify(err, nil)
			s.m.fetches[outcome].Inc()
		}
		return nil, err
	}
	s.m.originResponse(resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusNotModified:
		s.m.fetches[fetchNotModified].Inc()
	case resp.StatusCode >= 500:
		s.m.fetches[fetchServerError].Inc()
	default:
		s.m.fetches[fetchOK].Inc()
	}
	return resp, nil
}
