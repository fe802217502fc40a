package cluster

import (
	"encoding/binary"
	"errors"
	"time"
)

// Wire format (all integers are unsigned LEB128 varints unless noted,
// times are zig-zag varint unix nanoseconds, 0 = zero time; str = uvarint
// length + bytes). Every message starts with
//
//	magic 0xCD | version 0x01 | type | sender str | sender epoch
//
// followed by the body of its type:
//
//	PURGES  count, count × (entry length, entry)
//	RELAY   as PURGES (type 16): the origin asks the receiver to apply the
//	        entries and pass the same message on, as PURGES, to the
//	        members of its region (dissem.go)
//	ACK     acked epoch, contig, nranges, nranges × (gap from previous end, length)
//	DIGEST  flags (1 response, 2 full), floor time, count, count × (origin str, epoch, contig)
//	REPLAY  origin str, epoch, from, to, floor time, lost time, nmissing,
//	        nmissing × (gap from previous end, length), count, count × (entry length, entry)
//	APP     kind byte, body length, body (app.go)
//	LEAVE   member str, member epoch   (an operator's force-leave of a failed member)
//
// entry = origin str | epoch | seq | time | flags (1 all, 2 soft, 4 before) |
// [before time] | nkeys | nkeys × str | nurls | nurls × str
//
// The decoder is strict: every length is checked against the bytes left and
// against the limits below, every sequence number against maxSeq, the
// entries of a PURGES message must be the sender's own (origin and epoch
// of the header), and trailing bytes are an error.
const (
	wireMagic   = 0xCD
	wireVersion = 0x01

	msgPurges = 1
	msgAck    = 2
	msgDigest = 3
	msgReplay = 4
	msgLeave  = 5
	msgApp    = 6
	msgRelay  = 16 // far from the low numbers other message types take

	flagAll    = 1
	flagSoft   = 2
	flagBefore = 4

	digestResponse = 1
	digestFull     = 2

	// MaxKeyLen is the longest surrogate key a purge may carry.
	MaxKeyLen = 1024
	// MaxURLLen is the longest URL a purge may carry (the API's limit).
	MaxURLLen = 8192
	// MaxEntryKeys is the most keys+URLs one wire entry carries; larger
	// purges are split into several entries (several sequence numbers).
	MaxEntryKeys = 512
	// MaxPurgeKeys is the most keys+URLs one Purge call accepts.
	MaxPurgeKeys = 100_000

	maxNameLen      = 128
	maxEntries      = 8192    // entries per message
	maxDigestItems  = 16384   // streams per digest
	maxAckRanges    = 1024    // ranges per ack
	maxMessageBytes = 8 << 20 // larger messages are refused before decoding

	// maxSeq bounds every sequence number on the wire (entry seqs, ack and
	// digest contiguous points, ack ranges, replay claims). A node stamps
	// one sequence per purge, so 2^62 is never reached; the bound keeps
	// seq+1 and window arithmetic far from overflow.
	maxSeq = 1 << 62
)

// Decode errors; their text is the metric reason.
var (
	errMagic     = errors.New("magic")
	errVersion   = errors.New("version")
	errType      = errors.New("type")
	errTruncated = errors.New("truncated")
	errLimit     = errors.New("limit")
	errTrailing  = errors.New("trailing")
	errField     = errors.New("field")
	errOrigin    = errors.New("origin") // a PURGES entry that is not the sender's own
)

// entry is one purge on the wire: a store.Purge plus its origin's epoch.
type entry struct {
	Origin string
	Epoch  uint64
	Seq    uint64
	Time   int64 // unix nanos at the origin
	All    bool
	Soft   bool
	Before int64 // unix nanos, 0 = none
	Keys   []string
	URLs   []string

	raw []byte // the framed (length-prefixed) encoding, set by the decoder
}

type header struct {
	Type   byte
	Sender string
	Epoch  uint64
}

type ackMsg struct {
	Epoch  uint64 // the acked (origin's) epoch
	Contig uint64
	Ranges [][2]uint64 // [first, last] inclusive, ascending, all > Contig
}

type digestItem struct {
	Origin string
	Epoch  uint64
	Contig uint64
}

