package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// writePair writes a new self-signed pair for hosts into dir as
// name.crt / name.key (renamed into place, as renewals do).
func writePair(t *testing.T, dir, name string, hosts ...string) Pair {
	t.Helper()
	c, k, err := SelfSigned(hosts, time.Now().Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	replaceFile(t, p.Cert, c)
	replaceFile(t, p.Key, k)
	return p
}

func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// served is the first name of the certificate chosen for serverName.
func served(t *testing.T, s *Store, serverName string) string {
	t.Helper()
	c, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.Subject.CommonName
}

func TestSNIExactWildcardDefault(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Pairs: []Pair{
		writePair(t, dir, "default", "default.test"),
		writePair(t, dir, "wild", "*.example.com", "b.example.org"),
		writePair(t, dir, "a", "a.example.com"),
		writePair(t, dir, "late", "b.example.org"), // the earlier pair keeps the name
	}})
	if err != nil {
		t.Fatal(err)
	}
	for sni, want := range map[string]string{
		"a.example.com":    "a.example.com", // exact beats wildcard
		"A.Example.COM.":   "a.example.com", // case and a trailing dot do not matter
		"x.example.com":    "*.example.com",
		"b.example.org":    "*.example.com",
		"y.x.example.com":  "default.test", // a wildcard covers one label
		"example.com":      "default.test",
		"default.test":     "default.test",
		"":                 "default.test", // no SNI (a client connecting by IP)
		"other.example.ne": "default.test",
	} {
		if got := served(t, s, sni); got != want {
			t.Errorf("SNI %q: served %q, want %q", sni, got, want)
		}
	}
}

// TestCommonNameOnlyWithoutSANs: the subject CN names a certificate only
// when it has no DNS SANs.
func TestCommonNameOnlyWithoutSANs(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	write := func(name string, tmpl *x509.Certificate) Pair {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(key)
		p := Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
		replaceFile(t, p.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		replaceFile(t, p.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
		return p
	}
	tmpl := func(cn string, sans ...string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: sans}
	}
	s, err := New(Config{Pairs: []Pair{
		write("def", tmpl("def.test", "def.test")),
		write("cnonly", tmpl("legacy.test")),
		write("both", tmpl("cn.test", "san.test")),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s, "legacy.test"); got != "legacy.test" {
		t.Errorf("CN-only certificate not chosen by its CN: got %q", got)
	}
	if got := served(t, s, "cn.test"); got != "def.test" {
		t.Errorf("CN of a certificate with SANs was used as a name: got %q", got)
	}
	if got := served(t, s, "san.test"); got != "cn.test" {
		t.Errorf("SAN not used: got %q", got)
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	good := writePair(t, dir, "good", "good.test")
	other := writePair(t, dir, "other", "other.test")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		pairs []Pair
		want  []string
	}{
		"missing cert":    {[]Pair{{Cert: filepath.Join(dir, "nope.crt"), Key: good.Key}}, []string{"nope.crt", "no such file"}},
		"missing key":     {[]Pair{{Cert: good.Cert, Key: filepath.Join(dir, "nope.key")}}, []string{"nope.key", "no such file"}},
		"not PEM":         {[]Pair{good, {Cert: garbage, Key: good.Key}}, []string{"garbage.pem"}},
		"key of another":  {[]Pair{{Cert: good.Cert, Key: other.Key}}, []string{good.Cert, other.Key, "does not match"}},
		"none":            {nil, []string{"no certificate"}},
		"listed twice":    {[]Pair{good, good}, []string{"twice"}},
		"key file absent": {[]Pair{{Cert: good.Cert}}, []string{"key file"}},
	} {
		_, err := New(Config{Pairs: tc.pairs})
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", name, err, w)
			}
		}
	}
}

func TestReloadSwapsAndBadFileKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := writePair(t, dir, "site", "one.test")
	s, err := New(Config{Pairs: []Pair{p}})
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, "site", "two.test")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, s, "two.test"); got != "two.test" {
		t.Fatalf("after Reload: served %q, want two.test", got)
	}
	// A renewal caught half-way: the new certificate with the old key.
	newer := writePair(t, t.TempDir(), "x", "three.test")
	c, _ := os.ReadFile(newer.Cert)
	replaceFile(t, p.Cert, c)
	err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), p.Cert) {
		t.Fatalf("Reload with a mismatched key: err %v, want one naming %s", err, p.Cert)
	}
	if got := served(t, s, "two.test"); got != "two.test" {
		t.Fatalf("after a failed Reload: served %q, want the previous two.test", got)
	}
	replaceFile(t, p.Cert, []byte("garbage"))
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a garbage certificate succeeded")
	}
	if got := served(t, s, "two.test"); got != "two.test" {
		t.Fatalf("after a failed Reload: served %q, want the previous two.test", got)
	}
}

