package autotls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cluster"
)

// Challenge types.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
)

// LetsEncrypt is the default directory: Let's Encrypt's production CA.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Site is one site whose certificate comes from an ACME CA.
type Site struct {
	Name       string   // the site's name (logs, metrics)
	Hosts      []string // the certificate's names: exact host names, no wildcards
	Email      string   // account contact ("" = none)
	Directory  string   // the CA's directory URL ("" = LetsEncrypt)
	CARoots    *x509.CertPool
	Challenges []string // HTTP01 and/or TLSALPN01, in order of preference (nil = both)
}

// Cluster is what the manager needs of the cluster (*cluster.Node).
type Cluster interface {
	Name() string
	Members() []cluster.Member
	Handle(kind byte, h cluster.AppHandler)
	SendApp(to string, kind byte, body []byte) error
	Encrypted() bool
}

// Timing holds the manager's knobs; zero fields take the defaults shown.
type Timing struct {
	Tick          time.Duration // 2s: how often certificates and members are looked at
	Settle        time.Duration // 10s: after start, wait this long for the members' certificates before ordering
	OrderTimeout  time.Duration // 10m: the member ranked p orders after a name has lacked a certificate p × this long
	ChallengeWait time.Duration // 10s: longest wait for members to acknowledge a challenge response
	ChallengeTTL  time.Duration // 10m: how long a challenge response is answered
	OrderDeadline time.Duration // 5m: longest an order may take
	BackoffMin    time.Duration // 1m: wait after a failed order, doubling
	BackoffMax    time.Duration // 6h
}

func (t *Timing) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Tick, 2*time.Second)
	def(&t.Settle, 10*time.Second)
	def(&t.OrderTimeout, 10*time.Minute)
	def(&t.ChallengeWait, 10*time.Second)
	def(&t.ChallengeTTL, 10*time.Minute)
	def(&t.OrderDeadline, 5*time.Minute)
	def(&t.BackoffMin, time.Minute)
	def(&t.BackoffMax, 6*time.Hour)
}

// Config configures a Manager.
type Config struct {
	Sites   []Site
	DataDir string  // required: the account keys and certificates live in DataDir (0700/0600)
	Cluster Cluster // nil: this node alone
	Timing  Timing

	Logger     *zap.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // nil = time.Now
}

// siteSpec is a validated Site.
type siteSpec struct {
	Site
	id    string   // sorted names joined by ","
	names []string // sorted, lower case
}

// Bounds.
const (
	MaxSites = 256
	MaxHosts = 100 // names per certificate (Let's Encrypt's limit)
)

// CheckSite validates one site's ACME settings; the error says what is
// wrong, in the terms of the configuration.
func CheckSite(s Site) error {
	if len(s.Hosts) == 0 {
		return errors.New("needs the site's hosts (the certificate's names)")
	}
	if len(s.Hosts) > MaxHosts {
		return fmt.Errorf("at most %d hosts in one certificate", MaxHosts)
	}
	for _, h := range s.Hosts {
		if strings.Contains(h, "*") {
			return fmt.Errorf("host %q: wildcard names need the DNS-01 challenge, which meshcdn does not answer; list the names, or use a certificate file", h)
		}
		if !strings.Contains(strings.Trim(h, "."), ".") || len(h) > maxDomainLen {
			return fmt.Errorf("host %q: not a fully qualified domain name a CA can validate", h)
		}
	}
	for _, c := range s.Challenges {
		if c != HTTP01 && c != TLSALPN01 {
			return fmt.Errorf("challenge %q: one of %s, %s", c, HTTP01, TLSALPN01)
		}
	}
	if s.Email != "" && (strings.ContainsAny(s.Email, " \t\r\n,<>") || !strings.Contains(s.Email, "@") || len(s.Email) > 254) {
		return fmt.Errorf("email %q is not an e-mail address", s.Email)
	}
	return nil
}

func spec(s Site) siteSpec {
	names := make([]string, len(s.Hosts))
	for i, h := range s.Hosts {
		names[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if s.Directory == "" {
		s.Directory = LetsEncrypt
	}
	if len(s.Challenges) == 0 {
		s.Challenges = []string{HTTP01, TLSALPN01}
	}
	return siteSpec{Site: s, id: strings.Join(names, ","), names: names}
}
