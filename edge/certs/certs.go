// Package certs is a certificate source for the edge's HTTPS listener:
// certificate/key pairs loaded from PEM files, chosen by the TLS client's
// server name (SNI), reloaded without a restart.
//
// Selection: the exact name first, then a wildcard "*.example.com" that
// covers exactly one more label (a.example.com, not a.b.example.com nor
// example.com), then the default certificate, the first pair. Names are
// the certificate's DNS subject alternative names, or its subject common
// name when it has none; when two pairs claim one name, the earlier wins.
//
// Reload re-reads every pair and swaps the whole set in at once; when any
// pair fails (unreadable, not PEM, key not matching), the old set keeps
// serving and the error names the file. Watch calls Reload on a signal
// (SIGHUP) and when a file changes on disk (polled: a different file,
// size or modification time), for certbot or cert-manager renewals.
// Expired and soon-expiring certificates are served (a node must not stop
// serving because a renewal failed), logged as warnings at every load, and
// exported as seconds to expiry (Collector) for alerting.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Pair names the PEM files of one certificate (chain) and its private key.
type Pair struct{ Cert, Key string }

// Config configures a Store.
type Config struct {
	Pairs []Pair // at least one; the first is the default certificate

	// PollInterval is how often Watch looks at the files: 0 = 10 s, < 0 =
	// only on signals.
	PollInterval time.Duration
	// WarnBefore: a certificate expiring sooner is logged as a warning at
	// each load. 0 = 14 days.
	WarnBefore time.Duration

	Logger *zap.Logger      // nil = no logging
	Now    func() time.Time // nil = time.Now (tests)
}

// Bounds.
const (
	MaxPairs            = 1000
	MaxFileSize         = 1 << 20 // bytes of one PEM file
	DefaultPollInterval = 10 * time.Second
	DefaultWarnBefore   = 14 * 24 * time.Hour
)

// Store holds the loaded certificates; it is safe for concurrent use.
type Store struct {
	cfg Config
	log *zap.Logger
	cur atomic.Pointer[set]

	mu   sync.Mutex // serialises loads; guards seen
	seen []fileStamp
}

// loaded is one pair as loaded.
type loaded struct {
	pair  Pair
	cert  *tls.Certificate
	names []string // lower case; wildcards as "*.example.com"
}

// set is one generation of certificates.
type set struct {
	pairs []loaded
	exact map[string]*tls.Certificate // name → certificate
	wild  map[string]*tls.Certificate // "example.com" for *.example.com
}

