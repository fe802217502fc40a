package autotls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ALPNProto is the TLS-ALPN-01 protocol (RFC 8737); the HTTPS listener
// must offer it for TLS-ALPN-01 validations to reach GetCertificate.
const ALPNProto = "acme-tls/1"

// ChallengePath is where HTTP-01 validators look (RFC 8555 §8.3).
const ChallengePath = "/.well-known/acme-challenge/"

// maxChallenges bounds the challenges a node holds (orders in flight across
// the cluster × names); beyond, the oldest goes.
const maxChallenges = 1024

// idPeACMEIdentifier is the TLS-ALPN-01 certificate extension (RFC 8737 §3).
var idPeACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

type challenge struct {
	domain, token, keyAuth string
	expires                time.Time
	added                  time.Time

	once sync.Once
	cert *tls.Certificate // TLS-ALPN-01, built on first use
	err  error
}

// challenges are the challenge responses this node answers: by token for
// HTTP-01, by domain for TLS-ALPN-01.
type challenges struct {
	mu       sync.Mutex
	byToken  map[string]*challenge
	byDomain map[string]*challenge // the newest for the domain
	now      func() time.Time
}

func newChallenges(now func() time.Time) *challenges {
	return &challenges{byToken: map[string]*challenge{}, byDomain: map[string]*challenge{}, now: now}
}

// add installs a challenge response (replacing one with the same token).
func (cs *challenges) add(domain, token, keyAuth string, expires time.Time) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	cs.expireLocked(now)
	for len(cs.byToken) >= maxChallenges {
		var oldest *challenge
		for _, c := range cs.byToken {
			if oldest == nil || c.added.Before(oldest.added) {
				oldest = c
			}
		}
		cs.removeLocked(oldest)
	}
	c := &challenge{domain: domain, token: token, keyAuth: keyAuth, expires: expires, added: now}
	if old := cs.byToken[token]; old != nil {
		cs.removeLocked(old)
	}
	cs.byToken[token] = c
	cs.byDomain[domain] = c
}

func (cs *challenges) removeLocked(c *challenge) {
	delete(cs.byToken, c.token)
	if cs.byDomain[c.domain] == c {
		delete(cs.byDomain, c.domain)
	}
}

func (cs *challenges) expireLocked(now time.Time) {
	for _, c := range cs.byToken {
		if !now.Before(c.expires) {
			cs.removeLocked(c)
		}
	}
}

func (cs *challenges) live(c *challenge) bool { return c != nil && cs.now().Before(c.expires) }

// keyAuth is the HTTP-01 answer for token and host ("" = none).
func (cs *challenges) keyAuth(host, token string) string {
	cs.mu.Lock()
	c := cs.byToken[token]
	cs.mu.Unlock()
	if !cs.live(c) || !strings.EqualFold(c.domain, host) {
		return ""
	}
	return c.keyAuth
}

// alpnCert is the TLS-ALPN-01 certificate for domain.
func (cs *challenges) alpnCert(domain string) (*tls.Certificate, error) {
	cs.mu.Lock()
	c := cs.byDomain[strings.ToLower(domain)]
	cs.mu.Unlock()
	if !cs.live(c) {
		return nil, fmt.Errorf("autotls: no TLS-ALPN-01 challenge for %q", domain)
	}
	c.once.Do(func() { c.cert, c.err = alpnChallengeCert(c.domain, c.keyAuth) })
	return c.cert, c.err
}

// alpnChallengeCert builds the self-signed TLS-ALPN-01 certificate for
// domain: its only name, and the critical acmeIdentifier extension holding
// the SHA-256 of the key authorisation (RFC 8737 §3). Any key will do, so
// each node makes its own: no private key travels for a challenge.
func alpnChallengeCert(domain, keyAuth string) (*tls.Certificate, error) {
	sum := sha256.Sum256([]byte(keyAuth))
	ext, err := asn1.Marshal(sum[:])
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: "meshcdn ACME challenge"},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.Add(24 * time.Hour),
		DNSNames:        []string{domain},
		ExtraExtensions: []pkix.Extension{{Id: idPeACMEIdentifier, Critical: true, Value: ext}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// wantsALPN reports whether a client hello is a TLS-ALPN-01 validation.
func wantsALPN(hello *tls.ClientHelloInfo) bool {
	for _, p := range hello.SupportedProtos {
		if p == ALPNProto {
			return true
		}
	}
	return false
}

var errNoChallenge = errors.New("no such challenge")

// serveHTTP01 answers an HTTP-01 validation request; false when r is not
// one this node knows.
func (cs *challenges) serveHTTP01(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	token, ok := strings.CutPrefix(r.URL.Path, ChallengePath)
	if !ok || token == "" || strings.Contains(token, "/") {
		return false
	}
	host := r.Host
	if h, _, found := strings.Cut(host, ":"); found {
		host = h
	}
	ka := cs.keyAuth(strings.TrimSuffix(host, "."), token)
	if ka == "" {
		return false
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(ka))
	return true
}

// validToken: base64url characters only (RFC 8555 §8.1), bounded.
func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validKeyAuth: token "." base64url thumbprint.
func validKeyAuth(token, ka string) bool {
	thumb, ok := strings.CutPrefix(ka, token+".")
	return ok && len(ka) <= maxKeyAuthLen && validToken(thumb)
}
