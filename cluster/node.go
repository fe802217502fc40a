package cluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type peerState int

const (
	stateAlive peerState = iota
	stateDead
	stateLeft
)

// suspectAfter: an alive member that has left one of our purges
// unacknowledged this long is reported as "suspect".
const suspectAfter = 2 * time.Second

// peer is another node as this node sees it, plus what we owe it.
type peer struct {
	name     string
	node     memberlist.Node // copy taken in the event callback
	meta     nodeMeta
	state    peerState
	since    time.Time // state change
	lastSeen time.Time
	floor    int64 // its boot time minus the skew margin, from its digests (0 = unknown)

	// Our own stream as this peer acknowledged it.
	txContig uint64
	txRanges [][2]uint64
	srtt     time.Duration
	rttvar   time.Duration
	rto      time.Duration
	nextRetx time.Time // no retransmission round before this
	lastAck  time.Time // last acknowledgement progress

	// Outbound, taken by the flusher.
	out       [][]byte // framed purge entries
	outBytes  int
	ctrlBytes int      // bytes in ctrl
	ctrl      [][]byte // whole messages (digests, replays)
	ackDirty  bool     // send our acknowledgement state for its current stream
	// Own seqs whose copies did not fit in out (flow control): the
	// flusher takes them from the own log, oldest first, as out drains;
	// while any are deferred, newer ones are deferred too. 0: none.
	deferLo, deferHi uint64
}

// clearQueues forgets what is queued for p (it failed, left, or rebooted).
func (p *peer) clearQueues() {
	p.out, p.outBytes, p.ctrl, p.ctrlBytes = nil, 0, nil, 0
	p.deferLo, p.deferHi = 0, 0
}

// Node is one member of the cluster. It is safe for concurrent use.
type Node struct {
	cfg   Config
	st    Applier
	log   *zap.Logger
	ml    *memberlist.Memberlist
	bq    *memberlist.TransmitLimitedQueue
	name  string
	epoch uint64
	boot  time.Time
	floor int64
	meta  atomic.Pointer[[]byte] // encoded nodeMeta
	addr  string                 // our advertised gossip address
	m     *metrics
	hist  *history // wraps st: the purge history (history.go)
	coll  prometheus.Collector
	mlLim *limiter // memberlist's log lines
	apps  appHandlers

	mu        sync.Mutex
	peers     map[string]*peer
	streams   map[streamKey]*stream
	own       *stream
	ownNext   uint64                   // next sequence number to stamp
	rlog      retainLog                // other nodes' purges
	regionRTT map[string]time.Duration // ping round trips by peer region, smoothed (pingRTT)
	ownLog    retainLog                // ours, kept while a live member has not acknowledged them
	waiters   map[*waiter]struct{}
	joinErr   error
	joined    bool
	aliveN    atomic.Int32
	inBytes   atomic.Int64
	joining   atomic.Bool
	reconnect atomic.Bool

	inbound chan []byte
	kick    chan struct{}
	tcpq    chan tcpJob
	done    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool
	left    atomic.Bool

	// Read on every edge hit (StaleCutoff): atomics, never n.mu.
	lastContact atomic.Int64
	everPeer    atomic.Bool

	appliedSig signal // notified when purges were applied (applied.go)
}

