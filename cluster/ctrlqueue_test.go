package cluster

import "testing"

// Digests and replays queued for one peer between two flushes are bounded
// in bytes: a peer flooding us with digests cannot make us buffer replies
// without limit. What does not fit is dropped and counted.
func TestCtrlQueueBounded(t *testing.T) {
	n := &Node{m: newMetrics()}
	p := &peer{name: "p"}
	msg := make([]byte, 1<<20)
	queued := 0
	for range 100 {
		if n.queueCtrlLocked(p, msg) {
			queued++
		}
	}
	if queued != maxCtrlBytes/len(msg) || p.ctrlBytes > maxCtrlBytes || len(p.ctrl) != queued {
		t.Fatalf("queued %d messages, %d bytes (bound %d)", queued, p.ctrlBytes, maxCtrlBytes)
	}
	if got := n.Stats().Errors["send_queue_full"]; got != uint64(100-queued) {
		t.Fatalf("send_queue_full = %d, want %d", got, 100-queued)
	}
}

// Once a peer's control queue is full, building replays for it stops at
// the first refused message instead of encoding the whole retained window
// only to drop it, and the digest's replay budget is used up.
func TestReplaysStopWhenCtrlQueueFull(t *testing.T) {
	n := &Node{m: newMetrics(), cfg: Config{Timing: Timing{ReplayAfter: 0}}}
	r := &retainLog{maxCount: defaultRetainLog, maxBytes: retainBytes}
	s := &stream{key: streamKey{"origin", 1}}
	entry := make([]byte, 64<<10)
	for q := uint64(1); q <= 400; q++ { // 25 MiB retained
		s.markApplied(q)
		r.add(s, q, int64(q), entry)
	}
	for _, e := range s.log {
		e.at = 0 // settled: old enough to replay
	}
	p := &peer{name: "p", ctrlBytes: maxCtrlBytes} // full
	if got := n.queueReplaysLocked(p, s, 0); got < 2*maxReplayBytes {
		t.Fatalf("queueReplaysLocked on a full queue reported %d bytes: the digest would go on encoding", got)
	}
	if len(p.ctrl) != 0 {
		t.Fatalf("%d messages queued on a full queue", len(p.ctrl))
	}
	if got := n.Stats().Errors["send_queue_full"]; got != 1 {
		t.Fatalf("send_queue_full = %d, want 1 (one refused message, then stop)", got)
	}
}
