package cluster

import (
	"slices"
	"time"
)

// settleLocked sorts a waited-for purge's members into those that
// acknowledged it, those still live that have not (yet), and those that
// have not left but could not be reached: failed at accept time (failed),
// failed, restarted or left before acknowledging (w.gone; a member that
// left since is dropped), or alive but suspect (it has left one of our
// purges unacknowledged for longer than suspectAfter). targets is sorted.
func (n *Node) settleLocked(w *waiter, targets, failed []string, now time.Time) (acked, pending, unreachable []string) {
	unreachable = slices.Clone(failed)
	for _, t := range targets {
		p := n.peers[t]
		switch {
		case w.acked[t]:
			acked = append(acked, t)
		case p != nil && (p.state == stateLeft || p.meta.Leaving):
			// Left the cluster meanwhile: no longer a member.
		case w.gone[t] || p == nil || p.state != stateAlive || n.lagging(p, now):
			unreachable = append(unreachable, t)
		default:
			pending = append(pending, t)
		}
	}
	slices.Sort(unreachable)
	return acked, pending, unreachable
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Isolated reports whether this node has heard from no member that has
// not left the cluster for longer than bound, and when it last heard from
// one. A node with no such member (a cluster of one, one whose peers all
// left, one that never joined) is not isolated: there is nobody whose
// purges it could be missing. It may then be missing purges: the admin
// API's /readyz takes it out of rotation.
func (n *Node) Isolated(bound time.Duration) (last time.Time, isolated bool) {
	n.mu.Lock()
	members := 0
	for _, p := range n.peers {
		if p.state != stateLeft && !p.meta.Leaving {
			members++
		}
	}
	n.mu.Unlock()
	last = time.Unix(0, n.lastContact.Load())
	return last, members > 0 && time.Since(last) > bound
}