// Start creates the node, starts gossip on the configured address and
// begins joining cfg.Join in the background (retried with backoff until one
// address answers), so nodes may start in any order. st receives every
// purge applied on this node.
func Start(cfg Config, st Applier) (*Node, error) {
	if st == nil {
		return nil, errors.New("cluster: nil Applier")
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	// No stack traces: the cluster's errors are about the network and
	// peers, and a stack per refused packet made floods of junk worse.
	lg = lg.With(zap.String("node", cfg.NodeName)).WithOptions(zap.AddStacktrace(zapcore.FatalLevel))
	boot := time.Now()
	n := &Node{
		cfg:       cfg,
		st:        st,
		log:       lg,
		name:      cfg.NodeName,
		epoch:     uint64(boot.UnixNano()),
		boot:      boot,
		floor:     boot.Add(-cfg.Timing.SkewMargin).UnixNano(),
		m:         newMetrics(),
		peers:     map[string]*peer{},
		regionRTT: map[string]time.Duration{},
		streams:   map[streamKey]*stream{},
		waiters:   map[*waiter]struct{}{},
		inbound:   make(chan []byte, maxInbound),
		kick:      make(chan struct{}, 1),
		tcpq:      make(chan tcpJob, 64),
		done:      make(chan struct{}),
	}
	n.hist = newHistory(st, n.name, n.epoch)
	n.st = n.hist
	n.rlog.maxCount, n.rlog.maxBytes = cfg.RetainLog, retainBytes
	n.ownLog.maxCount, n.ownLog.maxBytes = cfg.RetainLog, retainBytes
	n.ownLog.ackedTo = n.ackedByAllLocked
	n.own = &stream{key: streamKey{n.name, n.epoch}}
	n.ownNext = 1
	n.streams[n.own.key] = n.own
	n.lastContact.Store(boot.UnixNano())
	meta := (&nodeMeta{Epoch: n.epoch, Region: cfg.Region, HTTPAddr: cfg.HTTPAddr, AdminAddr: cfg.AdminAddr}).encode()
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: node metadata is %d bytes, limit %d", len(meta), memberlist.MetaMaxSize)
	}
	n.meta.Store(&meta)

	t := cfg.Timing
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeName
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	mc.Transport = cfg.Transport
	var ownTransport *NetTransport
	if mc.Transport == nil {
		t, err := NewNetTransport(cfg.BindAddr, cfg.BindPort, lg)
		if err != nil {
			return nil, err
		}
		ownTransport = t
		mc.Transport = t
		mc.BindPort = t.Port()
		if mc.AdvertisePort == 0 {
			mc.AdvertisePort = t.Port()
		}
	}
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.GossipInterval = t.GossipInterval
	mc.GossipNodes = t.GossipNodes
	mc.PushPullInterval = t.PushPullInterval
	mc.GossipToTheDeadTime = t.DeadGossipTime
	mc.DeadNodeReclaimTime = t.DeadNodeReclaim
	mc.TCPTimeout = t.StreamTimeout
	mc.EnableCompression = false // our messages are compact; spare the CPU
	mc.HandoffQueueDepth = 4096
	mc.Delegate = (*delegate)(n)
	mc.Events = (*events)(n)
	mc.Ping = (*pings)(n)
	n.mlLim = newLimiter(logEvery)
	mc.Logger = log.New(mlLog{log: lg, m: n.m, lim: n.mlLim}, "", 0)
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip keys: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}
	n.bq = &memberlist.TransmitLimitedQueue{
		NumNodes: func() int { return int(n.aliveN.Load()) + 1 },
		// Purges gossiped for redundancy go out ⌈log10(N+1)⌉ times each
		// (2 for 10 nodes) as redundancy; see gossipMult.
		RetransmitMult: gossipMult(cfg.Dissemination),
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if ownTransport != nil {
			_ = ownTransport.Shutdown()
		}
		return nil, fmt.Errorf("cluster: start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	n.ml = ml
	ln := ml.LocalNode()
	n.addr = net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))

	if cfg.Registerer != nil {
		c := collector{n}
		if err := cfg.Registerer.Register(c); err != nil {
			_ = ml.Shutdown()
			return nil, fmt.Errorf("cluster: register metrics: %w", err)
		}
		n.coll = c
	}

	n.wg.Add(3 + maxTCPSenders)
	go n.applyLoop()
	go n.flushLoop()
	go n.tickLoop()
	for range maxTCPSenders {
		go n.tcpLoop()
	}
	if len(cfg.Join) > 0 {
		n.startJoin()
	}
	lg.Info("gossip started", zap.String("addr", n.addr), zap.String("region", cfg.Region),
		zap.Bool("encrypted", len(cfg.Keys) > 0), zap.Strings("join", cfg.Join))
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Addr returns the gossip address peers use to reach this node (host:port).
func (n *Node) Addr() string { return n.addr }