type digestMsg struct {
	Response bool
	Full     bool
	Floor    int64
	Items    []digestItem
}

type replayMsg struct {
	Origin   string
	Epoch    uint64
	From     uint64 // the claim covers (From, To], for a receiver that applied up to From
	To       uint64
	Floor    int64       // entries stamped before Floor were left out (the receiver's floor)
	LostTime int64       // newest time an entry missing from the sender's log can have
	Missing  [][2]uint64 // seqs in (From, To] the sender no longer has and that may matter
	Entries  []entry
}

type message struct {
	header
	Entries []entry // msgPurges
	Ack     ackMsg
	Digest  digestMsg
	Replay  replayMsg
	AppKind byte   // msgApp
	AppBody []byte // msgApp
	Leave   leaveMsg
}

// leaveMsg: the operator declared member Name (boot Epoch) gone for good.
type leaveMsg struct {
	Name  string
	Epoch uint64
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// --- encoding ---

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHeader(b []byte, typ byte, sender string, epoch uint64) []byte {
	b = append(b, wireMagic, wireVersion, typ)
	b = appendStr(b, sender)
	return binary.AppendUvarint(b, epoch)
}

// appendEntry appends the length-prefixed encoding of e.
func appendEntry(b []byte, e *entry) []byte {
	body := encodeEntryBody(e)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

func encodeEntryBody(e *entry) []byte {
	n := len(e.Origin) + 40
	for _, k := range e.Keys {
		n += len(k) + 2
	}
	for _, u := range e.URLs {
		n += len(u) + 2
	}
	b := make([]byte, 0, n)
	b = appendStr(b, e.Origin)
	b = binary.AppendUvarint(b, e.Epoch)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendVarint(b, e.Time)
	var fl byte
	if e.All {
		fl |= flagAll
	}
	if e.Soft {
		fl |= flagSoft
	}
	if e.Before != 0 {
		fl |= flagBefore
	}
	b = append(b, fl)
	if e.Before != 0 {
		b = binary.AppendVarint(b, e.Before)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Keys)))
	for _, k := range e.Keys {
		b = appendStr(b, k)
	}
	b = binary.AppendUvarint(b, uint64(len(e.URLs)))
	for _, u := range e.URLs {
		b = appendStr(b, u)
	}
	return b
}

// framedEntry returns the length-prefixed entry bytes, ready to concatenate.
func framedEntry(e *entry) []byte {
	return appendEntry(nil, e)
}

// encodePurges builds a PURGES message from framed entries.
func encodePurges(sender string, epoch uint64, framed [][]byte) []byte {
	return encodeEntries(msgPurges, sender, epoch, framed)
}

// encodeEntries builds a PURGES or RELAY message from framed entries.
func encodeEntries(typ byte, sender string, epoch uint64, framed [][]byte) []byte {
	n := 16 + len(sender)
	for _, f := range framed {
		n += len(f)
	}
	b := make([]byte, 0, n)
	b = appendHeader(b, typ, sender, epoch)
	b = binary.AppendUvarint(b, uint64(len(framed)))
	for _, f := range framed {
		b = append(b, f...)
	}
	return b
}

func encodeAck(sender string, epoch uint64, a *ackMsg) []byte {
	b := make([]byte, 0, 32+len(sender)+len(a.Ranges)*4)
	b = appendHeader(b, msgAck, sender, epoch)
	b = binary.AppendUvarint(b, a.Epoch)
	b = binary.AppendUvarint(b, a.Contig)
	return appendRanges(b, a.Contig, a.Ranges)
}

// appendRanges encodes ascending, non-touching inclusive ranges above base.
func appendRanges(b []byte, base uint64, rs [][2]uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(rs)))
	prev := base
	for _, r := range rs {
		b = binary.AppendUvarint(b, r[0]-prev)
		b = binary.AppendUvarint(b, r[1]-r[0])
		prev = r[1]
	}
	return b
}