// waitServed polls until serverName gets want (no time limit of its own:
// the test's deadline is the bound).
func waitServed(t *testing.T, s *Store, serverName, want string) {
	t.Helper()
	for served(t, s, serverName) != want {
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchReloadsOnFileChangeAndSignal(t *testing.T) {
	dir := t.TempDir()
	p := writePair(t, dir, "site", "one.test")
	s, err := New(Config{Pairs: []Pair{p}, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { s.Watch(ctx, hup); close(done) }()

	writePair(t, dir, "site", "renewed.test") // certbot renews
	waitServed(t, s, "renewed.test", "renewed.test")

	// On a signal (no polling this time).
	cancel()
	<-done
	s2, err := New(Config{Pairs: []Pair{p}, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go s2.Watch(ctx, hup)
	writePair(t, dir, "site", "signalled.test")
	hup <- os.Interrupt
	waitServed(t, s2, "signalled.test", "signalled.test")
}

func TestExpiryMetric(t *testing.T) {
	dir := t.TempDir()
	c, k, err := SelfSigned([]string{"soon.test"}, time.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "k.pem")}
	replaceFile(t, p.Cert, c)
	replaceFile(t, p.Key, k)
	s, err := New(Config{Pairs: []Pair{p}})
	if err != nil {
		t.Fatal(err)
	}
	notAfter := s.cur.Load().pairs[0].cert.Leaf.NotAfter
	s.cfg.Now = func() time.Time { return notAfter.Add(-time.Hour) }
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	want := `# HELP meshcdn_tls_certificate_expiry_seconds Seconds until the served TLS certificate expires (negative: expired), per certificate file and its first name.
# TYPE meshcdn_tls_certificate_expiry_seconds gauge
meshcdn_tls_certificate_expiry_seconds{file="` + p.Cert + `",name="soon.test"} 3600
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// TestExpiryWarnings: expired and soon-expiring certificates are served
// (a failed renewal must not stop a node) and logged as warnings.
func TestExpiryWarnings(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, notAfter time.Time) Pair {
		c, k, err := SelfSigned([]string{name + ".test"}, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		p := Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
		replaceFile(t, p.Cert, c)
		replaceFile(t, p.Key, k)
		return p
	}
	core, logs := observer.New(zap.InfoLevel)
	s, err := New(Config{Logger: zap.New(core), Pairs: []Pair{
		write("fine", time.Now().Add(90*24*time.Hour)),
		write("soon", time.Now().Add(3*24*time.Hour)),
		write("expired", time.Now().Add(-time.Minute)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s, "expired.test"); got != "expired.test" {
		t.Errorf("expired certificate not served: %q", got)
	}
	for msg, n := range map[string]int{"TLS certificate loaded": 1, "TLS certificate expires soon: renew it": 1, "TLS certificate has expired: clients will refuse it; renew it": 1} {
		if got := logs.FilterMessage(msg).Len(); got != n {
			t.Errorf("%d log lines %q, want %d", got, msg, n)
		}
	}
	for _, e := range logs.FilterLevelExact(zap.WarnLevel).All() {
		if e.ContextMap()["cert"] == filepath.Join(dir, "fine.crt") {
			t.Errorf("warning about the fine certificate: %s", e.Message)
		}
	}
}
