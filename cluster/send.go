package cluster

import (
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// bcast is a purge message on memberlist's gossip queue (redundancy: the
// direct send and anti-entropy do the real work).
type bcast []byte

func (b bcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b bcast) Message() []byte                       { return b }
func (b bcast) Finished()                             {}

type tcpJob struct {
	node memberlist.Node
	msg  []byte
}

func (n *Node) kickFlush() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// flushLoop sends what is queued. A purge accepted while the node is not
// busy goes out at once. During a burst (the previous flush carried more
// than one entry for some peer) flushes happen at most once per
// Timing.BatchDelay, so that everything accepted meanwhile goes out
// together, one packet per peer, having waited at most BatchDelay.
func (n *Node) flushLoop() {
	defer n.wg.Done()
	d := n.cfg.Timing.BatchDelay
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time
	busy := false
	for {
		select {
		case <-n.done:
			return
		case <-n.kick:
		}
		if wait := d - time.Since(last); busy && wait > 0 {
			timer.Reset(wait)
			select {
			case <-n.done:
				return
			case <-timer.C:
			}
		}
		if most := n.flush(); most > 0 {
			last, busy = time.Now(), most > 1
		}
	}
}

type sendJob struct {
	node memberlist.Node
	out  [][]byte
	ctrl [][]byte
	ack  []byte
}

// flush sends everything queued; it reports the most purge entries it sent
// to one peer (acknowledgement-only flushes do not count against
// BatchDelay).
func (n *Node) flush() (most int) {
	n.mu.Lock()
	var jobs []sendJob
	deferred := false
	for _, p := range n.peers {
		if len(p.out) == 0 && len(p.ctrl) == 0 && !p.ackDirty && p.deferHi == 0 {
			continue
		}
		if p.state != stateAlive {
			p.clearQueues()
			p.ackDirty = false
			continue
		}
		if p.deferHi != 0 {
			n.refillLocked(p)
			deferred = deferred || p.deferHi != 0
		}
		j := sendJob{node: p.node, out: p.out, ctrl: p.ctrl}
		p.out, p.outBytes, p.ctrl, p.ctrlBytes = nil, 0, nil, 0
		if p.ackDirty {
			p.ackDirty = false
			if s := n.streams[streamKey{p.name, p.meta.Epoch}]; s != nil {
				a := ackMsg{Epoch: p.meta.Epoch, Contig: s.contig, Ranges: s.aheadRanges(maxAckRanges)}
				j.ack = encodeAck(n.name, n.epoch, &a)
			}
		}
		jobs = append(jobs, j)
	}
	n.mu.Unlock()
	for i := range jobs {
		n.send(&jobs[i])
		most = max(most, len(jobs[i].out))
	}
	if deferred {
		n.kickFlush() // the next flush, BatchDelay from now, takes more
	}
	return most
}

// refillLocked moves deferred own entries of p from the own log into its
// queue, oldest first, as far as the queue bounds allow. Acknowledged ones
// are skipped; one no longer retained (the own log's hard bound) is left
// to retransmission, which then sends p a replay claim.
func (n *Node) refillLocked(p *peer) {
	seq := max(p.deferLo, p.txContig+1)
	for ; seq <= p.deferHi && len(p.out) < outQueueEntries && p.outBytes < maxOutBytes; seq++ {
		if i := sort.Search(len(p.txRanges), func(i int) bool { return p.txRanges[i][1] >= seq }); i < len(p.txRanges) && p.txRanges[i][0] <= seq {
			seq = p.txRanges[i][1] // acknowledged: skip the range
			continue
		}
		if e := n.own.entry(seq); e != nil {
			p.out = append(p.out, e.framed)
			p.outBytes += len(e.framed)
		}
	}
	if seq > p.deferHi {
		p.deferLo, p.deferHi = 0, 0
	} else {
		p.deferLo = seq
	}
}

// send packs a peer's queued entries into UDP messages of at most
// PacketSize bytes; entries too big for a packet go over TCP together.
func (n *Node) send(j *sendJob) {
	n.m.sent.Add(uint64(len(j.out)))
	limit := n.cfg.Timing.PacketSize
	hdr := 3 + 2 + len(n.name) + 10 + 3
	var batch, big [][]byte
	size, bigSize := hdr, hdr
	for _, f := range j.out {
		if hdr+len(f) > limit {
			if bigSize+len(f) > maxReplayBytes && len(big) > 0 {
				n.sendTCP(j.node, encodePurges(n.name, n.epoch, big))
				big, bigSize = nil, hdr
			}
			big = append(big, f)
			bigSize += len(f)
			continue
		}
		if size+len(f) > limit || len(batch) == maxEntries {
			n.sendUDP(j.node, encodePurges(n.name, n.epoch, batch))
			batch, size = nil, hdr
		}
		batch = append(batch, f)
		size += len(f)
	}
	if len(batch) > 0 {
		n.sendUDP(j.node, encodePurges(n.name, n.epoch, batch))
	}
	if len(big) > 0 {
		n.sendTCP(j.node, encodePurges(n.name, n.epoch, big))
	}
	if j.ack != nil {
		n.sendAny(j.node, j.ack)
	}
	for _, c := range j.ctrl {
		n.sendAny(j.node, c)
	}
}

func (n *Node) sendAny(node memberlist.Node, msg []byte) {
	if len(msg) <= n.cfg.Timing.PacketSize {
		n.sendUDP(node, msg)
	} else {
		n.sendTCP(node, msg)
	}
}

func (n *Node) sendUDP(node memberlist.Node, msg []byte) {
	if err := n.ml.SendBestEffort(&node, msg); err != nil {
		n.m.error("send")
		n.log.Debug("udp send failed", zap.String("to", node.Name), zap.Error(err))
	}
}

// sendTCP hands msg to the TCP senders; if they are all busy and the
// queue is full the message is dropped (retransmission and anti-entropy
// repair it) rather than blocking the flusher.
func (n *Node) sendTCP(node memberlist.Node, msg []byte) {
	select {
	case n.tcpq <- tcpJob{node: node, msg: msg}:
	default:
		n.m.error("tcp_queue_full")
	}
}

func (n *Node) tcpLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case j := <-n.tcpq:
			if err := n.ml.SendReliable(&j.node, j.msg); err != nil {
				n.m.error("send")
				n.log.Debug("tcp send failed", zap.String("to", j.node.Name), zap.Int("bytes", len(j.msg)), zap.Error(err))
			}
		}
	}
}
