package autotls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cluster"
)

// Manager orders, shares, stores and serves the ACME certificates of the
// configured sites. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	t      Timing
	log    *zap.Logger
	now    func() time.Time
	self   string
	share  bool // the cluster is encrypted: challenges and keys are shared
	sites  []*siteState
	byID   map[string]*siteState
	byHost map[string]*siteState
	chal   *challenges
	m      *metrics
	start  time.Time

	inbox chan inMsg                         // received messages, handled by one worker
	outq  chan outMsg                        // messages to send, by one sender
	acks  sync.Map                           // token → *ackWait
	certs atomic.Pointer[map[string]*issued] // by host name

	mu       sync.Mutex
	alive    map[string]bool      // members alive at the last look
	changed  time.Time            // when that set last changed
	synced   map[string]time.Time // last SYNC answered, per member (one per syncEvery)
	accounts map[string]*account
}

// syncEvery: a member's SYNC (send me every certificate) is answered at
// most this often, so a member cannot make this node send its certificates
// in a loop.
const syncEvery = 10 * time.Second

// testHookChallenge, if set, runs when a challenge response from another
// member has been installed (tests: kill the orderer mid-order).
var testHookChallenge func(*Manager)

// siteState is one site and what this node knows of its certificate.
type siteState struct {
	siteSpec
	cur atomic.Pointer[issued]

	// Guarded by Manager.mu.
	needSince time.Time // since when this node has seen it lack a (fresh) certificate
	ordering  bool
	failures  int
	nextTry   time.Time
	lastErr   string
	lastOrder time.Time // last successful order by this node
	lastPull  time.Time // last SYNC sent to the owner while waiting for it
}

type inMsg struct {
	from string
	msg  wireMsg
}

type outMsg struct {
	to   string
	body []byte
}

type ackWait struct {
	mu   sync.Mutex
	need map[string]bool
	done chan struct{}
}

// New validates cfg, loads the certificates kept in DataDir and returns
// the manager; Run starts it.
func New(cfg Config) (*Manager, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("autotls: a data directory is needed (the ACME account keys and certificates are kept there)")
	}
	if len(cfg.Sites) > MaxSites {
		return nil, fmt.Errorf("autotls: at most %d ACME sites", MaxSites)
	}
	cfg.Timing.fill()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("autotls: data directory: %w", err)
	}
	m := &Manager{
		cfg: cfg, t: cfg.Timing, log: cfg.Logger, now: cfg.Now,
		byID: map[string]*siteState{}, byHost: map[string]*siteState{},
		chal:  newChallenges(cfg.Now),
		inbox: make(chan inMsg, 64), outq: make(chan outMsg, 1024),
		alive: map[string]bool{}, accounts: map[string]*account{}, synced: map[string]time.Time{},
	}
	m.self = "local"
	if c := cfg.Cluster; c != nil {
		m.self = c.Name()
		m.share = c.Encrypted()
	}
	for _, s := range cfg.Sites {
		if err := CheckSite(s); err != nil {
			return nil, fmt.Errorf("autotls: site %s: %w", s.Name, err)
		}
		st := &siteState{siteSpec: spec(s)}
		if _, dup := m.byID[st.id]; dup {
			return nil, fmt.Errorf("autotls: site %s: the same names as another ACME site", s.Name)
		}
		for _, h := range st.names {
			if o := m.byHost[h]; o != nil {
				return nil, fmt.Errorf("autotls: host %s is in sites %s and %s", h, o.Name, s.Name)
			}
			m.byHost[h] = st
		}
		m.byID[st.id] = st
		m.sites = append(m.sites, st)
	}
	var err error
	if m.m, err = newMetrics(m, cfg.Registerer); err != nil {
		return nil, err
	}
	now := m.now()
	for _, st := range m.sites {
		c, err := load(cfg.DataDir, st.id, st.names, now)
		if err != nil {
			m.log.Warn("ACME certificate on disk not used", zap.String("site", st.Name), zap.Error(err))
			continue
		}
		if c != nil {
			st.cur.Store(c)
			m.log.Info("ACME certificate loaded from disk", zap.String("site", st.Name), zap.Strings("names", st.names),
				zap.Time("not_after", c.notAfter()), zap.Time("renew_at", c.renewAt))
		}
	}
	m.publish()
	if cfg.Cluster != nil && !m.share && len(m.sites) > 0 {
		m.log.Error("no gossip key: ACME private keys and challenge responses are not shared over an unencrypted, unauthenticated cluster; " +
			"each node orders and serves its own certificates, and validations reaching another node fail. Set --gossip-key on every node to share them")
	}
	return m, nil
}

