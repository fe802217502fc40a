package autotls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/autotls/pebbletest"
	"github.com/meshcdn/meshcdn/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pebbletest.Cleanup()
	os.Exit(code)
}

type nopApplier struct{}

func (nopApplier) Purge(store.Purge) int { return 0 }

var testKey = bytes.Repeat([]byte{7}, 32)

// testTiming: fast rounds; a takeover of a live orderer only after 30 s
// (longer than any test), so that a second order means a failover.
func testTiming() Timing {
	return Timing{Tick: 100 * time.Millisecond, Settle: time.Second, OrderTimeout: 30 * time.Second,
		ChallengeWait: 5 * time.Second, OrderDeadline: 30 * time.Second, BackoffMin: 500 * time.Millisecond, BackoffMax: 2 * time.Second}
}

// tnode is one meshcdn node as far as certificates go: a cluster member,
// its manager, an HTTP listener (HTTP-01) and an HTTPS listener
// (TLS-ALPN-01 and the certificates), both on the node's own loopback
// address at the ports Pebble validates.
type tnode struct {
	name, ip string
	dataDir  string
	cl       *cluster.Node
	m        *Manager
	reg      *prometheus.Registry
	cancel   context.CancelFunc
	done     chan struct{}
	srvs     []*http.Server
	stopOnce sync.Once
}

type nodeOpts struct {
	name, ip, dataDir string
	join              []string
	sites             []Site
	keys              [][]byte
	port              int  // gossip port (0: any)
	noCluster         bool // the manager runs without a cluster (a node before it rejoins)
}

func startNode(t *testing.T, p *pebbletest.Pebble, o nodeOpts) *tnode {
	t.Helper()
	n := &tnode{name: o.name, ip: o.ip, dataDir: o.dataDir, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	cfg := Config{Sites: o.sites, DataDir: o.dataDir, Timing: testTiming(), Logger: zaptest.NewLogger(t).Named(o.name), Registerer: n.reg}
	if !o.noCluster {
		cl, err := cluster.Start(cluster.Config{NodeName: o.name, BindAddr: "127.0.0.1", BindPort: o.port, Join: o.join, Keys: o.keys}, nopApplier{})
		if err != nil {
			t.Fatal(err)
		}
		n.cl = cl
		cfg.Cluster = cl
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.m = m
	plain := http.NotFoundHandler()
	httpLn := listenRetry(t, net.JoinHostPort(o.ip, strconv.Itoa(p.HTTPPort)))
	tlsLn := listenRetry(t, net.JoinHostPort(o.ip, strconv.Itoa(p.TLSPort)))
	hs := &http.Server{Handler: m.Handler(plain)}
	ts := &http.Server{Handler: plain, TLSConfig: &tls.Config{
		NextProtos: []string{"h2", "http/1.1", ALPNProto},
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := m.GetCertificate(h)
			if c == nil && err == nil {
				err = errors.New("no certificate")
			}
			return c, err
		},
	}}
	n.srvs = []*http.Server{hs, ts}
	go hs.Serve(httpLn)
	go ts.ServeTLS(tlsLn, "", "")
	if n.cl != nil {
		ctx, cancel := context.WithCancel(context.Background())
		n.cancel = cancel
		go func() { defer close(n.done); m.Run(ctx) }()
	} else {
		close(n.done)
	}
	t.Cleanup(n.stop)
	return n
}

// stop kills the node: no graceful leave (the others find it failed).
func (n *tnode) stop() {
	n.stopOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		for _, s := range n.srvs {
			_ = s.Close()
		}
		if n.cl != nil {
			_ = n.cl.Shutdown()
		}
		<-n.done
	})
}

func listenRetry(t *testing.T, addr string) net.Listener {
	t.Helper()
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(100 * time.Millisecond) // a stopped node's port, still closing
	}
	t.Fatal(err)
	return nil
}