func encodeDigest(sender string, epoch uint64, d *digestMsg) []byte {
	b := make([]byte, 0, 32+len(sender)+len(d.Items)*32)
	b = appendHeader(b, msgDigest, sender, epoch)
	var fl byte
	if d.Response {
		fl |= digestResponse
	}
	if d.Full {
		fl |= digestFull
	}
	b = append(b, fl)
	b = binary.AppendVarint(b, d.Floor)
	b = binary.AppendUvarint(b, uint64(len(d.Items)))
	for _, it := range d.Items {
		b = appendStr(b, it.Origin)
		b = binary.AppendUvarint(b, it.Epoch)
		b = binary.AppendUvarint(b, it.Contig)
	}
	return b
}

// encodeReplay builds a REPLAY message from framed entries.
func encodeReplay(sender string, epoch uint64, r *replayMsg, framed [][]byte) []byte {
	n := 64 + len(sender) + len(r.Origin)
	for _, f := range framed {
		n += len(f)
	}
	b := make([]byte, 0, n)
	b = appendHeader(b, msgReplay, sender, epoch)
	b = appendStr(b, r.Origin)
	b = binary.AppendUvarint(b, r.Epoch)
	b = binary.AppendUvarint(b, r.From)
	b = binary.AppendUvarint(b, r.To)
	b = binary.AppendVarint(b, r.Floor)
	b = binary.AppendVarint(b, r.LostTime)
	b = appendRanges(b, r.From, r.Missing)
	b = binary.AppendUvarint(b, uint64(len(framed)))
	for _, f := range framed {
		b = append(b, f...)
	}
	return b
}