// LastContact is when this node last heard from any peer (a gossip probe
// answered, or a purge, acknowledgement or digest received). A node that
// has never had a peer and has nothing to join reports the current time: it
// is a cluster of one and cannot be isolated. It takes no lock.
func (n *Node) LastContact() time.Time {
	if !n.everPeer.Load() && len(n.cfg.Join) == 0 {
		return time.Now()
	}
	return time.Unix(0, n.lastContact.Load())
}

// StaleCutoff implements bounded staleness under isolation for the edge:
// when Config.IsolationBound > 0 and this node has heard from no peer for
// longer than that, it returns LastContact (objects stored before it should
// be treated as stale: purges may have been missed since); otherwise the
// zero time. It takes no lock (the edge calls it on every hit).
func (n *Node) StaleCutoff() time.Time {
	if n.cfg.IsolationBound <= 0 {
		return time.Time{}
	}
	lc := n.LastContact()
	if time.Since(lc) > n.cfg.IsolationBound {
		return lc
	}
	return time.Time{}
}

// JoinError reports why joining has not succeeded yet (nil once joined or
// when there is nothing to join). A gossip key mismatch wraps ErrKeyMismatch.
func (n *Node) JoinError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.joinErr
}

// Members lists this node and every peer it knows, sorted by name.
// State is "alive", "suspect" (alive for memberlist, but it has left one of
// our purges unacknowledged for over 2 s), "dead" (failed; retried and
// forgotten after Timing.ReconnectTimeout) or "left" (graceful leave).
func (n *Node) Members() []Member {
	now := time.Now()
	n.mu.Lock()
	out := make([]Member, 0, len(n.peers)+1)
	out = append(out, Member{
		Name: n.name, Region: n.cfg.Region, Addr: n.addr, HTTPAddr: n.cfg.HTTPAddr, AdminAddr: n.cfg.AdminAddr,
		State: "alive", LastSeen: now, Seq: n.own.contig,
	})
	for _, p := range n.peers {
		m := Member{
			Name: p.name, Region: p.meta.Region, Addr: p.node.Address(), HTTPAddr: p.meta.HTTPAddr, AdminAddr: p.meta.AdminAddr,
			LastSeen: p.lastSeen,
		}
		switch p.state {
		case stateAlive:
			m.State = "alive"
			if n.lagging(p, now) {
				m.State = "suspect"
			}
		case stateDead:
			m.State = "dead"
		default:
			m.State = "left"
		}
		if s := n.streams[streamKey{p.name, p.meta.Epoch}]; s != nil {
			m.Seq = s.contig
		}
		out = append(out, m)
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lagging: p has an unacknowledged purge of ours older than suspectAfter.
func (n *Node) lagging(p *peer, now time.Time) bool {
	if p.txContig >= n.own.contig {
		return false
	}
	seq := p.txContig + 1
	for inRanges(p.txRanges, seq) && seq <= n.own.contig {
		seq++
	}
	e := n.own.entry(seq)
	// Counted from when it could first have been sent to this boot of p:
	// entries older than p's new boot are sent to it only on joining.
	return e != nil && now.Sub(time.Unix(0, max(e.time, p.since.UnixNano()))) > suspectAfter
}

// ackedByAllLocked is the highest own seq every live member has
// acknowledged (everything, when no member is live): own purges above it
// stay in the own log beyond its soft bounds. A member that failed less
// than Timing.DeadGossipTime ago counts as live here: failure detection
// has false positives (an overloaded machine, a short partition), and a
// member that comes back should get what it missed rather than be told it
// is gone and drop its cache. One that stays dead releases the log then.
func (n *Node) ackedByAllLocked() uint64 {
	acked := n.own.contig
	var now time.Time
	for _, p := range n.peers {
		switch p.state {
		case stateAlive:
			acked = min(acked, p.txContig)
		case stateDead:
			if now.IsZero() {
				now = time.Now()
			}
			if now.Sub(p.since) < n.cfg.Timing.DeadGossipTime {
				acked = min(acked, p.txContig)
			}
		}
	}
	return acked
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	s := Stats{
		Accepted: n.m.accepted.Load(), Sent: n.m.sent.Load(), Retransmitted: n.m.retransmitted.Load(),
		Received: n.m.received.Load(), Applied: n.m.applied.Load(), Duplicate: n.m.duplicate.Load(),
		Replayed: n.m.replayed.Load(), Gaps: n.m.gaps.Load(), Relayed: n.m.relayed.Load(), Errors: map[string]uint64{},
	}
	n.m.errMu.Lock()
	for k, v := range n.m.errs {
		s.Errors[k] = v
	}
	n.m.errMu.Unlock()
	n.mu.Lock()
	s.Streams = len(n.streams)
	s.Retained = n.rlog.fifo.Len() + n.ownLog.fifo.Len()
	n.mu.Unlock()
	return s
}

// Leave announces a graceful departure and waits up to timeout for the
// announcement to go out. The node keeps running until Shutdown.
func (n *Node) Leave(timeout time.Duration) error {
	if n.closed.Load() {
		return ErrClosed
	}
	n.left.Store(true)
	// First tell everyone we are leaving (metadata flag), so that they
	// record "left", not "failed", and stop sending us purges.
	start := time.Now()
	meta := (&nodeMeta{Epoch: n.epoch, Region: n.cfg.Region, HTTPAddr: n.cfg.HTTPAddr, AdminAddr: n.cfg.AdminAddr, Leaving: true}).encode()
	n.meta.Store(&meta)
	if err := n.ml.UpdateNode(timeout / 2); err != nil {
		n.log.Debug("leave: metadata update", zap.Error(err))
	}
	if err := n.ml.Leave(max(timeout-time.Since(start), time.Millisecond)); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	n.log.Info("left the cluster")
	return nil
}

// Shutdown stops gossip and every background task without announcing a
// departure (call Leave first for a graceful exit). Idempotent.
func (n *Node) Shutdown() error {
	if n.closed.Swap(true) {
		return nil
	}
	close(n.done)
	err := n.ml.Shutdown()
	n.wg.Wait()
	n.mlLim.stop()
	if n.coll != nil {
		n.cfg.Registerer.Unregister(n.coll)
	}
	if err != nil {
		return fmt.Errorf("cluster: shutdown: %w", err)
	}
	return nil
}

// seen records contact with a peer.
func (n *Node) seen(name string) {
	now := time.Now()
	n.mu.Lock()
	if p := n.peers[name]; p != nil && p.state == stateAlive {
		p.lastSeen = now
		n.lastContact.Store(now.UnixNano())
	}
	n.mu.Unlock()
}

// --- memberlist delegates ---

type delegate Node

func (d *delegate) NodeMeta(limit int) []byte {
	m := *d.meta.Load()
	if len(m) > limit {
		return nil
	}
	return m
}

func (d *delegate) NotifyMsg(b []byte) { (*Node)(d).receive(b) }

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.bq.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte {
	n := (*Node)(d)
	n.mu.Lock()
	dg := n.digestLocked(true, false, nil)
	n.mu.Unlock()
	return encodeDigest(n.name, n.epoch, &dg)
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) { (*Node)(d).receive(buf) }

type pings Node

func (p *pings) AckPayload() []byte { return nil }
func (p *pings) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	(*Node)(p).seen(other.Name)
	(*Node)(p).pingRTT(other.Name, rtt)
}

type events Node

func (e *events) NotifyJoin(node *memberlist.Node)   { (*Node)(e).memberUp(node, "join") }
func (e *events) NotifyUpdate(node *memberlist.Node) { (*Node)(e).memberUp(node, "update") }
func (e *events) NotifyLeave(node *memberlist.Node) {
	n := (*Node)(e)
	if node.Name == n.name {
		return
	}
	now := time.Now()
	n.mu.Lock()
	p := n.peers[node.Name]
	if p == nil || p.state != stateAlive {
		n.mu.Unlock()
		return
	}
	// memberlist does not tell a leave from a failure here; the leaving
	// flag its metadata carried just before does.
	st := stateDead
	if p.meta.Leaving {
		st = stateLeft
	}
	p.state, p.since = st, now
	p.clearQueues()
	p.ackDirty = false
	n.aliveN.Add(-1)
	for w := range n.waiters {
		w.fail(p.name)
	}
	n.mu.Unlock()
	if st == stateLeft {
		n.log.Info("member left", zap.String("member", node.Name))
	} else {
		n.log.Warn("member failed", zap.String("member", node.Name), zap.String("addr", node.Address()))
	}
}

// memberUp handles a join, a return from the dead, or a metadata change
// (which is how a restarted node's new boot epoch arrives).
func (n *Node) memberUp(node *memberlist.Node, why string) {
	if node.Name == n.name {
		return
	}
	meta, err := decodeMeta(node.Meta)
	if err != nil {
		// Not a meshcdn node (or a version we cannot read): it takes part
		// in memberlist's failure detection but gets no purges.
		n.m.error("meta")
		n.log.Warn("ignoring a gossip member without readable meshcdn metadata", zap.String("member", node.Name),
			zap.String("addr", node.Address()), zap.Error(err))
		return
	}
	now := time.Now()
	n.mu.Lock()
	p := n.peers[node.Name]
	fresh := p == nil
	if fresh {
		p = &peer{name: node.Name, rto: n.cfg.Timing.RetransmitMin}
		n.peers[node.Name] = p
	}
	wasAlive := !fresh && p.state == stateAlive
	newBoot := fresh || p.meta.Epoch != meta.Epoch
	p.node = *node
	p.node.Meta = nil
	p.meta = meta
	if !wasAlive {
		p.state, p.since = stateAlive, now
		n.aliveN.Add(1)
	}
	p.lastSeen = now
	if newBoot {
		// A new boot of that node: it has an empty cache, so our purges
		// stamped before its floor (its boot minus the skew margin) cannot
		// concern it. Those stamped since may have been accepted (and even
		// acknowledged by everyone else) while we did not know it yet, and
		// it may have cached what they purge: send them now, tracked like
		// any other send, rather than leave them to the next digest
		// exchange. What is no longer retained comes from anti-entropy.
		p.txContig, p.txRanges, p.floor, p.srtt, p.rttvar = n.own.contig, nil, 0, 0, 0
		p.rto = n.cfg.Timing.RetransmitMin
		p.clearQueues()
		p.since = now // this boot is alive since now
		if recent := n.sinceBootLocked(meta.Epoch); len(recent) > 0 {
			p.txContig -= uint64(len(recent))
			n.enqueueLocked(p, p.txContig+1, recent)
			// Sent just now: retransmission waits a timeout from here.
			p.lastAck, p.nextRetx = now, now.Add(p.rto)
		}
		if !fresh {
			// The boot we were waiting for is gone (the new one gets our
			// purges through anti-entropy): it will not acknowledge.
			for w := range n.waiters {
				w.fail(p.name)
			}
		}
	}
	if !wasAlive || newBoot {
		// Exchange full digests right away: a newcomer, a restarted node or
		// one back from a partition gets what it missed within a round trip.
		dg := n.digestLocked(true, false, nil)
		n.queueCtrlLocked(p, encodeDigest(n.name, n.epoch, &dg))
	}
	n.lastContact.Store(now.UnixNano()) // before everPeer: a reader never pairs it with the boot time
	n.everPeer.Store(true)
	n.joined = true
	n.joinErr = nil
	n.mu.Unlock()
	n.kickFlush()
	if !wasAlive || newBoot {
		n.log.Info("member up", zap.String("member", node.Name), zap.String("addr", node.Address()),
			zap.String("region", meta.Region), zap.String("event", why), zap.Bool("new_boot", newBoot))
	}
}

// sinceBootLocked returns, oldest first, our retained own entries stamped
// at or after the floor of a node that booted at epoch (unix nanos): the
// contiguous run ending at our contiguous point, at most maxOutQueue/4.
func (n *Node) sinceBootLocked(epoch uint64) [][]byte {
	if epoch > 1<<63-1 {
		return nil
	}
	floor := int64(epoch) - int64(n.cfg.Timing.SkewMargin)
	var out [][]byte
	for seq := n.own.contig; seq > 0 && len(out) < maxOutQueue/4; seq-- {
		e := n.own.entry(seq)
		if e == nil || e.time < floor {
			break
		}
		out = append(out, e.framed)
	}
	slices.Reverse(out)
	return out
}

// --- joining ---

func (n *Node) startJoin() {
	if n.left.Load() || !n.joining.CompareAndSwap(false, true) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.joining.Store(false)
		n.joinLoop()
	}()
}

