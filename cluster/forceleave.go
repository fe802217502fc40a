package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Force-leave: a member that crashed and will not come back (its machine is
// gone) stays "dead", not "left", until Timing.ReconnectTimeout: every node
// keeps trying to reach it, and every wait=all purge names it unreachable
// and is never complete. An operator who knows it is gone says so once, on
// any node; that node marks it left and tells every live member, which do
// the same. Only a failed member can be forced out: a live one must leave by
// itself (SIGTERM), so that nobody stops sending purges to a node that still
// serves. If the member comes back, it joins as any new node does.

// Force-leave errors.
var (
	ErrUnknownMember = errors.New("cluster: no such member")
	ErrMemberAlive   = errors.New("cluster: the member is alive; only a failed member can be forced to leave")
	ErrSelf          = errors.New("cluster: a node cannot force itself out; stop it to leave")
)

// ForceLeave marks the failed member name as having left the cluster, here
// and, through a message to every live member, everywhere. It returns
// ErrUnknownMember, ErrSelf or ErrMemberAlive (wrapped with the member's
// state) when it cannot; forcing out a member that already left is not an
// error.
func (n *Node) ForceLeave(name string) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if name == n.name {
		return ErrSelf
	}
	n.mu.Lock()
	p := n.peers[name]
	if p == nil {
		n.mu.Unlock()
		return ErrUnknownMember
	}
	if p.state == stateAlive {
		st := "alive"
		if n.lagging(p, time.Now()) {
			st = "suspect"
		}
		n.mu.Unlock()
		return fmt.Errorf("%w (it is %s)", ErrMemberAlive, st)
	}
	epoch := p.meta.Epoch
	changed := n.markLeftLocked(p)
	msg := encodeLeave(n.name, n.epoch, &leaveMsg{Name: name, Epoch: epoch})
	for _, q := range n.peers {
		if q.state == stateAlive {
			n.queueCtrlLocked(q, msg)
		}
	}
	n.mu.Unlock()
	n.kickFlush()
	// Gossip as well: a member this node cannot reach directly right now
	// still hears of it.
	n.bq.QueueBroadcast(bcast(msg))
	if changed {
		n.log.Warn("member forced to leave by the operator", zap.String("member", name))
	}
	return nil
}

// markLeftLocked moves a failed peer to "left"; false if it was not failed.
func (n *Node) markLeftLocked(p *peer) bool {
	if p.state != stateDead {
		return false
	}
	p.state, p.since = stateLeft, time.Now()
	p.clearQueues()
	p.ackDirty = false
	for w := range n.waiters {
		w.fail(p.name)
	}
	return true
}

// handleLeave applies another node's force-leave. A member this node still
// sees alive is kept (it is not gone for us: a partition, or the operator
// was wrong), as is a later boot of it (the message names the boot).
func (n *Node) handleLeave(sender string, m *leaveMsg) {
	if m.Name == n.name {
		return // we are alive, whatever the sender believes
	}
	n.mu.Lock()
	p := n.peers[m.Name]
	changed := p != nil && p.meta.Epoch == m.Epoch && n.markLeftLocked(p)
	alive := p != nil && p.state == stateAlive
	n.mu.Unlock()
	switch {
	case changed:
		n.log.Warn("member forced to leave by the operator", zap.String("member", m.Name), zap.String("via", sender))
	case alive:
		n.log.Info("ignoring a force-leave of a member alive here", zap.String("member", m.Name), zap.String("via", sender))
	}
}

func encodeLeave(sender string, epoch uint64, m *leaveMsg) []byte {
	b := appendHeader(make([]byte, 0, 32+len(sender)+len(m.Name)), msgLeave, sender, epoch)
	b = appendStr(b, m.Name)
	return binary.AppendUvarint(b, m.Epoch)
}
