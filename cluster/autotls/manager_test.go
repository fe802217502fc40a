package autotls

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/edge/certs"
)

// fakeCluster is a member alone, recording what is sent and registered.
type fakeCluster struct {
	encrypted bool
	peer      string // the other member's name ("" = "peer")
	mu        sync.Mutex
	sent      []string // "to type"
	handlers  map[byte]cluster.AppHandler
}

func (f *fakeCluster) Name() string { return "me" }
func (f *fakeCluster) Members() []cluster.Member {
	peer := f.peer
	if peer == "" {
		peer = "peer"
	}
	return []cluster.Member{{Name: "me", State: "alive"}, {Name: peer, State: "alive"}}
}
func (f *fakeCluster) Encrypted() bool { return f.encrypted }
func (f *fakeCluster) Handle(kind byte, h cluster.AppHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handlers == nil {
		f.handlers = map[byte]cluster.AppHandler{}
	}
	f.handlers[kind] = h
}
func (f *fakeCluster) SendApp(to string, kind byte, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, _ := decode(body)
	f.sent = append(f.sent, to+" "+string('0'+m.Type))
	return nil
}

func newTestManager(t *testing.T, fc *fakeCluster, dir string, log *zap.Logger) *Manager {
	t.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	cfg := Config{DataDir: dir, Logger: log, Timing: Timing{Tick: 20 * time.Millisecond, Settle: time.Hour},
		Sites: []Site{{Name: "a", Hosts: []string{"a.example.com", "www.a.example.com"}, Directory: "https://127.0.0.1:1/dir"}}}
	if fc != nil {
		cfg.Cluster = fc
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func selfSigned(t *testing.T, notAfter time.Time, hosts ...string) (chain, key []byte) {
	t.Helper()
	c, k, err := certs.SelfSigned(hosts, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

const siteID = "a.example.com,www.a.example.com"

// TestHostileMessages: what arrives from the cluster is installed only
// when valid; every refusal leaves the current certificate serving.
func TestHostileMessages(t *testing.T) {
	dir := t.TempDir()
	fc := &fakeCluster{encrypted: true}
	m := newTestManager(t, fc, dir, nil)
	in := time.Now().Add(30 * 24 * time.Hour)
	good, goodKey := selfSigned(t, in, "a.example.com", "www.a.example.com")
	_, otherKey := selfSigned(t, in, "a.example.com", "www.a.example.com")
	wrong, wrongKey := selfSigned(t, in, "a.example.com", "evil.example.com")
	old, oldKey := selfSigned(t, time.Now().Add(-time.Minute), "a.example.com", "www.a.example.com")
	for _, c := range []struct {
		name string
		msg  wireMsg
		want string // in the error; "" = accepted
	}{
		{"unknown site", wireMsg{Type: msgCert, ID: "evil.example.com", Chain: good, Key: goodKey}, "no ACME site"},
		{"names differ", wireMsg{Type: msgCert, ID: siteID, Chain: wrong, Key: wrongKey}, "not the site's"},
		{"key mismatch", wireMsg{Type: msgCert, ID: siteID, Chain: good, Key: otherKey}, "certificate and key"},
		{"not PEM", wireMsg{Type: msgCert, ID: siteID, Chain: []byte("junk"), Key: goodKey}, "certificate and key"},
		{"expired", wireMsg{Type: msgCert, ID: siteID, Chain: old, Key: oldKey}, "not valid now"},
		{"challenge for another name", wireMsg{Type: msgChallenge, ID: siteID, Domain: "evil.example.com", Token: "tok", KeyAuth: "tok.thumb"}, "not a name of site"},
		{"challenge bad token", wireMsg{Type: msgChallenge, ID: siteID, Domain: "a.example.com", Token: "../etc", KeyAuth: "../etc.x"}, "malformed"},
		{"challenge key auth of another token", wireMsg{Type: msgChallenge, ID: siteID, Domain: "a.example.com", Token: "tok", KeyAuth: "other.thumb"}, "malformed"},
		{"good", wireMsg{Type: msgCert, ID: siteID, Chain: good, Key: goodKey}, ""},
		{"good challenge", wireMsg{Type: msgChallenge, ID: siteID, Domain: "a.example.com", Token: "tok_1", KeyAuth: "tok_1.thumb", Expires: time.Now().Add(time.Hour).Unix()}, ""},
	} {
		// Through the wire encoding, as it arrives.
		msg, err := decode(encode(&c.msg))
		if err != nil {
			t.Fatalf("%s: decode: %v", c.name, err)
		}
		err = m.handle(inMsg{from: "peer", msg: msg})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
		if c.want != "" && m.Lookup("a.example.com") != nil && c.name != "good" {
			t.Errorf("%s: a certificate is installed", c.name)
		}
	}
	got := m.Lookup("WWW.A.example.com.")
	if got == nil || !bytes.Equal(got.Leaf.Raw, mustLeaf(t, good)) {
		t.Fatal("the valid certificate is not served")
	}
	// An older (sooner-expiring) valid certificate does not replace it.
	sooner, soonerKey := selfSigned(t, time.Now().Add(time.Hour), "a.example.com", "www.a.example.com")
	if err := m.handle(inMsg{from: "peer", msg: wireMsg{Type: msgCert, ID: siteID, Chain: sooner, Key: soonerKey}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Lookup("a.example.com").Leaf.Raw, mustLeaf(t, good)) {
		t.Error("a certificate expiring sooner replaced the current one")
	}
	// On disk, 0600, and a new manager serves it before anything runs.
	fi, err := os.Stat(certFile(dir, siteID))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("certificate file mode %04o, want 0600", fi.Mode().Perm())
	}
	m2 := newTestManager(t, &fakeCluster{encrypted: true}, dir, nil)
	if c := m2.Lookup("a.example.com"); c == nil || !bytes.Equal(c.Leaf.Raw, mustLeaf(t, good)) {
		t.Error("a restarted manager does not serve the certificate from disk")
	}

	// The accepted challenge is answered (HTTP-01 and TLS-ALPN-01) and
	// acknowledged.
	h := m.Handler(http.NotFoundHandler())
	for host, want := range map[string]int{"a.example.com": 200, "other.example.com": 404} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://"+host+ChallengePath+"tok_1", nil)
		h.ServeHTTP(rec, req)
		if rec.Code != want || (want == 200 && rec.Body.String() != "tok_1.thumb") {
			t.Errorf("HTTP-01 for %s: %d %q", host, rec.Code, rec.Body.String())
		}
	}
	c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com", SupportedProtos: []string{ALPNProto}})
	if err != nil || c == nil {
		t.Fatalf("TLS-ALPN-01: %v", err)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "www.a.example.com", SupportedProtos: []string{ALPNProto}}); err == nil {
		t.Error("a TLS-ALPN-01 certificate for a name without a challenge")
	}
	select {
	case o := <-m.outq:
		if msg, _ := decode(o.body); o.to != "peer" || msg.Type != msgChallengeAck || msg.Token != "tok_1" {
			t.Errorf("ack: to %s %+v", o.to, msg)
		}
	default:
		t.Error("the challenge was not acknowledged")
	}
	// SYNC is answered once per syncEvery and member.
	for i, want := range []bool{true, false} {
		for len(m.outq) > 0 {
			<-m.outq
		}
		err := m.handle(inMsg{from: "peer", msg: wireMsg{Type: msgSync}})
		if got := len(m.outq) == 1 && err == nil; got != want {
			t.Errorf("SYNC %d: answered %v (queued %d, %v), want %v", i+1, got, len(m.outq), err, want)
		}
	}
	for len(m.outq) > 0 {
		<-m.outq
	}
}

func mustLeaf(t *testing.T, chain []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(chain)
	if blk == nil {
		t.Fatal("no certificate")
	}
	return blk.Bytes
}

// TestNoGossipKeyNoSharing: over an unencrypted cluster the manager says
// why at start, registers no handler and sends nothing.
func TestNoGossipKeyNoSharing(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	fc := &fakeCluster{encrypted: false}
	m := newTestManager(t, fc, t.TempDir(), zap.New(core))
	if logs.FilterMessageSnippet("no gossip key").Len() != 1 {
		t.Errorf("no startup error about the missing gossip key: %v", logs.All())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.handlers) != 0 || len(fc.sent) != 0 {
		t.Errorf("handlers %d, sent %v: nothing may be shared without encryption", len(fc.handlers), fc.sent)
	}
	if st := m.Status(); len(st) != 1 || st[0].Shared {
		t.Errorf("status %+v", st)
	}
}

func TestCheckSite(t *testing.T) {
	for _, c := range []struct {
		s    Site
		want string
	}{
		{Site{}, "needs the site's hosts"},
		{Site{Hosts: []string{"*.example.com"}}, "DNS-01"},
		{Site{Hosts: []string{"localhost"}}, "fully qualified"},
		{Site{Hosts: []string{"a.example.com"}, Challenges: []string{"dns-01"}}, "one of http-01, tls-alpn-01"},
		{Site{Hosts: []string{"a.example.com"}, Email: "not an address"}, "not an e-mail"},
		{Site{Hosts: []string{"a.example.com"}, Email: "ops@example.com", Challenges: []string{TLSALPN01}}, ""},
	} {
		err := CheckSite(c.s)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
}

func TestRenewAtTwoThirds(t *testing.T) {
	chain, key := selfSigned(t, time.Now().Add(90*24*time.Hour), "a.example.com", "www.a.example.com")
	c, err := parseIssued(siteID, []string{"a.example.com", "www.a.example.com"}, chain, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.cert.Leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	early := leaf.NotBefore.Add(life*2/3 - life/30)
	late := leaf.NotBefore.Add(life * 2 / 3)
	if c.renewAt.Before(early) || c.renewAt.After(late) {
		t.Errorf("renew at %s, want between %s and %s", c.renewAt, early, late)
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range []wireMsg{
		{Type: msgChallenge, ID: siteID, Domain: "a.example.com", Token: "t", KeyAuth: "t.k", Expires: 5},
		{Type: msgChallengeAck, Token: "t"},
		{Type: msgCert, ID: siteID, Chain: []byte("c"), Key: []byte("k")},
		{Type: msgSync},
	} {
		f.Add(encode(&m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			return
		}
		// What decodes survives a round trip unchanged.
		m2, err := decode(encode(&m))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("%x: decoded %+v, round trip %+v (%v)", b, m, m2, err)
		}
	})
}

// TestWaitingMemberPullsFromOwner: a member that lacks a certificate while
// the owner is to order it asks the owner for its certificates (a CERT
// message to it may have been lost), at most once per syncEvery.
func TestWaitingMemberPullsFromOwner(t *testing.T) {
	fc := &fakeCluster{encrypted: true}
	for i := 0; ; i++ {
		fc.peer = fmt.Sprintf("peer-%d", i)
		if alive := []string{"me", fc.peer}; alive[cluster.Ranked("acme:"+siteID, alive, 2)[0]] == fc.peer {
			break
		}
	}
	m := newTestManager(t, fc, t.TempDir(), nil)
	now := time.Now()
	m.start = now.Add(-time.Hour)
	alive := []string{"me", fc.peer}
	for i, want := range []int{1, 0} {
		m.consider(context.Background(), m.sites[0], alive, now)
		if got := len(m.outq); got != want {
			t.Fatalf("round %d: %d messages queued, want %d", i+1, got, want)
		}
		if want == 1 {
			o := <-m.outq
			if msg, _ := decode(o.body); o.to != fc.peer || msg.Type != msgSync {
				t.Errorf("sent %+v to %s, want SYNC to the owner %s", msg, o.to, fc.peer)
			}
		}
	}
	if st := m.Status()[0]; st.Ordering {
		t.Error("a member ranked second ordered at once")
	}
}
