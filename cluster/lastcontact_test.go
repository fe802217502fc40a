package cluster

import (
	"sync"
	"testing"
	"time"
)

// TestLastContactLockFree: the edge calls StaleCutoff (→ LastContact) on
// every hit with --isolation-bound set; neither may wait for n.mu, which
// the apply loop and the flusher hold under load.
func TestLastContactLockFree(t *testing.T) {
	n := &Node{cfg: Config{IsolationBound: time.Second, Join: []string{"127.0.0.1:1"}}}
	contact := time.Now().Add(-time.Minute).Truncate(0)
	n.lastContact.Store(contact.UnixNano())

	n.mu.Lock() // as a busy node holds it
	defer n.mu.Unlock()
	done := make(chan [2]time.Time, 1)
	go func() { done <- [2]time.Time{n.LastContact(), n.StaleCutoff()} }()
	select {
	case got := <-done:
		if !got[0].Equal(contact) || !got[1].Equal(contact) {
			t.Fatalf("last contact %v, cutoff %v, want both %v", got[0], got[1], contact)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("LastContact/StaleCutoff blocked on n.mu")
	}
}

// TestLastContactConcurrent: readers race with the writers of contact
// state (memberUp, seen) without a data race (run with -race).
func TestLastContactConcurrent(t *testing.T) {
	n := &Node{cfg: Config{IsolationBound: time.Millisecond}, peers: map[string]*peer{"p": {name: "p"}}}
	n.lastContact.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					_ = n.StaleCutoff()
					_ = n.LastContact()
				}
			}
		}()
	}
	for range 1000 {
		n.mu.Lock()
		n.lastContact.Store(time.Now().UnixNano())
		n.everPeer.Store(true)
		n.mu.Unlock()
		n.seen("p")
	}
	close(stop)
	wg.Wait()
	if lc := n.LastContact(); time.Since(lc) > time.Minute {
		t.Fatalf("last contact %v", lc)
	}
}