// served is the leaf a TLS client verifying against roots gets from the
// node for name.
func served(t *testing.T, p *pebbletest.Pebble, n *tnode, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(n.ip, strconv.Itoa(p.TLSPort)), &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// orderedBy reports the ACME orders a node completed for a site.
func orders(n *tnode, site, result string) float64 {
	return testutil.ToFloat64(n.m.m.orders.WithLabelValues(site, result))
}

func answered(n *tnode, challenge string) float64 {
	return testutil.ToFloat64(n.m.m.validations.WithLabelValues(challenge))
}

// rankOf returns the node names in rendezvous order for a site's names.
func rankOf(names []string, nodes ...*tnode) []*tnode {
	all := make([]string, len(nodes))
	for i, n := range nodes {
		all[i] = n.name
	}
	id := spec(Site{Hosts: names}).id
	var out []*tnode
	for _, i := range cluster.Ranked("acme:"+id, all, len(all)) {
		out = append(out, nodes[i])
	}
	return out
}

// threeNodes starts a 3-node encrypted cluster on 127.0.0.11-13.
func threeNodes(t *testing.T, p *pebbletest.Pebble, sites []Site) []*tnode {
	t.Helper()
	var nodes []*tnode
	for i := range 3 {
		o := nodeOpts{name: fmt.Sprintf("node-%d", i+1), ip: fmt.Sprintf("127.0.0.%d", 11+i), dataDir: t.TempDir(), sites: sites, keys: [][]byte{testKey}}
		if i > 0 {
			o.join = []string{nodes[0].cl.Addr()}
		}
		nodes = append(nodes, startNode(t, p, o))
	}
	pebbletest.WaitFor(t, 10*time.Second, "three alive members", func() bool {
		for _, n := range nodes {
			if len(cluster.AliveNames(n.cl.Members(), "")) != 3 {
				return false
			}
		}
		return true
	})
	return nodes
}

func sameCertEverywhere(t *testing.T, p *pebbletest.Pebble, nodes []*tnode, name string, roots *x509.CertPool, not *x509.Certificate) *x509.Certificate {
	return sameCertWithin(t, 40*time.Second, p, nodes, name, roots, not)
}

func sameCertWithin(t *testing.T, d time.Duration, p *pebbletest.Pebble, nodes []*tnode, name string, roots *x509.CertPool, not *x509.Certificate) *x509.Certificate {
	t.Helper()
	var first *x509.Certificate
	pebbletest.WaitFor(t, d, "every node to serve one certificate for "+name, func() bool {
		first = nil
		for _, n := range nodes {
			c, err := served(t, p, n, name, roots)
			if err != nil || (not != nil && c.Equal(not)) || (first != nil && !c.Equal(first)) {
				return false
			}
			first = c
		}
		return true
	})
	return first
}

// TestClusterOrdersOnceServesEverywhere: a 3-node cluster gets one
// certificate per site from Pebble, with the validations (HTTP-01 for one
// site, TLS-ALPN-01 for the other) sent to a node that is not the
// orderer; every node then serves the same Pebble-issued certificate, a
// restarted node serves it from disk before it rejoins, and the
// short-lived certificates are renewed.
func TestClusterOrdersOnceServesEverywhere(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{Validity: 24})
	httpName, alpnName := "www.meshcdn.test", "api.meshcdn.test"
	sites := []Site{
		{Name: "www", Hosts: []string{httpName}, Directory: p.Directory, CARoots: p.Roots, Challenges: []string{HTTP01}, Email: "ops@meshcdn.test"},
		{Name: "api", Hosts: []string{alpnName}, Directory: p.Directory, CARoots: p.Roots, Challenges: []string{TLSALPN01}},
	}
	// Register the DNS answers before the nodes start: the validator of
	// each name reaches the node ranked last, never the orderer.
	var names = []string{"node-1", "node-2", "node-3"}
	fake := make([]*tnode, 3)
	for i := range fake {
		fake[i] = &tnode{name: names[i], ip: fmt.Sprintf("127.0.0.%d", 11+i)}
	}
	for _, n := range []string{httpName, alpnName} {
		r := rankOf([]string{n}, fake...)
		p.PointDNS(t, n, r[2].ip)
		t.Logf("%s: orderer %s, validations to %s", n, r[0].name, r[2].name)
	}
	nodes := threeNodes(t, p, sites)
	roots := p.IssuerRoots(t)

	byName := map[string]*tnode{}
	for _, n := range nodes {
		byName[n.name] = n
	}
	first := map[string]*x509.Certificate{}
	for _, s := range []struct{ name, site, chal string }{{httpName, "www", HTTP01}, {alpnName, "api", TLSALPN01}} {
		first[s.name] = sameCertEverywhere(t, p, nodes, s.name, roots, nil)
		r := rankOf([]string{s.name}, fake...)
		orderer, validated := byName[r[0].name], byName[r[2].name]
		if got := orders(orderer, s.site, "ok"); got != 1 {
			t.Errorf("%s: the owner %s completed %v orders, want 1", s.name, orderer.name, got)
		}
		for _, n := range nodes {
			if n != orderer && orders(n, s.site, "ok")+orders(n, s.site, "error") != 0 {
				t.Errorf("%s: %s ordered too", s.name, n.name)
			}
		}
		if answered(validated, s.chal) == 0 {
			t.Errorf("%s: %s (where DNS points) answered no %s validation", s.name, validated.name, s.chal)
		}
		if answered(orderer, s.chal) != 0 {
			t.Errorf("%s: the orderer answered a validation; DNS should not lead there", s.name)
		}
		if iss := first[s.name].Issuer.CommonName; len(iss) < 6 || iss[:6] != "Pebble" {
			t.Errorf("%s: issuer %q, want Pebble's", s.name, iss)
		}
	}

	// A restarted node serves from disk before it rejoins the cluster.
	n3 := nodes[2]
	_, portStr, _ := net.SplitHostPort(n3.cl.Addr())
	port, _ := strconv.Atoi(portStr)
	n3.stop()
	back := startNode(t, p, nodeOpts{name: n3.name, ip: n3.ip, dataDir: n3.dataDir, sites: sites, noCluster: true})
	for _, name := range []string{httpName, alpnName} {
		c, err := served(t, p, back, name, roots)
		if err != nil {
			t.Fatalf("restarted node, before rejoining: %v", err)
		}
		if !c.Equal(first[name]) {
			t.Errorf("restarted node serves another certificate for %s than the cluster", name)
		}
	}
	back.stop()
	nodes[2] = startNode(t, p, nodeOpts{name: n3.name, ip: n3.ip, dataDir: n3.dataDir, sites: sites, keys: [][]byte{testKey}, port: port, join: []string{nodes[0].cl.Addr()}})

	// 24 s certificates are due for renewal after about 16 s: every node
	// then serves a newer one, ordered once more by the owner.
	renewed := map[string]*x509.Certificate{}
	for _, name := range []string{httpName, alpnName} {
		c := sameCertEverywhere(t, p, nodes, name, roots, first[name])
		if !c.NotBefore.After(first[name].NotBefore) && !c.NotAfter.After(first[name].NotAfter) {
			t.Errorf("%s: the renewed certificate is not newer", name)
		}
		renewed[name] = c
	}

	// A new node with nothing on disk gets the current certificates from
	// the members, and orders nothing (even where it is now the owner).
	n4 := startNode(t, p, nodeOpts{name: "node-4", ip: "127.0.0.14", dataDir: t.TempDir(), sites: sites, keys: [][]byte{testKey}, join: []string{nodes[0].cl.Addr()}})
	for _, name := range []string{httpName, alpnName} {
		pebbletest.WaitFor(t, 5*time.Second, "the new node to serve the current certificate of "+name, func() bool {
			c, err := served(t, p, n4, name, roots)
			return err == nil && c.Equal(renewed[name])
		})
	}
	for _, site := range []string{"www", "api"} {
		if got := orders(n4, site, "ok") + orders(n4, site, "error"); got != 0 {
			t.Errorf("the new node placed %v orders for %s", got, site)
		}
	}
}

