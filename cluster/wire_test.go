package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/store"
)

// purges is a PURGES message sent by the origin of the first entry.
func purges(es ...entry) []byte {
	fr := make([][]byte, len(es))
	for i := range es {
		fr[i] = framedEntry(&es[i])
	}
	return encodePurges(es[0].Origin, es[0].Epoch, fr)
}

func sampleEntry(seq uint64) entry {
	return entry{Origin: "node-a", Epoch: 1700000000000000000, Seq: seq, Time: time.Now().UnixNano(),
		Keys: []string{"company/42", "user/9"}, URLs: []string{"example.com/a?b=c"}}
}

func TestWireRoundTrip(t *testing.T) {
	e1, e2 := sampleEntry(1), sampleEntry(2)
	e2.All, e2.Soft, e2.Keys, e2.URLs = true, true, nil, nil
	e3 := sampleEntry(3)
	e3.Before = time.Now().UnixNano()
	msg := encodePurges(e1.Origin, e1.Epoch, [][]byte{framedEntry(&e1), framedEntry(&e2), framedEntry(&e3)})
	m, err := decodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != msgPurges || m.Sender != e1.Origin || m.Epoch != e1.Epoch || len(m.Entries) != 3 {
		t.Fatalf("header %+v", m.header)
	}
	for i, want := range []entry{e1, e2, e3} {
		got := m.Entries[i]
		if !bytes.Equal(got.raw, framedEntry(&want)) {
			t.Errorf("entry %d raw bytes differ", i)
		}
		got.raw = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("entry %d: got %+v want %+v", i, got, want)
		}
	}

	a := ackMsg{Epoch: 9, Contig: 100, Ranges: [][2]uint64{{102, 105}, {200, 200}}}
	m, err = decodeMessage(encodeAck("node-c", 3, &a))
	if err != nil || !reflect.DeepEqual(m.Ack, a) {
		t.Fatalf("ack: %v %+v", err, m.Ack)
	}

	d := digestMsg{Response: true, Full: true, Floor: 12345, Items: []digestItem{{"x", 1, 2}, {"y", 3, 4}}}
	m, err = decodeMessage(encodeDigest("node-d", 4, &d))
	if err != nil || !reflect.DeepEqual(m.Digest, d) {
		t.Fatalf("digest: %v %+v", err, m.Digest)
	}

	r := replayMsg{Origin: "node-a", Epoch: e1.Epoch, From: 0, To: 10, Floor: 5, LostTime: 6, Missing: [][2]uint64{{4, 6}}}
	m, err = decodeMessage(encodeReplay("node-e", 5, &r, [][]byte{framedEntry(&e1), framedEntry(&e3)}))
	if err != nil || len(m.Replay.Entries) != 2 || m.Replay.To != 10 || !reflect.DeepEqual(m.Replay.Missing, r.Missing) {
		t.Fatalf("replay: %v %+v", err, m.Replay)
	}

	l := leaveMsg{Name: "node-z", Epoch: 77}
	m, err = decodeMessage(encodeLeave("node-f", 6, &l))
	if err != nil || m.Type != msgLeave || m.Leave != l {
		t.Fatalf("leave: %v %+v", err, m.Leave)
	}
	if _, err := decodeMessage(encodeLeave("node-f", 6, &leaveMsg{})); err != errField {
		t.Fatalf("leave without a name: %v, want %v", err, errField)
	}
}