// joinLoop tries the join addresses with exponential backoff until one
// answers (like Consul's retry-join).
func (n *Node) joinLoop() {
	t := n.cfg.Timing
	backoff := t.JoinRetryMin
	for attempt := 1; ; attempt++ {
		if n.closed.Load() || n.left.Load() {
			return
		}
		err := n.joinOnce()
		if err == nil {
			return
		}
		n.mu.Lock()
		n.joinErr = err
		n.mu.Unlock()
		if errors.Is(err, ErrKeyMismatch) {
			n.log.Error("cannot join the cluster: gossip key mismatch; this node's --gossip-key is not one the cluster uses (or the other way round)",
				zap.Error(err), zap.Int("attempt", attempt), zap.Duration("retry_in", backoff))
		} else {
			n.log.Warn("join failed; retrying", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("retry_in", backoff))
		}
		select {
		case <-n.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, t.JoinRetryMax)
	}
}

// joinOnce resolves every join address (all A/AAAA records of a name) and
// joins through all that answer.
func (n *Node) joinOnce() error {
	addrs, rerr := n.resolveJoin()
	if len(addrs) == 0 {
		if rerr == nil {
			rerr = errors.New("no join address")
		}
		return fmt.Errorf("cluster: join: %w", rerr)
	}
	k, err := n.ml.Join(addrs)
	if k > 0 {
		n.mu.Lock()
		n.joined, n.joinErr = true, nil
		n.mu.Unlock()
		n.log.Info("joined the cluster", zap.Int("contacted", k), zap.Strings("addrs", addrs))
		return nil
	}
	if err == nil {
		err = errors.New("no address answered")
	}
	if isKeyError(err.Error()) {
		return fmt.Errorf("%w: %v", ErrKeyMismatch, err)
	}
	return fmt.Errorf("cluster: join %v: %w", addrs, err)
}

