package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// tracer keeps, for every purge key of the run, the packets that carried
// it (direct sends, retransmissions, gossip), so a slow purge can be
// explained: which node applied it last and how the purge got there.
type tracer struct {
	prefix []byte
	mu     sync.Mutex
	byKey  map[string][]hop
}

type hop struct {
	from, to string
	at       time.Time
	delay    time.Duration
	dropped  bool
	kind     byte // memberlist message type: 8 user message (direct), 7 compound (gossip piggyback)
	typ      byte // for a user message, meshcdn's message type (1 purges, 16 relay)
}

func newTracer(prefix string) *tracer {
	return &tracer{prefix: []byte(prefix), byKey: map[string][]hop{}}
}

func (t *tracer) tap(s clustertest.Sent) {
	b := s.Buf
	if !bytes.Contains(b, t.prefix) {
		return
	}
	var keys []string
	for rest := b; ; {
		i := bytes.Index(rest, t.prefix)
		if i < 0 {
			break
		}
		j := i + len(t.prefix)
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		keys = append(keys, string(rest[i:j]))
		rest = rest[j:]
	}
	h := hop{from: s.From, to: s.To, at: s.At, delay: s.Delay, dropped: s.Dropped}
	if len(b) > 5 && b[0] == 12 { // memberlist's CRC header
		b = b[5:]
	}
	if len(b) > 0 {
		h.kind = b[0]
	}
	if len(b) > 3 && b[0] == 8 && b[1] == 0xCD {
		h.typ = b[3]
	}
	t.mu.Lock()
	for _, k := range keys {
		t.byKey[k] = append(t.byKey[k], h)
	}
	t.mu.Unlock()
}

// explain describes how key reached the node at addr: every packet that
// carried it there, relative to accept time at.
func (t *tracer) explain(key, addr string, at time.Time, name func(addr string) string) string {
	t.mu.Lock()
	hs := append([]hop(nil), t.byKey[key]...)
	t.mu.Unlock()
	sort.Slice(hs, func(i, j int) bool { return hs[i].at.Before(hs[j].at) })
	var b strings.Builder
	to, total, dropped := 0, len(hs), 0
	for _, h := range hs {
		if h.dropped {
			dropped++
		}
		if h.typ == 16 {
			state := fmt.Sprintf("arrives +%s", ms(h.at.Add(h.delay).Sub(at)))
			if h.dropped {
				state = "DROPPED"
			}
			fmt.Fprintf(&b, "        +%7s ms relay    to   %-9s %s\n", ms(h.at.Sub(at)), name(h.to), state)
		}
		if h.to != addr {
			continue
		}
		to++
		kind := "direct"
		if h.kind == 7 {
			kind = "compound"
		}
		state := fmt.Sprintf("arrives +%s", ms(h.at.Add(h.delay).Sub(at)))
		if h.dropped {
			state = "DROPPED"
		}
		fmt.Fprintf(&b, "        +%7s ms %-8s from %-9s %s\n", ms(h.at.Sub(at)), kind, name(h.from), state)
	}
	return fmt.Sprintf("      %d packets carried it (%d dropped), %d of them to this node:\n%s", total, dropped, to, b.String())
}
