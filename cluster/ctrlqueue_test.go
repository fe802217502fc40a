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
