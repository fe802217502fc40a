package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
)

// Application messages: other parts of meshcdn (such as the certificate
// sharing of cluster/autotls) talk to members over the cluster's own
// channel, encrypted with the gossip keys when they are set. A message is
// one kind byte and an opaque body of at most MaxAppBody bytes; the body's
// encoding and its validation are the receiver's business.
//
//	APP  kind, body length, body

// MaxAppBody bounds an application message's body.
const MaxAppBody = 256 << 10

// AppHandler receives an application message from member from. It runs on
// the node's receive loop: it must not block (queue the work, or drop it).
type AppHandler func(from string, body []byte)

// appHandlers maps a kind to its handler.
type appHandlers struct {
	mu sync.RWMutex
	h  map[byte]AppHandler
}

// Handle registers h for messages of kind (nil removes it). Messages of a
// kind nobody handles are counted as errors ("app_kind") and dropped.
func (n *Node) Handle(kind byte, h AppHandler) {
	n.apps.mu.Lock()
	defer n.apps.mu.Unlock()
	if n.apps.h == nil {
		n.apps.h = map[byte]AppHandler{}
	}
	if h == nil {
		delete(n.apps.h, kind)
		return
	}
	n.apps.h[kind] = h
}

func (n *Node) handleApp(from string, kind byte, body []byte) {
	n.apps.mu.RLock()
	h := n.apps.h[kind]
	n.apps.mu.RUnlock()
	if h == nil {
		n.m.error("app_kind")
		return
	}
	h(from, body)
}

// Encrypted reports whether the cluster's messages are encrypted (gossip
// keys are set): what may carry secrets, such as private keys.
func (n *Node) Encrypted() bool { return len(n.cfg.Keys) > 0 }

// ErrNoMember: SendApp was given a name that is not an alive member.
var ErrNoMember = errors.New("cluster: not an alive member")

// SendApp sends an application message to the alive member named to over
// a TCP stream (reliable, ordered, encrypted with the gossip keys when
// set), and returns once it is written or failed (Timing.StreamTimeout).
// Delivery to the member's handler is not confirmed: handlers that need it
// answer with a message of their own.
func (n *Node) SendApp(to string, kind byte, body []byte) error {
	if len(body) > MaxAppBody {
		return fmt.Errorf("cluster: application message of %d bytes, at most %d", len(body), MaxAppBody)
	}
	if n.closed.Load() {
		return ErrClosed
	}
	n.mu.Lock()
	p := n.peers[to]
	if p == nil || p.state != stateAlive {
		n.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoMember, to)
	}
	node := p.node
	n.mu.Unlock()
	msg := encodeApp(n.name, n.epoch, kind, body)
	if err := n.ml.SendReliable(&node, msg); err != nil {
		n.m.error("send")
		n.log.Debug("application message not sent", zap.String("to", to), zap.Int("bytes", len(msg)), zap.Error(err))
		return fmt.Errorf("cluster: send to %s: %w", to, err)
	}
	return nil
}

func encodeApp(sender string, epoch uint64, kind byte, body []byte) []byte {
	b := make([]byte, 0, 24+len(sender)+len(body))
	b = appendHeader(b, msgApp, sender, epoch)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// app decodes an APP body.
func (r *reader) app() (kind byte, body []byte) {
	kind = r.byte()
	n := r.uvarint()
	if r.err != nil {
		return 0, nil
	}
	if n > MaxAppBody {
		r.fail(errLimit)
		return 0, nil
	}
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return 0, nil
	}
	body = append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return kind, body
}
