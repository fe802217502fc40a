package cluster

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/store"
)

// Applier applies a purge to the local cache. *store.Store satisfies it.
type Applier interface {
	Purge(p store.Purge) int
}

// Config configures a node. Zero values take the documented defaults.
type Config struct {
	NodeName      string // unique in the cluster (default: hostname)
	BindAddr      string // gossip bind address (default 0.0.0.0)
	BindPort      int    // gossip port, UDP and TCP (0 = pick a free port)
	AdvertiseAddr string // address peers use to reach us (NAT); default: derived from BindAddr
	AdvertisePort int    // default: the bound port

	Join      []string // host:port or DNS names; every A/AAAA record is tried; retried until it works
	Region    string   // region name carried in node metadata
	Keys      [][]byte // gossip encryption keys, 16/24/32 bytes; the first encrypts, all decrypt
	HTTPAddr  string   // the node's public HTTP address (metadata only)
	AdminAddr string   // the node's admin/API address (metadata only)

	Transport  memberlist.Transport // optional: tests inject faults (clustertest.Faults)
	Logger     *zap.Logger
	Registerer prometheus.Registerer

	RetainLog      int           // purges retained per log for anti-entropy replay (default 524288; the byte bound binds first)
	IsolationBound time.Duration // >0: StaleCutoff reports LastContact once isolated longer than this (default 0 = off)

	Timing Timing // failure detection, retransmission and anti-entropy knobs

	Dissemination   Dissemination // how a purge first reaches the members (dissem.go): Direct (default), Relay, Gossip
	RelaysPerRegion int           // Relay: members per region the origin sends to (default 2, at most 8)
}

// Result reports what happened to one purge.
type Result struct {
	ID       string   // "origin/epoch/seq" (or "origin/epoch/first-last" when split into several entries)
	Origin   string   // the accepting node's name
	Seq      uint64   // sequence of the (last) entry on the accepting node's current boot
	Local    int      // objects removed or marked on the accepting node
	Acked    []string // nodes that confirmed (applied) the purge
	Pending  []string // live nodes that have not confirmed it (yet)
	Complete bool     // every member that has not left the cluster confirmed

	// Unreachable: members that have not left the cluster but that this
	// node could not reach: failed when the purge was accepted, or failed,
	// restarted or fell behind (suspect) before confirming it. A member
	// cut off by a partition keeps serving what it cached meanwhile.
	Unreachable []string
}

// Member is one node as this node sees it.
type Member struct {
	Name      string
	Region    string
	Addr      string // gossip address host:port
	HTTPAddr  string
	AdminAddr string
	State     string    // "alive", "suspect", "dead", "left"
	LastSeen  time.Time // last time we heard from it
	Seq       uint64    // highest contiguous purge seq of its current boot that this node applied
}

// Errors.
var (
	ErrClosed       = errors.New("cluster: node is shut down")
	ErrInvalidPurge = errors.New("cluster: invalid purge")
	ErrKeyMismatch  = errors.New("cluster: gossip key mismatch (the peer could not decrypt our messages or we could not decrypt its)")
)

// ParseKeys parses a comma separated list of base64 keys (16, 24 or 32
// bytes each, AES-128/192/256). The first key is the primary.
func ParseKeys(csv string) ([][]byte, error) {
	var keys [][]byte
	for i, f := range strings.Split(csv, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var k []byte
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if k, err = enc.DecodeString(f); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip key %d: not base64: %w", i+1, err)
		}
		switch len(k) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("cluster: gossip key %d: %d bytes, want 16, 24 or 32", i+1, len(k))
		}
		dup := false
		for _, o := range keys {
			if string(o) == string(k) {
				dup = true
			}
		}
		if !dup {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("cluster: no gossip key in %q", csv)
	}
	return keys, nil
}