// --- decoding ---

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(errTruncated)
		} else {
			r.fail(errField)
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

// seq reads a sequence-like number, at most maxSeq.
func (r *reader) seq() uint64 {
	v := r.uvarint()
	if r.err == nil && v > maxSeq {
		r.fail(errField)
		return 0
	}
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		if n == 0 {
			r.fail(errTruncated)
		} else {
			r.fail(errField)
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count bounded by max and by the bytes left (each item
// takes at least minSize bytes), so a hostile count cannot make us allocate.
func (r *reader) count(max int, minSize int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > uint64(max) {
		r.fail(errLimit)
		return 0
	}
	if v*uint64(minSize) > uint64(len(r.b)) {
		r.fail(errTruncated)
		return 0
	}
	return int(v)
}

func (r *reader) str(max int) string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(max) {
		r.fail(errLimit)
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// ranges decodes ascending, non-touching inclusive ranges above base.
func (r *reader) ranges(base uint64) [][2]uint64 {
	n := r.count(maxAckRanges, 2)
	var out [][2]uint64
	prev := base
	for i := 0; i < n && r.err == nil; i++ {
		gap, l := r.uvarint(), r.uvarint()
		first := prev + gap
		last := first + l
		if r.err == nil && (gap == 0 || first < prev || last < first || last > maxSeq) {
			r.fail(errField) // must ascend, not touch, not overflow, stay ≤ maxSeq
			break
		}
		out = append(out, [2]uint64{first, last})
		prev = last
	}
	return out
}

func (r *reader) entries() []entry {
	n := r.count(maxEntries, 2)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]entry, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		start := r.b
		l := r.uvarint()
		if r.err != nil {
			break
		}
		if l > uint64(len(r.b)) {
			r.fail(errTruncated)
			break
		}
		sub := reader{b: r.b[:l]}
		r.b = r.b[l:]
		e := sub.entry()
		e.raw = append([]byte(nil), start[:len(start)-len(r.b)]...)
		if sub.err == nil && len(sub.b) != 0 {
			sub.fail(errTrailing)
		}
		if sub.err != nil {
			r.fail(sub.err)
			break
		}
		out = append(out, e)
	}
	return out
}

func (r *reader) entry() entry {
	var e entry
	e.Origin = r.str(maxNameLen)
	e.Epoch = r.uvarint()
	e.Seq = r.seq()
	e.Time = r.varint()
	fl := r.byte()
	if fl&^(flagAll|flagSoft|flagBefore) != 0 {
		r.fail(errField)
	}
	e.All = fl&flagAll != 0
	e.Soft = fl&flagSoft != 0
	if fl&flagBefore != 0 {
		e.Before = r.varint()
		if r.err == nil && e.Before == 0 {
			r.fail(errField)
		}
	}
	nk := r.count(MaxEntryKeys, 1)
	if nk > 0 {
		e.Keys = make([]string, 0, nk)
		for i := 0; i < nk && r.err == nil; i++ {
			e.Keys = append(e.Keys, r.str(MaxKeyLen))
		}
	}
	nu := r.count(MaxEntryKeys-nk, 1)
	if nu > 0 {
		e.URLs = make([]string, 0, nu)
		for i := 0; i < nu && r.err == nil; i++ {
			e.URLs = append(e.URLs, r.str(MaxURLLen))
		}
	}
	if r.err == nil {
		if e.Origin == "" || e.Seq == 0 {
			r.fail(errField)
		} else if !e.All && e.Before == 0 && len(e.Keys) == 0 && len(e.URLs) == 0 {
			r.fail(errField) // an entry that purges nothing
		}
	}
	return e
}

// decodeMessage parses one message. It never panics; the error's text is
// the reason counted in meshcdn_cluster_message_errors_total.
func decodeMessage(b []byte) (message, error) {
	var m message
	if len(b) > maxMessageBytes {
		return m, errLimit
	}
	if len(b) < 3 {
		return m, errTruncated
	}
	if b[0] != wireMagic {
		return m, errMagic
	}
	if b[1] != wireVersion {
		return m, errVersion
	}
	r := reader{b: b[2:]}
	m.Type = r.byte()
	m.Sender = r.str(maxNameLen)
	m.Epoch = r.uvarint()
	if r.err == nil && m.Sender == "" {
		r.fail(errField)
	}
	switch m.Type {
	case msgPurges, msgRelay:
		m.Entries = r.entries()
		// Purges are sent only by their origin (direct sends,
		// retransmissions and gossip alike); other nodes' entries travel
		// in replays, which carry a claim. So nobody can pre-claim another
		// origin's sequence numbers here.
		for i := range m.Entries {
			if e := &m.Entries[i]; r.err == nil && (e.Origin != m.Sender || e.Epoch != m.Epoch) {
				r.fail(errOrigin)
			}
		}
	case msgAck:
		m.Ack.Epoch = r.uvarint()
		m.Ack.Contig = r.seq()
		m.Ack.Ranges = r.ranges(m.Ack.Contig)
	case msgDigest:
		fl := r.byte()
		if fl&^(digestResponse|digestFull) != 0 {
			r.fail(errField)
		}
		m.Digest.Response = fl&digestResponse != 0
		m.Digest.Full = fl&digestFull != 0
		m.Digest.Floor = r.varint()
		n := r.count(maxDigestItems, 3)
		if n > 0 {
			m.Digest.Items = make([]digestItem, 0, n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			it := digestItem{Origin: r.str(maxNameLen), Epoch: r.uvarint(), Contig: r.seq()}
			if r.err == nil && it.Origin == "" {
				r.fail(errField)
			}
			m.Digest.Items = append(m.Digest.Items, it)
		}
	case msgReplay:
		rp := &m.Replay
		rp.Origin = r.str(maxNameLen)
		rp.Epoch = r.uvarint()
		rp.From = r.seq()
		rp.To = r.seq()
		rp.Floor = r.varint()
		rp.LostTime = r.varint()
		if r.err == nil && (rp.Origin == "" || rp.To < rp.From) {
			r.fail(errField)
		}
		rp.Missing = r.ranges(rp.From)
		if n := len(rp.Missing); n > 0 && rp.Missing[n-1][1] > rp.To {
			r.fail(errField)
		}
		rp.Entries = r.entries()
		for i := range rp.Entries {
			e := &rp.Entries[i]
			if r.err == nil && (e.Origin != rp.Origin || e.Epoch != rp.Epoch || e.Seq <= rp.From || e.Seq > rp.To) {
				r.fail(errField)
			}
		}
	case msgApp:
		m.AppKind, m.AppBody = r.app()
	case msgLeave:
		m.Leave.Name = r.str(maxNameLen)
		m.Leave.Epoch = r.uvarint()
		if r.err == nil && m.Leave.Name == "" {
			r.fail(errField)
		}
	default:
		return m, errType
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(errTrailing)
	}
	if r.err != nil {
		return message{}, r.err
	}
	return m, nil
}