// publish rebuilds the host → certificate map from the sites.
func (m *Manager) publish() {
	by := map[string]*issued{}
	for _, st := range m.sites {
		if c := st.cur.Load(); c != nil {
			for _, h := range st.names {
				by[h] = c
			}
		}
	}
	m.certs.Store(&by)
}

// Run registers the cluster handler and works until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	m.start = m.now()
	if m.share {
		m.cfg.Cluster.Handle(Kind, m.receive)
		defer m.cfg.Cluster.Handle(Kind, nil)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); m.handleLoop(ctx) }()
	go func() { defer wg.Done(); m.sendLoop(ctx) }()
	tick := time.NewTicker(m.t.Tick)
	defer tick.Stop()
	for {
		m.round(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// --- serving ---

// Lookup returns the ACME certificate for a server name (nil: none).
func (m *Manager) Lookup(serverName string) *tls.Certificate {
	name := strings.TrimSuffix(strings.ToLower(serverName), ".")
	if c := (*m.certs.Load())[name]; c != nil {
		return c.cert
	}
	return nil
}

// GetCertificate answers TLS-ALPN-01 validations (the acme-tls/1
// protocol) and otherwise serves the ACME certificate of the server name;
// nil, nil when there is none.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if wantsALPN(hello) {
		c, err := m.chal.alpnCert(hello.ServerName)
		if err == nil {
			m.m.validations.WithLabelValues(TLSALPN01).Inc()
		}
		return c, err
	}
	return m.Lookup(hello.ServerName), nil
}

// Handler answers HTTP-01 validations (/.well-known/acme-challenge/TOKEN
// for a challenge this node holds) and passes every other request to next.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, ChallengePath) && m.chal.serveHTTP01(w, r) {
			m.m.validations.WithLabelValues(HTTP01).Inc()
			return
		}
		next.ServeHTTP(w, r)
	})
}

// --- the loop ---

// round looks at the members (pushing certificates to new ones) and at
// every site's certificate (ordering where this node is the one to).
func (m *Manager) round(ctx context.Context) {
	alive := []string{m.self}
	if m.share {
		alive = cluster.AliveNames(m.cfg.Cluster.Members(), "")
		m.greet(alive)
	}
	now := m.now()
	for _, st := range m.sites {
		m.consider(ctx, st, alive, now)
	}
}

// greet asks members that came up since the last round for their
// certificates and sends them ours.
func (m *Manager) greet(alive []string) {
	m.mu.Lock()
	next := make(map[string]bool, len(alive))
	var fresh []string
	for _, n := range alive {
		next[n] = true
		if !m.alive[n] && n != m.self {
			fresh = append(fresh, n)
		}
	}
	if len(next) != len(m.alive) || len(fresh) > 0 {
		m.changed = m.now()
	}
	for n := range m.synced {
		if !next[n] {
			delete(m.synced, n) // bounded by the members
		}
	}
	m.alive = next
	m.mu.Unlock()
	for _, n := range fresh {
		m.send(n, &wireMsg{Type: msgSync})
		m.pushAll(n)
	}
}

func (m *Manager) pushAll(to string) {
	for _, st := range m.sites {
		if c := st.cur.Load(); c != nil {
			m.send(to, &wireMsg{Type: msgCert, ID: c.id, Chain: c.chain, Key: c.key})
		}
	}
}

