package cluster

// SetOutQueueEntries bounds every node's per-peer purge queue to n entries
// (instead of maxOutQueue) until restore is called. Start nodes after it.
func SetOutQueueEntries(n int) (restore func()) {
	outQueueEntries = n
	return func() { outQueueEntries = maxOutQueue }
}
