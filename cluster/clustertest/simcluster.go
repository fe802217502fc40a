package clustertest

import (
	"strconv"
	"sync"

	"github.com/meshcdn/meshcdn/cluster"
)

// SimNodes places the nodes of a Cluster on a SimNet: pass Configure as
// Options.Configure (and Region as Options.Region) and node i runs over a
// SimTransport in region RegionOf(i) instead of sockets.
type SimNodes struct {
	Net      *SimNet
	RegionOf func(i int) int
	Names    []string // region names by number (metadata only)

	mu    sync.Mutex
	trans map[int]*SimTransport // node → its current transport
}

// Region names node i's region (Options.Region).
func (s *SimNodes) Region(i int) string {
	r := s.RegionOf(i)
	if r < len(s.Names) {
		return s.Names[r]
	}
	return "region-" + strconv.Itoa(r)
}

// Configure gives node i a fresh SimTransport (Options.Configure), at its
// previous address when it restarts (Cluster.Restart); a transport that
// cannot be made is left out, and the node then binds a loopback socket,
// which the caller sees as Trans(i) == nil.
func (s *SimNodes) Configure(i int, cfg *cluster.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t *SimTransport
	var err error
	if old := s.trans[i]; old != nil {
		t, err = s.Net.Reopen(old)
	} else {
		t, err = s.Net.Transport(s.RegionOf(i))
	}
	if err != nil {
		return
	}
	if s.trans == nil {
		s.trans = map[int]*SimTransport{}
	}
	s.trans[i] = t
	cfg.Transport = t
	cfg.BindAddr = t.IP()
	cfg.BindPort = t.Port()
}

// Trans is node i's current transport (nil if none).
func (s *SimNodes) Trans(i int) *SimTransport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trans[i]
}
