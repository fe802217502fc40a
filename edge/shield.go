package edge

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/meshcdn/meshcdn/store"
)

// Shielding: a miss on a node that does not own the object (rendezvous
// hashing of the primary key over the alive members, Shield.Owner) is
// fetched from the owner, a peer source (peerSource) beside the origin;
// the owner answers from its cache or collapses the request with its own
// misses into one origin fetch (ServePeer). The owner answers from its
// cache only once it has applied every purge the child had applied when
// it asked (Shield.WaitApplied), and joins a request only to flights
// begun after that; otherwise it fetches anew. The argument is in the
// README ("Shielding").

// Shield is what the edge needs of the cluster for shielding;
// *cluster.ShieldView (cluster.Node.ShieldView) implements it.
type Shield interface {
	// Owner returns the owner of key among the alive members ("" region:
	// all of them): its name and the address of its peer-fetch endpoint
	// (host:port or a URL), and self when it is this node. ok is false
	// when no member qualifies.
	Owner(key, region string) (name, addr string, self, ok bool)
	// Region is this node's region (for "shield: region").
	Region() string
	// Applied is this node's applied purge vector, encoded for a header.
	Applied() string
	// WaitApplied waits at most timeout until this node has applied every
	// purge the encoded vector v names; covered reports whether it has.
	// err: v is malformed.
	WaitApplied(ctx context.Context, v string, timeout time.Duration) (covered bool, err error)
	// Secrets authenticate peer fetches: the first signs, any verifies.
	Secrets() [][]byte
}

// Shield defaults.
const (
	DefaultShieldTimeout   = 300 * time.Millisecond // the owner must acknowledge a peer fetch within it
	DefaultShieldApplyWait = 100 * time.Millisecond // the owner waits this long for purges a child applied
	PeerFetchPath          = "/_meshcdn/peer-fetch"
	peerClockSkew          = 60 * time.Second // accepted age of a peer fetch's signature
	maxPeerURI             = 8 << 10
	maxPeerHost            = 256
)

// Peer-fetch request fields (child → owner) and the owner's marker.
const (
	hdrPeerFrom    = "Meshcdn-Peer-From"
	hdrPeerHost    = "Meshcdn-Peer-Host"
	hdrPeerURI     = "Meshcdn-Peer-Uri"
	hdrPeerApplied = "Meshcdn-Peer-Applied"
	hdrPeerTime    = "Meshcdn-Peer-Time"
	hdrPeerSig     = "Meshcdn-Peer-Sig"
	hdrPeer        = "Meshcdn-Peer" // on the owner's answer: its name
)

// Shield modes of a site (Site.Shield).
type shieldMode uint8

const (
	shieldOff       shieldMode = iota
	shieldCluster              // owner among every alive member
	shieldOwnRegion            // owner among the alive members of this node's region
	shieldRegion               // owner among the alive members of a named region
)

// parseShield validates Site.Shield: "" or "off", "cluster", "region"
// (this node's region) or "region:<name>".
func parseShield(v string) (shieldMode, string, error) {
	switch v = strings.TrimSpace(v); {
	case v == "" || v == "off":
		return shieldOff, "", nil
	case v == "cluster":
		return shieldCluster, "", nil
	case v == "region":
		return shieldOwnRegion, "", nil
	case strings.HasPrefix(v, "region:"):
		name := v[len("region:"):]
		if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\r\n,;") {
			return 0, "", fmt.Errorf("shield %q: the region name must be 1-64 characters without spaces, ',' or ';'", v)
		}
		return shieldRegion, name, nil
	}
	return 0, "", fmt.Errorf("shield %q: want off, cluster, region or region:<name>", v)
}

// CheckShield validates a Site.Shield value.
func CheckShield(v string) error {
	_, _, err := parseShield(v)
	return err
}

// peerInfo is what an authenticated peer fetch carries into the stages
// (request context): the original client's address and scheme, which the
// edge believes only from a peer.
type peerInfo struct {
	from     string
	client   string // the original client's address
	proto    []string
	minFence store.Fence // join only flights begun at or after it
	covered  bool        // the cache may answer (every purge the child applied is applied here)
}

type peerKey struct{}

func peerOf(r *http.Request) *peerInfo {
	pi, _ := r.Context().Value(peerKey{}).(*peerInfo)
	return pi
}

// checkShield refuses sites that shield on a proxy without Config.Shield.
func (p *Proxy) checkShield(t *siteTable) error {
	if p.shield != nil {
		return nil
	}
	for _, s := range t.all {
		if s.shield != shieldOff {
			return fmt.Errorf("edge: site %q: shield %q needs the cluster (Config.Shield)", s.name, s.Shield)
		}
	}
	return nil
}

// sourceFor chooses the fetch source of a new flight: the owner when the
// site shields, this node does not own the object, and the flight may be
// shared (not private, no Range forwarded, no credentials); else the
// origin. A peer's request always goes to the origin: one hop at most.
func (p *Proxy) sourceFor(rq *request, f *flight) source {
	s := rq.s
	if p.shield == nil || s.shield == shieldOff || f.private || f.ranged || rq.peer != nil ||
		rq.facts&hasAuthorization != 0 {
		return nil
	}
	region := s.shieldRegion
	if s.shield == shieldOwnRegion {
		region = p.shield.Region()
	}
	name, addr, self, ok := p.shield.Owner(f.primary, region)
	if !ok || self || addr == "" {
		return nil
	}
	return &peerSource{owner: name, addr: addr, host: rq.r.Host, uri: rq.r.URL.RequestURI()}
}