func TestWireMetaRoundTrip(t *testing.T) {
	m := nodeMeta{Epoch: 42, Region: "eu-west", HTTPAddr: "10.0.0.1:80", AdminAddr: "10.0.0.1:9090"}
	got, err := decodeMeta(m.encode())
	if err != nil || got != m {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := decodeMeta([]byte{wireMagic, 9}); !errors.Is(err, errVersion) {
		t.Fatalf("unknown meta version: %v", err)
	}
	if _, err := decodeMeta([]byte{wireMagic, metaVersion, 0x80}); err == nil {
		t.Fatal("truncated meta accepted")
	}
}

// TestWireRejects feeds malformed messages; each must fail with its reason
// and never panic.
func TestWireRejects(t *testing.T) {
	e := sampleEntry(1)
	good := purges(e)
	long := sampleEntry(1)
	long.Keys = []string{strings.Repeat("k", MaxKeyLen+1)}
	many := sampleEntry(1)
	many.Keys = make([]string, MaxEntryKeys+1)
	for i := range many.Keys {
		many.Keys[i] = "k"
	}
	empty := sampleEntry(1)
	empty.Keys, empty.URLs = nil, nil
	zeroSeq := sampleEntry(0)
	hugeCount := appendHeader(nil, msgPurges, "n", 1)
	hugeCount = binary.AppendUvarint(hugeCount, 1<<40)
	badRange := appendHeader(nil, msgAck, "n", 1)
	badRange = append(badRange, 1, 10, 1, 0, 0) // epoch 1, contig 10, one range with gap 0
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errTruncated},
		{"magic", []byte("GET / HTTP/1.1\r\n"), errMagic},
		{"version", append([]byte{wireMagic, 9}, good[2:]...), errVersion},
		{"type", append([]byte{wireMagic, wireVersion, 99}, good[3:]...), errType},
		{"truncated", good[:len(good)-3], errTruncated},
		{"trailing", append(append([]byte(nil), good...), 0), errTrailing},
		{"oversize", make([]byte, maxMessageBytes+1), errLimit},
		{"key too long", purges(long), errLimit},
		{"too many keys", purges(many), errLimit},
		{"entry purges nothing", purges(empty), errField},
		{"seq zero", purges(zeroSeq), errField},
		{"huge count", hugeCount, errLimit},
		{"ack range gap 0", badRange, errField},
		{"no sender", encodePurges("", 1, [][]byte{framedEntry(&e)}), errField},
		{"entry of another origin", encodePurges("node-b", e.Epoch, [][]byte{framedEntry(&e)}), errOrigin},
		{"entry of another epoch", encodePurges(e.Origin, e.Epoch+1, [][]byte{framedEntry(&e)}), errOrigin},
		{"relayed entry of another origin", encodeEntries(msgRelay, "node-b", e.Epoch, [][]byte{framedEntry(&e)}), errOrigin},
	}
	for _, c := range cases {
		_, err := decodeMessage(c.b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Every prefix of a valid message is refused, none panics.
	for i := 0; i < len(good); i++ {
		if _, err := decodeMessage(good[:i]); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
	}
}

func FuzzDecode(f *testing.F) {
	e := sampleEntry(3)
	f.Add(purges(e))
	f.Add(encodeAck("n", 1, &ackMsg{Epoch: 1, Contig: 2, Ranges: [][2]uint64{{4, 5}}}))
	f.Add(encodeDigest("n", 1, &digestMsg{Full: true, Floor: 3, Items: []digestItem{{"a", 1, 2}}}))
	f.Add(encodeReplay("n", 1, &replayMsg{Origin: "node-a", Epoch: e.Epoch, From: 1, To: 4, Missing: [][2]uint64{{2, 2}}}, [][]byte{framedEntry(&e)}))
	f.Add(encodeLeave("n", 1, &leaveMsg{Name: "m", Epoch: 2}))
	f.Add((&nodeMeta{Epoch: 1, Region: "r"}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		_, _ = decodeMeta(b)
		if err != nil {
			return
		}
		// What decodes must re-encode to something that decodes the same.
		switch m.Type {
		case msgPurges:
			var fr [][]byte
			for i := range m.Entries {
				fr = append(fr, framedEntry(&m.Entries[i]))
			}
			m2, err := decodeMessage(encodePurges(m.Sender, m.Epoch, fr))
			if err != nil || len(m2.Entries) != len(m.Entries) {
				t.Fatalf("re-encode: %v", err)
			}
		case msgAck:
			if _, err := decodeMessage(encodeAck(m.Sender, m.Epoch, &m.Ack)); err != nil {
				t.Fatalf("re-encode ack: %v", err)
			}
		case msgDigest:
			if _, err := decodeMessage(encodeDigest(m.Sender, m.Epoch, &m.Digest)); err != nil {
				t.Fatalf("re-encode digest: %v", err)
			}
		}
	})
}

func TestStreamContig(t *testing.T) {
	s := &stream{}
	for _, q := range []uint64{3, 1, 5, 2} {
		s.markApplied(q)
	}
	if s.contig != 3 || !s.applied(5) || s.applied(4) || len(s.ahead) != 1 {
		t.Fatalf("contig %d ahead %v", s.contig, s.ahead)
	}
	if r := s.aheadRanges(10); !reflect.DeepEqual(r, [][2]uint64{{5, 5}}) {
		t.Fatalf("ranges %v", r)
	}
	s.markApplied(4)
	if s.contig != 5 || s.ahead != nil {
		t.Fatalf("contig %d ahead %v", s.contig, s.ahead)
	}
	s.markApplied(9)
	s.advanceTo(7)
	if s.contig != 7 || !s.applied(9) || s.applied(8) {
		t.Fatalf("advance: contig %d ahead %v", s.contig, s.ahead)
	}
}

func TestRetainLogEviction(t *testing.T) {
	empty := &stream{}
	if empty.retained(0, 10) != 0 || empty.entry(0) != nil || empty.retained(5, 1) != 0 {
		t.Fatal("empty stream")
	}
	r := retainLog{maxCount: 3, maxBytes: 1 << 20}
	a, b := &stream{key: streamKey{"a", 1}}, &stream{key: streamKey{"b", 1}}
	for q := uint64(1); q <= 3; q++ {
		a.markApplied(q)
		r.add(a, q, int64(q*10), []byte{byte(q)})
	}
	b.markApplied(1)
	r.add(b, 1, 99, []byte{1})
	if r.fifo.Len() != 3 || a.entry(1) != nil || a.entry(2) == nil || a.lostTime != 10 || a.base != 2 {
		t.Fatalf("len %d lost %d base %d", r.fifo.Len(), a.lostTime, a.base)
	}
	// Out-of-order and gapped inserts.
	r.add(a, 6, 60, []byte{6})
	r.add(a, 5, 50, []byte{5})
	var seqs []uint64
	for _, e := range a.log {
		if e != nil {
			seqs = append(seqs, e.seq)
		}
	}
	if !reflect.DeepEqual(seqs, []uint64{5, 6}) || a.retained(1, 6) != 2 || a.entry(4) != nil || a.base != 5 {
		t.Fatalf("seqs %v base %d", seqs, a.base)
	}
	// Older than the window: prepended.
	r.maxCount = 10
	r.add(a, 2, 20, []byte{2})
	if a.base != 2 || a.entry(2) == nil || a.retained(2, 6) != 3 {
		t.Fatalf("prepend: base %d", a.base)
	}
	// A window never spans more than maxSpan seqs.
	r.add(a, 2+r.maxSpan()+5, 99, []byte{9})
	if a.end()-a.base > r.maxSpan() || a.entry(2) != nil {
		t.Fatalf("span %d", a.end()-a.base)
	}
	r.drop(a)
	if a.log != nil || r.fifo.Len() != 1 {
		t.Fatalf("drop: %d left", r.fifo.Len())
	}
}

func TestMergeRanges(t *testing.T) {
	got := mergeRanges([][2]uint64{{5, 6}, {10, 12}}, [][2]uint64{{7, 8}, {11, 20}, {1, 2}}, 3, 10)
	want := [][2]uint64{{5, 8}, {10, 20}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if !inRanges(want, 7) || inRanges(want, 9) || inRanges(want, 21) {
		t.Fatal("inRanges")
	}
}

// TestWireSeqBounds: every sequence-like field is at most maxSeq (2^62);
// beyond is refused as "field" (hostile values near 2^64 made the
// retained log's window arithmetic overflow).
func TestWireSeqBounds(t *testing.T) {
	const top = ^uint64(0)
	ep := sampleEntry(1).Epoch
	entryAt := func(seq uint64) []byte { return purges(sampleEntry(seq)) }
	ack := func(contig uint64, rs ...[2]uint64) []byte {
		return encodeAck("n", 1, &ackMsg{Epoch: 1, Contig: contig, Ranges: rs})
	}
	digest := func(contig uint64) []byte {
		return encodeDigest("n", 1, &digestMsg{Items: []digestItem{{"x", 1, contig}}})
	}
	replay := func(from, to uint64, missing ...[2]uint64) []byte {
		return encodeReplay("n", 1, &replayMsg{Origin: "node-a", Epoch: ep, From: from, To: to, Missing: missing}, nil)
	}
	ok := map[string][]byte{
		"entry seq 2^62":      entryAt(maxSeq),
		"ack contig 2^62":     ack(maxSeq),
		"ack range to 2^62":   ack(5, [2]uint64{7, maxSeq}),
		"digest contig 2^62":  digest(maxSeq),
		"replay to 2^62":      replay(maxSeq-10, maxSeq, [2]uint64{maxSeq - 3, maxSeq}),
		"replay from=to 2^62": replay(maxSeq, maxSeq),
	}
	for name, b := range ok {
		if _, err := decodeMessage(b); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"entry seq 2^62+1":         entryAt(maxSeq + 1),
		"entry seq 2^64-1":         entryAt(top),
		"entry seqs 2^64-2,-1,5,2": purges(sampleEntry(top-1), sampleEntry(top), sampleEntry(5), sampleEntry(2)),
		"ack contig 2^62+1":        ack(maxSeq + 1),
		"ack contig 2^64-1":        ack(top),
		"ack range end 2^62+1":     ack(5, [2]uint64{7, maxSeq + 1}),
		"ack range 2^64-2…2^64-1":  ack(5, [2]uint64{top - 1, top}),
		"digest contig 2^62+1":     digest(maxSeq + 1),
		"digest contig 2^64-1":     digest(top),
		"replay to 2^62+1":         replay(0, maxSeq+1),
		"replay from,to 2^64-1":    replay(top, top),
		"replay missing 2^64-1":    replay(top-5, top, [2]uint64{top - 1, top}),
	}
	for name, b := range bad {
		if _, err := decodeMessage(b); !errors.Is(err, errField) {
			t.Errorf("%s: got %v, want %v", name, err, errField)
		}
	}
}

// TestWireURLLen: URLs may be as long as the API allows (MaxURLLen), keys
// stay at MaxKeyLen.
func TestWireURLLen(t *testing.T) {
	e := sampleEntry(1)
	e.URLs = []string{strings.Repeat("u", MaxURLLen)}
	m, err := decodeMessage(purges(e))
	if err != nil || len(m.Entries) != 1 || m.Entries[0].URLs[0] != e.URLs[0] {
		t.Fatalf("%d-byte URL: %v", MaxURLLen, err)
	}
	e.URLs = []string{strings.Repeat("u", MaxURLLen+1)}
	if _, err := decodeMessage(purges(e)); !errors.Is(err, errLimit) {
		t.Fatalf("%d-byte URL: %v", MaxURLLen+1, err)
	}
	e.URLs, e.Keys = nil, []string{strings.Repeat("k", MaxKeyLen+1)}
	if _, err := decodeMessage(purges(e)); !errors.Is(err, errLimit) {
		t.Fatalf("%d-byte key: %v", MaxKeyLen+1, err)
	}
	// The largest entry (MaxEntryKeys URLs of MaxURLLen bytes) still fits
	// in one message.
	e.Keys, e.URLs = nil, make([]string, MaxEntryKeys)
	for i := range e.URLs {
		e.URLs[i] = strings.Repeat("u", MaxURLLen)
	}
	if b := purges(e); len(b) > maxMessageBytes {
		t.Fatalf("largest entry: %d bytes", len(b))
	} else if _, err := decodeMessage(b); err != nil {
		t.Fatal(err)
	}
}

func TestSplitPurgeLimits(t *testing.T) {
	for _, c := range []struct {
		p  store.Purge
		ok bool
	}{
		{store.Purge{URLs: []string{strings.Repeat("u", MaxURLLen)}}, true},
		{store.Purge{URLs: []string{strings.Repeat("u", MaxURLLen+1)}}, false},
		{store.Purge{Keys: []string{strings.Repeat("k", MaxKeyLen)}}, true},
		{store.Purge{Keys: []string{strings.Repeat("k", MaxKeyLen+1)}}, false},
		{store.Purge{Keys: []string{strings.Repeat("k", 4096)}}, false},
		{store.Purge{URLs: []string{""}}, false},
	} {
		_, err := splitPurge(c.p)
		if (err == nil) != c.ok {
			t.Errorf("keys %d bytes, URLs %d bytes: %v", lens(c.p.Keys), lens(c.p.URLs), err)
		}
	}
}

func lens(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// TestRetainLogHostileSeqs feeds the retained log sequence numbers a
// hostile PURGES message carried (the decoder now refuses them, the log
// must survive them regardless): 2^64-2, 2^64-1, 5, 2 panicked in the
// prepend; 2^64-1 then 1 000 000 looped forever evicting. Values near the
// wire bound (2^62) must keep the window consistent too.
func TestRetainLogHostileSeqs(t *testing.T) {
	const top = ^uint64(0)
	for _, seqs := range [][]uint64{
		{top - 1, top, 5, 2},
		{top, 1_000_000},
		{top - 1, top, 1, 2, 3},
		{maxSeq - 1, maxSeq, 5, 2, 1_000_000, maxSeq - 70000, maxSeq - 2},
		{1, maxSeq, 2, maxSeq - 1},
	} {
		done := make(chan any, 1)
		r := &retainLog{maxCount: defaultRetainLog, maxBytes: retainBytes}
		s := &stream{key: streamKey{"fake", 1}}
		go func() {
			defer func() { done <- recover() }()
			for _, q := range seqs {
				s.markApplied(q)
				r.add(s, q, int64(q), []byte{1})
				_ = s.entry(q)
				_ = s.retained(0, top)
			}
		}()
		select {
		case p := <-done:
			if p != nil {
				t.Errorf("seqs %v: panic %v", seqs, p)
				continue
			}
		case <-time.After(5 * time.Second):
			t.Errorf("seqs %v: still busy after 5 s (endless loop)", seqs)
			continue
		}
		// The window is consistent: bounded, holds exactly what the FIFO
		// holds, each entry in its slot, nothing beyond maxSeq.
		if s.end() < s.base || s.end()-s.base > r.maxSpan() || s.end() > maxSeq+1 {
			t.Errorf("seqs %v: window [%d, %d)", seqs, s.base, s.end())
		}
		n := 0
		for i, e := range s.log {
			if e != nil {
				n++
				if e.seq != s.base+uint64(i) || e.seq > maxSeq {
					t.Errorf("seqs %v: entry %d in slot of %d", seqs, e.seq, s.base+uint64(i))
				}
			}
		}
		if n != r.fifo.Len() {
			t.Errorf("seqs %v: %d in the window, %d in the FIFO", seqs, n, r.fifo.Len())
		}
		if s.contig > maxSeq {
			t.Errorf("seqs %v: contig %d", seqs, s.contig)
		}
	}
}
