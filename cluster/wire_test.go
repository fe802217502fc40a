package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleEntry(seq uint64) entry {
	return entry{Origin: "node-a", Epoch: 1700000000000000000, Seq: seq, Time: time.Now().UnixNano(),
		Keys: []string{"company/42", "user/9"}, URLs: []string{"example.com/a?b=c"}}
}

func TestWireRoundTrip(t *testing.T) {
	e1, e2 := sampleEntry(1), sampleEntry(2)
	e2.All, e2.Soft, e2.Keys, e2.URLs = true, true, nil, nil
	e3 := sampleEntry(3)
	e3.Before = time.Now().UnixNano()
	msg := encodePurges("node-b", 7, [][]byte{framedEntry(&e1), framedEntry(&e2), framedEntry(&e3)})
	m, err := decodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != msgPurges || m.Sender != "node-b" || m.Epoch != 7 || len(m.Entries) != 3 {
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
	good := encodePurges("n", 1, [][]byte{framedEntry(&e)})
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
		{"key too long", encodePurges("n", 1, [][]byte{framedEntry(&long)}), errLimit},
		{"too many keys", encodePurges("n", 1, [][]byte{framedEntry(&many)}), errLimit},
		{"entry purges nothing", encodePurges("n", 1, [][]byte{framedEntry(&empty)}), errField},
		{"seq zero", encodePurges("n", 1, [][]byte{framedEntry(&zeroSeq)}), errField},
		{"huge count", hugeCount, errLimit},
		{"ack range gap 0", badRange, errField},
		{"no sender", encodePurges("", 1, [][]byte{framedEntry(&e)}), errField},
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
	f.Add(encodePurges("n", 1, [][]byte{framedEntry(&e)}))
	f.Add(encodeAck("n", 1, &ackMsg{Epoch: 1, Contig: 2, Ranges: [][2]uint64{{4, 5}}}))
	f.Add(encodeDigest("n", 1, &digestMsg{Full: true, Floor: 3, Items: []digestItem{{"a", 1, 2}}}))
	f.Add(encodeReplay("n", 1, &replayMsg{Origin: "node-a", Epoch: e.Epoch, From: 1, To: 4, Missing: [][2]uint64{{2, 2}}}, [][]byte{framedEntry(&e)}))
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
