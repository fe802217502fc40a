package cluster

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Applied is what a node has applied of the cluster's purges: for every
// purge stream (a boot of a node) it has applied anything of, the highest
// sequence number applied and the origin time of the newest purge of that
// stream it has seen. A node that has applied at least another's Applied
// (Covers) holds no object that a purge the other has applied should have
// removed: that is what lets a shield owner answer a child from its cache
// (cluster/README.md, "Shielding without stale refills").
//
// The zero value is the empty vector (covered by everyone).
type Applied struct {
	Entries []AppliedEntry // sorted by Origin, then Epoch
}

// AppliedEntry is one stream of an Applied vector.
type AppliedEntry struct {
	Origin string
	Epoch  uint64
	Seq    uint64 // highest applied (contiguous or not)
	Time   int64  // origin time (unix nanos) of the newest purge seen on the stream
}

// Bounds of an encoded Applied vector (it travels in a request header).
const (
	MaxAppliedEntries = 1024
	maxAppliedBytes   = 64 << 10
)

// Applied returns this node's purge progress. For a stream with purges
// applied out of order, Seq is the highest applied, not the contiguous
// point: the vector must name every purge the node applied, and a peer
// that has applied everything up to Seq has applied those too.
func (n *Node) Applied() Applied {
	n.mu.Lock()
	out := Applied{Entries: make([]AppliedEntry, 0, len(n.streams))}
	for k, s := range n.streams {
		top := s.contig
		for q := range s.ahead {
			top = max(top, q)
		}
		if top == 0 {
			continue
		}
		out.Entries = append(out.Entries, AppliedEntry{Origin: k.origin, Epoch: k.epoch, Seq: top, Time: s.lastTime})
	}
	n.mu.Unlock()
	slices.SortFunc(out.Entries, func(a, b AppliedEntry) int {
		if a.Origin != b.Origin {
			if a.Origin < b.Origin {
				return -1
			}
			return 1
		}
		switch {
		case a.Epoch < b.Epoch:
			return -1
		case a.Epoch > b.Epoch:
			return 1
		}
		return 0
	})
	if len(out.Entries) > MaxAppliedEntries {
		// The newest streams matter; the oldest are older than any
		// live boot's floor in practice. Keep the newest by time.
		slices.SortFunc(out.Entries, func(a, b AppliedEntry) int {
			switch {
			case a.Time > b.Time:
				return -1
			case a.Time < b.Time:
				return 1
			}
			return 0
		})
		out.Entries = out.Entries[:MaxAppliedEntries]
	}
	return out
}

// Covers reports whether this node has applied everything v names: for
// each stream, its contiguous point is at least v's Seq, or every purge of
// the stream v has seen is older than this node's floor (its boot minus
// the clock skew margin: the node stores nothing that old, the same rule
// by which it skips applying such purges).
func (n *Node) Covers(v Applied) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.coversLocked(v)
}

func (n *Node) coversLocked(v Applied) bool {
	for _, e := range v.Entries {
		if e.Time != 0 && e.Time < n.floor {
			continue
		}
		s := n.streams[streamKey{e.Origin, e.Epoch}]
		if s == nil || s.contig < e.Seq {
			return false
		}
	}
	return true
}

// WaitApplied waits until this node Covers v, at most timeout (or until
// ctx is done or the node shuts down), and reports whether it does.
func (n *Node) WaitApplied(ctx context.Context, v Applied, timeout time.Duration) bool {
	if len(v.Entries) == 0 {
		return true
	}
	var t *time.Timer
	for {
		ch := n.appliedSig.wait()
		if n.Covers(v) {
			if t != nil {
				t.Stop()
			}
			return true
		}
		if t == nil {
			if timeout <= 0 {
				return false
			}
			t = time.NewTimer(timeout)
			defer t.Stop()
		}
		select {
		case <-ch:
		case <-t.C:
			return n.Covers(v)
		case <-ctx.Done():
			return false
		case <-n.done:
			return false
		}
	}
}

// signal wakes everyone waiting for a change (WaitApplied).
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// String encodes v for a request header: base64url (no padding) of
// count, then per entry origin (length-prefixed), epoch, seq, time, all
// uvarints. "" is the empty vector.
func (v Applied) String() string {
	if len(v.Entries) == 0 {
		return ""
	}
	b := binary.AppendUvarint(nil, uint64(len(v.Entries)))
	for _, e := range v.Entries {
		b = binary.AppendUvarint(b, uint64(len(e.Origin)))
		b = append(b, e.Origin...)
		b = binary.AppendUvarint(b, e.Epoch)
		b = binary.AppendUvarint(b, e.Seq)
		b = binary.AppendUvarint(b, uint64(max(e.Time, 0)))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadApplied = errors.New("cluster: malformed applied vector")

// ParseApplied decodes what String encoded; it refuses anything larger
// than MaxAppliedEntries entries or 64 KiB, names longer than a node name
// may be, and trailing bytes.
func ParseApplied(s string) (Applied, error) {
	if s == "" {
		return Applied{}, nil
	}
	if len(s) > maxAppliedBytes {
		return Applied{}, fmt.Errorf("%w: %d bytes", errBadApplied, len(s))
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Applied{}, fmt.Errorf("%w: %v", errBadApplied, err)
	}
	next := func() (uint64, bool) {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return x, true
	}
	cnt, ok := next()
	if !ok || cnt == 0 || cnt > MaxAppliedEntries {
		return Applied{}, fmt.Errorf("%w: entry count", errBadApplied)
	}
	v := Applied{Entries: make([]AppliedEntry, 0, cnt)}
	for range cnt {
		l, ok := next()
		if !ok || l == 0 || l > maxNameLen || l > uint64(len(b)) {
			return Applied{}, fmt.Errorf("%w: origin name", errBadApplied)
		}
		e := AppliedEntry{Origin: string(b[:l])}
		b = b[l:]
		var t uint64
		var ok1, ok2, ok3 bool
		e.Epoch, ok1 = next()
		e.Seq, ok2 = next()
		t, ok3 = next()
		if !ok1 || !ok2 || !ok3 || t > 1<<63-1 {
			return Applied{}, fmt.Errorf("%w: entry", errBadApplied)
		}
		e.Time = int64(t)
		v.Entries = append(v.Entries, e)
	}
	if len(b) != 0 {
		return Applied{}, fmt.Errorf("%w: trailing bytes", errBadApplied)
	}
	return v, nil
}
