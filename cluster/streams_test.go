package cluster

import (
	"strconv"
	"testing"
)

func addEntries(r *retainLog, s *stream, seqs ...uint64) {
	for _, q := range seqs {
		e := entry{Origin: s.key.origin, Epoch: s.key.epoch, Seq: q, Time: int64(q), Keys: []string{"k" + strconv.FormatUint(q, 10)}}
		r.add(s, q, e.Time, framedEntry(&e))
	}
}

// The own log keeps what a live member has not acknowledged beyond its
// soft bound, up to hardFactor times it; what everyone acknowledged goes.
func TestRetainLogKeepsUnacknowledged(t *testing.T) {
	const soft = 16
	var acked uint64
	r := retainLog{maxCount: soft, maxBytes: 1 << 20, ackedTo: func() uint64 { return acked }}
	s := &stream{key: streamKey{"self", 1}}
	for q := uint64(1); q <= 3*soft; q++ {
		addEntries(&r, s, q)
	}
	if r.fifo.Len() != hardFactor*soft || s.entry(soft+1) == nil || s.entry(soft) != nil {
		t.Fatalf("holds %d entries from seq %d, want the newest %d", r.fifo.Len(), s.base, hardFactor*soft)
	}
	acked = 3 * soft
	addEntries(&r, s, 3*soft+1)
	if r.fifo.Len() != soft {
		t.Fatalf("holds %d entries once acknowledged, want %d", r.fifo.Len(), soft)
	}
}

// Window slots count against the byte bound: sparse sequences (holes) cannot
// grow a stream's window beyond it.
func TestRetainLogCountsWindowSlots(t *testing.T) {
	const bound = 256 << 10
	r := retainLog{maxCount: 1 << 16, maxBytes: bound}
	var ss []*stream
	for i := range 8 {
		s := &stream{key: streamKey{"sparse-" + strconv.Itoa(i), 1}}
		ss = append(ss, s)
		for q := uint64(1); q < 1<<18; q += 60000 {
			addEntries(&r, s, q)
		}
	}
	slots := 0
	for _, s := range ss {
		slots += len(s.log)
	}
	if slots*slotBytes > bound || r.bytes > bound {
		t.Fatalf("%d window slots (%d bytes) and %d counted bytes for a bound of %d", slots, slots*slotBytes, r.bytes, bound)
	}
}