// New loads every pair; an error in any of them is returned.
func New(cfg Config) (*Store, error) {
	if len(cfg.Pairs) == 0 {
		return nil, errors.New("certs: no certificate/key pair")
	}
	if len(cfg.Pairs) > MaxPairs {
		return nil, fmt.Errorf("certs: %d certificate/key pairs, at most %d", len(cfg.Pairs), MaxPairs)
	}
	seen := map[string]bool{}
	for i, p := range cfg.Pairs {
		if p.Cert == "" || p.Key == "" {
			return nil, fmt.Errorf("certs: pair %d: both a certificate file and a key file are needed (cert %q, key %q)", i+1, p.Cert, p.Key)
		}
		if seen[p.Cert] {
			return nil, fmt.Errorf("certs: certificate %s is listed twice", p.Cert)
		}
		seen[p.Cert] = true
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.WarnBefore <= 0 {
		cfg.WarnBefore = DefaultWarnBefore
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Store{cfg: cfg, log: cfg.Logger}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate picks the certificate for a handshake (tls.Config's
// GetCertificate): exact name, wildcard, then the default.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load().pick(hello.ServerName), nil
}

func (st *set) pick(serverName string) *tls.Certificate {
	if c, ok := st.match(serverName); ok {
		return c
	}
	return st.pairs[0].cert
}

// match: the exact name first, then a wildcard one label up.
func (st *set) match(serverName string) (*tls.Certificate, bool) {
	name := strings.TrimSuffix(strings.ToLower(serverName), ".")
	if name == "" {
		return nil, false
	}
	if c, ok := st.exact[name]; ok {
		return c, true
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c, ok := st.wild[name[i+1:]]; ok {
			return c, true
		}
	}
	return nil, false
}

// Match returns the certificate loaded for serverName by its exact name or
// a wildcard, and false when only the default would serve it (a file
// certificate for a name wins over other sources; the default does not).
func (s *Store) Match(serverName string) (*tls.Certificate, bool) {
	return s.cur.Load().match(serverName)
}

// Reload re-reads every pair and swaps the new set in; on an error the
// current set stays. The files' state is remembered either way, so that
// Watch retries a rejected file only once it changes again.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = stampAll(s.cfg.Pairs)
	next := &set{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for _, p := range s.cfg.Pairs {
		l, err := loadPair(p)
		if err != nil {
			return err
		}
		next.add(l)
	}
	s.cur.Store(next)
	now := s.cfg.Now()
	for _, l := range next.pairs {
		s.logLoaded(l, now)
	}
	return nil
}

func (st *set) add(l loaded) {
	st.pairs = append(st.pairs, l)
	for _, n := range l.names {
		m, key := st.exact, n
		if strings.HasPrefix(n, "*.") {
			m, key = st.wild, n[2:]
		}
		if _, taken := m[key]; !taken {
			m[key] = l.cert
		}
	}
}

func (s *Store) logLoaded(l loaded, now time.Time) {
	leaf := l.cert.Leaf
	fields := []zap.Field{zap.String("cert", l.pair.Cert), zap.Strings("names", l.names), zap.Time("not_after", leaf.NotAfter)}
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		s.log.Warn("TLS certificate has expired: clients will refuse it; renew it", fields...)
	case left < s.cfg.WarnBefore:
		s.log.Warn("TLS certificate expires soon: renew it", append(fields, zap.Duration("left", left.Round(time.Minute)))...)
	case now.Before(leaf.NotBefore):
		s.log.Warn("TLS certificate is not valid yet", append(fields, zap.Time("not_before", leaf.NotBefore))...)
	default:
		s.log.Info("TLS certificate loaded", fields...)
	}
}

// loadPair reads and checks one pair: both files readable and bounded,
// PEM, the key matching the certificate.
func loadPair(p Pair) (loaded, error) {
	certPEM, err := readBounded(p.Cert)
	if err != nil {
		return loaded{}, fmt.Errorf("certs: certificate %s: %w", p.Cert, err)
	}
	keyPEM, err := readBounded(p.Key)
	if err != nil {
		return loaded{}, fmt.Errorf("certs: key %s: %w", p.Key, err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return loaded{}, fmt.Errorf("certs: certificate %s with key %s: %w", p.Cert, p.Key, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return loaded{}, fmt.Errorf("certs: certificate %s: %w", p.Cert, err)
		}
	}
	return loaded{pair: p, cert: &c, names: certNames(c.Leaf)}, nil
}

// certNames are the DNS names a certificate is for, lower case: its DNS
// SANs, or the subject CN if it has none (legacy certificates).
func certNames(leaf *x509.Certificate) []string {
	src := leaf.DNSNames
	if len(src) == 0 && leaf.Subject.CommonName != "" {
		src = []string{leaf.Subject.CommonName}
	}
	names := make([]string, 0, len(src))
	for _, n := range src {
		n = strings.TrimSuffix(strings.ToLower(n), ".")
		if n == "" || strings.Contains(strings.TrimPrefix(n, "*."), "*") {
			continue // a wildcard other than a whole first label matches nothing
		}
		names = append(names, n)
	}
	return names
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	return b, nil
}

// Names lists, per pair in order, the names it serves (tests, logs).
func (s *Store) Names() [][]string {
	st := s.cur.Load()
	out := make([][]string, len(st.pairs))
	for i, l := range st.pairs {
		out[i] = append([]string(nil), l.names...)
	}
	return out
}

// Watch reloads on every value from reload (SIGHUP; nil: none) and, unless
// PollInterval < 0, when a file changed since the last load, until ctx is
// done. Errors are logged; the current certificates keep serving.
func (s *Store) Watch(ctx context.Context, reload <-chan os.Signal) {
	var tick <-chan time.Time
	if s.cfg.PollInterval > 0 {
		t := time.NewTicker(s.cfg.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			s.reloadLogged("signal")
		case <-tick:
			if s.changed() {
				s.reloadLogged("file changed")
			}
		}
	}
}

func (s *Store) reloadLogged(why string) {
	if err := s.Reload(); err != nil {
		s.log.Error("TLS certificates not reloaded: the previous ones keep serving", zap.String("cause", why), zap.Error(err))
		return
	}
	s.log.Info("TLS certificates reloaded", zap.String("cause", why), zap.Int("pairs", len(s.cfg.Pairs)))
}