// TestOrdererKilledMidOrder: the owner dies after it sent the challenge
// responses and before the certificate exists; the next member in
// rendezvous order takes over and every survivor serves the certificate.
func TestOrdererKilledMidOrder(t *testing.T) {
	p := pebbletest.Start(t, pebbletest.Options{})
	name := "shop.meshcdn.test"
	sites := []Site{{Name: "shop", Hosts: []string{name}, Directory: p.Directory, CARoots: p.Roots, Challenges: []string{HTTP01}}}
	fake := []*tnode{{name: "node-1", ip: "127.0.0.11"}, {name: "node-2", ip: "127.0.0.12"}, {name: "node-3", ip: "127.0.0.13"}}
	r := rankOf([]string{name}, fake...)
	p.PointDNS(t, name, r[2].ip)

	var victim atomic.Pointer[tnode]
	var killed atomic.Bool
	testHookChallenge = func(m *Manager) {
		if v := victim.Load(); v != nil && killed.CompareAndSwap(false, true) {
			t.Logf("challenge received by %s: killing the orderer %s", m.self, v.name)
			go v.stop()
		}
	}
	t.Cleanup(func() { testHookChallenge = nil })
	nodes := make([]*tnode, 0, 3)
	for i, f := range fake {
		o := nodeOpts{name: f.name, ip: f.ip, dataDir: t.TempDir(), sites: sites, keys: [][]byte{testKey}}
		if i > 0 {
			o.join = []string{nodes[0].cl.Addr()}
		}
		n := startNode(t, p, o)
		if f.name == r[0].name {
			victim.Store(n)
		}
		nodes = append(nodes, n)
	}
	survivors := []*tnode{}
	for _, n := range nodes {
		if n.name != r[0].name {
			survivors = append(survivors, n)
		}
	}
	roots := p.IssuerRoots(t)
	// Well before OrderTimeout (30 s): the takeover follows the failure
	// detection, not the timeout for a live but stuck orderer.
	sameCertWithin(t, 15*time.Second, p, survivors, name, roots, nil)
	if !killed.Load() {
		t.Fatal("the orderer was never killed: no challenge response reached another node")
	}
	if got := orders(byNameIn(survivors, r[1].name), "shop", "ok"); got != 1 {
		t.Errorf("the next owner %s completed %v orders, want 1", r[1].name, got)
	}
}

func byNameIn(ns []*tnode, name string) *tnode {
	for _, n := range ns {
		if n.name == name {
			return n
		}
	}
	return nil
}