// consider decides whether this node orders st's certificate now.
func (m *Manager) consider(ctx context.Context, st *siteState, alive []string, now time.Time) {
	c := st.cur.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c != nil && now.Before(c.renewAt) {
		st.needSince = time.Time{}
		return
	}
	if st.needSince.IsZero() {
		st.needSince = now
	}
	if st.ordering || now.Before(st.nextTry) {
		return
	}
	if now.Sub(m.start) < m.t.Settle || now.Sub(m.changed) < m.t.Settle {
		// Just started, or members came or went: their certificates may
		// be on their way, and every member should rank the same set.
		return
	}
	rank := cluster.Ranked("acme:"+st.id, alive, len(alive))
	pos := slices.IndexFunc(rank, func(i int) bool { return alive[i] == m.self })
	if pos < 0 {
		return // not an alive member (yet)
	}
	if now.Sub(st.needSince) < time.Duration(pos)*m.t.OrderTimeout {
		// A member ranked higher orders first. Ask the owner for what it
		// has now and then: its certificate may have been issued while a
		// message to this node was lost.
		if owner := alive[rank[0]]; m.share && now.Sub(st.lastPull) >= syncEvery {
			st.lastPull = now
			m.send(owner, &wireMsg{Type: msgSync})
		}
		return
	}
	st.ordering = true
	why := "no certificate"
	if c != nil {
		why = "renewal"
	}
	m.log.Info("ordering ACME certificate", zap.String("site", st.Name), zap.Strings("names", st.names),
		zap.String("reason", why), zap.Int("rank", pos), zap.String("directory", st.Directory))
	go m.orderSite(ctx, st)
}

func (m *Manager) orderSite(ctx context.Context, st *siteState) {
	ctx, cancel := context.WithTimeout(ctx, m.t.OrderDeadline)
	defer cancel()
	began := m.now()
	c, err := m.order(ctx, st)
	if err == nil {
		err = m.install(c, "ordered")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st.ordering = false
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // shutting down
		}
		st.failures++
		back := m.t.BackoffMin << min(st.failures-1, 20)
		back = min(back, m.t.BackoffMax)
		back = back/2 + rand.N(back/2+1) // jitter: [½, 1] of it
		st.nextTry = m.now().Add(back)
		st.lastErr = err.Error()
		m.m.orders.WithLabelValues(st.Name, "error").Inc()
		m.log.Error("ACME order failed", zap.String("site", st.Name), zap.Strings("names", st.names),
			zap.Int("failures", st.failures), zap.Duration("retry_in", back.Round(time.Second)), zap.Error(err))
		return
	}
	st.failures, st.lastErr, st.nextTry, st.lastOrder = 0, "", time.Time{}, m.now()
	m.m.orders.WithLabelValues(st.Name, "ok").Inc()
	m.log.Info("ACME certificate issued", zap.String("site", st.Name), zap.Strings("names", st.names),
		zap.Time("not_after", c.notAfter()), zap.Time("renew_at", c.renewAt), zap.Duration("took", m.now().Sub(began).Round(time.Millisecond)))
	if m.share {
		for _, n := range m.others() {
			m.send(n, &wireMsg{Type: msgCert, ID: c.id, Chain: c.chain, Key: c.key})
		}
	}
}

// install makes c the site's certificate when it is newer than the current
// one, and keeps it on disk.
func (m *Manager) install(c *issued, how string) error {
	st := m.byID[c.id]
	if st == nil {
		return fmt.Errorf("autotls: no ACME site for %q", c.id)
	}
	m.mu.Lock()
	cur := st.cur.Load()
	if cur != nil && !c.notAfter().After(cur.notAfter()) {
		m.mu.Unlock()
		return nil // not newer: keep ours
	}
	st.cur.Store(c)
	st.needSince = time.Time{}
	m.publish()
	m.mu.Unlock()
	if err := save(m.cfg.DataDir, c); err != nil {
		m.log.Error("ACME certificate not written to disk: it serves, but a restart will need it from the members or order again",
			zap.String("site", st.Name), zap.Error(err))
	}
	if how != "ordered" {
		m.log.Info("ACME certificate installed", zap.String("site", st.Name), zap.String("from", how),
			zap.Time("not_after", c.notAfter()), zap.Time("renew_at", c.renewAt))
	}
	return nil
}

// others are the alive members but this node.
func (m *Manager) others() []string {
	if !m.share {
		return nil
	}
	var out []string
	for _, n := range cluster.AliveNames(m.cfg.Cluster.Members(), "") {
		if n != m.self {
			out = append(out, n)
		}
	}
	return out
}

// --- messages ---

func (m *Manager) send(to string, msg *wireMsg) {
	select {
	case m.outq <- outMsg{to: to, body: encode(msg)}:
	default:
		m.m.messages.WithLabelValues("out", "queue_full").Inc()
	}
}