func (n *Node) resolveJoin() ([]string, error) {
	defPort := n.cfg.BindPort
	if defPort == 0 {
		defPort = 7946
	}
	var out []string
	var errs []error
	seen := map[string]bool{n.addr: true}
	for _, j := range n.cfg.Join {
		host, port, err := net.SplitHostPort(j)
		if err != nil {
			host, port = j, strconv.Itoa(defPort)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("bad port in %q", j))
			continue
		}
		var ips []net.IP
		if ip := net.ParseIP(host); ip != nil {
			ips = []net.IP{ip}
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			ias, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("resolve %q: %w", host, err))
				continue
			}
			for _, ia := range ias {
				ips = append(ips, ia.IP)
			}
		}
		for _, ip := range ips {
			a := net.JoinHostPort(ip.String(), port)
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out, errors.Join(errs...)
}

// reconnectFailed tries to join one or two random failed members again, so
// that both sides of a healed partition merge back (memberlist alone stops
// talking to dead nodes after DeadGossipTime).
func (n *Node) reconnectFailed(now time.Time) {
	if n.left.Load() || !n.reconnect.CompareAndSwap(false, true) {
		return
	}
	n.mu.Lock()
	var cands []string
	for _, p := range n.peers {
		if p.state == stateDead {
			cands = append(cands, p.node.Address())
		}
	}
	n.mu.Unlock()
	if len(cands) == 0 {
		n.reconnect.Store(false)
		return
	}
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	if len(cands) > 2 {
		cands = cands[:2]
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.reconnect.Store(false)
		if n.closed.Load() {
			return
		}
		if k, err := n.ml.Join(cands); k == 0 {
			n.log.Debug("reconnect to failed members", zap.Strings("addrs", cands), zap.Error(err))
		}
	}()
}
