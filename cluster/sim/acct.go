package main

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/meshcdn/meshcdn/cluster/clustertest"
)

// acct counts purge traffic (meshcdn PURGES, RELAY and ACK messages, sent
// alone or inside memberlist's compound packets with gossip) per sending
// address, so bytes per purge need no background subtraction.
type acct struct {
	mu    sync.Mutex
	by    map[string]*counts
	total counts
}

type counts struct{ bytes, packets atomic.Uint64 }

func newAcct() *acct { return &acct{by: map[string]*counts{}} }

func (a *acct) of(addr string) *counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.by[addr]
	if c == nil {
		c = &counts{}
		a.by[addr] = c
	}
	return c
}

func (a *acct) tap(s clustertest.Sent) {
	n := purgeBytes(s.Buf)
	if n == 0 {
		return
	}
	c := a.of(s.From)
	c.bytes.Add(uint64(n))
	c.packets.Add(1)
	a.total.bytes.Add(uint64(n))
	a.total.packets.Add(1)
}

// purgeBytes is how many bytes of memberlist packet b are purge traffic:
// all of it for a lone meshcdn purge, relay or ack message, the part's
// share for a compound packet.
func purgeBytes(b []byte) int {
	full := len(b)
	if len(b) > 5 && b[0] == 12 { // CRC header
		b = b[5:]
	}
	if len(b) == 0 {
		return 0
	}
	if b[0] == 8 {
		if isPurge(b[1:]) {
			return full
		}
		return 0
	}
	if b[0] != 7 || len(b) < 2 { // compound: 7, count, count × uint16 length, parts
		return 0
	}
	k := int(b[1])
	if len(b) < 2+2*k {
		return 0
	}
	parts := b[2+2*k:]
	n := 0
	for i := range k {
		l := int(binary.BigEndian.Uint16(b[2+2*i:]))
		if l > len(parts) {
			break
		}
		if p := parts[:l]; len(p) > 1 && p[0] == 8 && isPurge(p[1:]) {
			n += l + 2
		}
		parts = parts[l:]
	}
	return n
}

// isPurge: a meshcdn message (magic, version) of type PURGES, ACK or RELAY.
func isPurge(m []byte) bool {
	return len(m) > 2 && m[0] == 0xCD && m[1] == 1 && (m[2] == 1 || m[2] == 2 || m[2] == 16)
}