func (m *Manager) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-m.outq:
			if err := m.cfg.Cluster.SendApp(o.to, Kind, o.body); err != nil {
				m.m.messages.WithLabelValues("out", "error").Inc()
				m.log.Debug("ACME message not sent", zap.String("to", o.to), zap.Error(err))
				continue
			}
			m.m.messages.WithLabelValues("out", "ok").Inc()
		}
	}
}

// receive is the cluster's handler: decode and queue, never block.
func (m *Manager) receive(from string, body []byte) {
	msg, err := decode(body)
	if err != nil {
		m.m.messages.WithLabelValues("in", "malformed").Inc()
		return
	}
	if msg.Type == msgChallengeAck {
		m.acked(from, msg.Token)
		return
	}
	select {
	case m.inbox <- inMsg{from: from, msg: msg}:
	default:
		m.m.messages.WithLabelValues("in", "queue_full").Inc()
	}
}

func (m *Manager) handleLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-m.inbox:
			if err := m.handle(in); err != nil {
				m.m.messages.WithLabelValues("in", "refused").Inc()
				m.log.Warn("ACME message refused", zap.String("from", in.from), zap.Error(err))
				continue
			}
			m.m.messages.WithLabelValues("in", "ok").Inc()
		}
	}
}

func (m *Manager) handle(in inMsg) error {
	switch msg := &in.msg; msg.Type {
	case msgChallenge:
		st := m.byID[msg.ID]
		switch {
		case st == nil:
			return fmt.Errorf("challenge for names no ACME site has: %.200q", msg.ID)
		case !slices.Contains(st.names, msg.Domain):
			return fmt.Errorf("challenge for %q, not a name of site %s", msg.Domain, st.Name)
		case !validToken(msg.Token) || !validKeyAuth(msg.Token, msg.KeyAuth):
			return errors.New("challenge with a malformed token or key authorisation")
		}
		exp := time.Unix(msg.Expires, 0)
		if max := m.now().Add(m.t.ChallengeTTL); exp.After(max) {
			exp = max
		}
		m.chal.add(msg.Domain, msg.Token, msg.KeyAuth, exp)
		if testHookChallenge != nil {
			testHookChallenge(m)
		}
		m.send(in.from, &wireMsg{Type: msgChallengeAck, Token: msg.Token})
	case msgCert:
		st := m.byID[msg.ID]
		if st == nil {
			return fmt.Errorf("certificate for names no ACME site has: %.200q", msg.ID)
		}
		c, err := parseIssued(st.id, st.names, msg.Chain, msg.Key, m.now())
		if err != nil {
			return fmt.Errorf("certificate for site %s: %w", st.Name, err)
		}
		return m.install(c, in.from)
	case msgSync:
		now := m.now()
		m.mu.Lock()
		last, seen := m.synced[in.from]
		fresh := !seen || now.Sub(last) >= syncEvery
		if fresh {
			m.synced[in.from] = now
		}
		m.mu.Unlock()
		if !fresh {
			return errors.New("SYNC again within " + syncEvery.String() + ": ignored")
		}
		m.pushAll(in.from)
	}
	return nil
}

// distribute installs a challenge response here and sends it to every
// alive member, then waits (at most ChallengeWait) until they all
// acknowledged it. It returns the members that did not.
func (m *Manager) distribute(ctx context.Context, st *siteState, domain, token, keyAuth string) []string {
	exp := m.now().Add(m.t.ChallengeTTL)
	m.chal.add(domain, token, keyAuth, exp)
	peers := m.others()
	if len(peers) == 0 {
		return nil
	}
	w := &ackWait{need: map[string]bool{}, done: make(chan struct{})}
	for _, p := range peers {
		w.need[p] = true
	}
	m.acks.Store(token, w)
	defer m.acks.Delete(token)
	for _, p := range peers {
		m.send(p, &wireMsg{Type: msgChallenge, ID: st.id, Domain: domain, Token: token, KeyAuth: keyAuth, Expires: exp.Unix()})
	}
	t := time.NewTimer(m.t.ChallengeWait)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var missing []string
	for p := range w.need {
		missing = append(missing, p)
	}
	slices.Sort(missing)
	return missing
}

func (m *Manager) acked(from, token string) {
	v, ok := m.acks.Load(token)
	if !ok {
		return
	}
	w := v.(*ackWait)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.need[from] {
		delete(w.need, from)
		if len(w.need) == 0 {
			close(w.done)
		}
	}
}
