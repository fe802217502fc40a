package geo

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Two versions of a database: the same networks in different countries.
func dbVersionA(t testing.TB) []byte {
	return buildDB(t, dbSpec{dbType: "GeoIP2-Country", epoch: 1700000000, entries: []netEntry{
		{cidr: "81.2.69.0/24", country: "GB", continent: "EU"},
		{cidr: "2001:218::/32", country: "JP", continent: "AS"},
	}})
}

func dbVersionB(t testing.TB) []byte {
	return buildDB(t, dbSpec{dbType: "GeoLite2-Country", epoch: 1800000000, entries: []netEntry{
		{cidr: "81.2.69.0/24", country: "FR", continent: "EU"},
		{cidr: "2001:218::/32", country: "BR", continent: "SA"},
	}})
}

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

type resolverFixture struct {
	r    *Resolver
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
	path string
}

func newFixture(t *testing.T, db []byte, cfg ResolverConfig) *resolverFixture {
	t.Helper()
	f := &resolverFixture{reg: prometheus.NewRegistry()}
	if db != nil {
		f.path = filepath.Join(t.TempDir(), "geo.mmdb")
		writeFileAtomic(t, f.path, db)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	f.logs = logs
	cfg.DBPath = f.path
	cfg.Logger = zap.New(core)
	cfg.Registerer = f.reg
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

func (f *resolverFixture) country(t *testing.T, ip string) string {
	t.Helper()
	return f.r.Lookup(netip.MustParseAddr(ip)).Country
}

func TestResolverEmbedded(t *testing.T) {
	f := newFixture(t, nil, ResolverConfig{TrustedProxies: mustPrefixes(t, "10.0.0.0/8")})
	ip, loc := f.r.Resolve("10.0.0.1:1234", http.Header{"X-Forwarded-For": {"8.8.8.8"}})
	if ip != netip.MustParseAddr("8.8.8.8") || loc != (Location{"US", "NA"}) {
		t.Errorf("got %v %v", ip, loc)
	}
	// Spoofing from an untrusted peer.
	ip, loc = f.r.Resolve("81.2.69.142:1234", http.Header{"X-Forwarded-For": {"8.8.8.8"}})
	if ip != netip.MustParseAddr("81.2.69.142") || loc != (Location{"GB", "EU"}) {
		t.Errorf("got %v %v", ip, loc)
	}
	ip, loc = f.r.Resolve("[::ffff:192.168.1.1]:80", nil)
	if ip != netip.MustParseAddr("192.168.1.1") || loc != unknownLocation {
		t.Errorf("got %v %v", ip, loc)
	}
	ip, loc = f.r.Resolve("garbage", nil)
	if ip.IsValid() || loc != unknownLocation {
		t.Errorf("got %v %v", ip, loc)
	}
	if err := f.r.Reload(); err != nil {
		t.Errorf("reload of the embedded database: %v", err)
	}
	if got := metricValue(t, f.r.buildTime); got != float64(f.r.DB().Info().BuildTime.Unix()) || got == 0 {
		t.Errorf("build timestamp gauge %v", got)
	}
}

// Behind a proxy that appends only X-Forwarded-For (nginx, ALB) and passes a
// client's Forwarded through, the default reads X-Forwarded-For alone: a
// client cannot pick its country with Forwarded: for=..., nor make itself
// unknown with for=unknown. Forwarded is read only when configured.
func TestResolverDefaultIgnoresForwarded(t *testing.T) {
	trusted := mustPrefixes(t, "10.0.0.0/8")
	def := newFixture(t, nil, ResolverConfig{TrustedProxies: trusted})
	for _, fwd := range []string{"for=8.8.8.8", "for=unknown", `for="[2001:4860:4860::8888]"`} {
		h := http.Header{"Forwarded": {fwd}, "X-Forwarded-For": {"81.2.69.142"}}
		ip, loc := def.r.Resolve("10.0.0.1:1234", h)
		if ip != netip.MustParseAddr("81.2.69.142") || loc != (Location{"GB", "EU"}) {
			t.Errorf("default, Forwarded: %s: got %v %v, want 81.2.69.142 GB/EU", fwd, ip, loc)
		}
	}
	fwd := newFixture(t, nil, ResolverConfig{TrustedProxies: trusted, ProxyHeader: HeaderForwarded})
	h := http.Header{"Forwarded": {"for=81.2.69.142"}, "X-Forwarded-For": {"8.8.8.8"}}
	if ip := fwd.r.ClientIP("10.0.0.1:1234", h); ip != netip.MustParseAddr("81.2.69.142") {
		t.Errorf("ProxyHeader Forwarded: got %v", ip)
	}
}

func TestResolverConfigErrors(t *testing.T) {
	if _, err := NewResolver(ResolverConfig{ProxyHeader: "X-Real-IP"}); err == nil {
		t.Error("unknown proxy header accepted")
	}
	if _, err := NewResolver(ResolverConfig{TrustedProxies: []netip.Prefix{{}}}); err == nil {
		t.Error("zero prefix accepted")
	}
	if _, err := NewResolver(ResolverConfig{DBPath: filepath.Join(t.TempDir(), "missing.mmdb")}); err == nil {
		t.Error("missing database accepted")
	}
	reg := prometheus.NewRegistry()
	if _, err := NewResolver(ResolverConfig{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewResolver(ResolverConfig{Registerer: reg}); err == nil {
		t.Error("second registration on one registry did not fail")
	}
	// Mapped trusted prefixes are unmapped.
	r, err := NewResolver(ResolverConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ClientIP("10.1.2.3:1", http.Header{"X-Forwarded-For": {"8.8.8.8"}}); got != netip.MustParseAddr("8.8.8.8") {
		t.Errorf("got %v", got)
	}
}

func TestResolverMetricsRegistered(t *testing.T) {
	f := newFixture(t, nil, ResolverConfig{})
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"meshcdn_geoip_reloads_total", "meshcdn_geoip_reload_errors_total", "meshcdn_geoip_database_build_timestamp_seconds"} {
		if !names[n] {
			t.Errorf("%s not registered", n)
		}
	}
}

func TestReloadNewFileChangesAnswers(t *testing.T) {
	f := newFixture(t, dbVersionA(t), ResolverConfig{})
	if c := f.country(t, "81.2.69.142"); c != "GB" {
		t.Fatalf("before: %s", c)
	}
	writeFileAtomic(t, f.path, dbVersionB(t))
	if err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if c := f.country(t, "81.2.69.142"); c != "FR" {
		t.Errorf("after: %s", c)
	}
	if c := f.country(t, "::ffff:81.2.69.142"); c != "FR" {
		t.Errorf("after (mapped): %s", c)
	}
	if loc := f.r.Lookup(netip.MustParseAddr("2001:218::1")); loc != (Location{"BR", "SA"}) {
		t.Errorf("after (v6): %v", loc)
	}
	if got := metricValue(t, f.r.reloads); got != 1 {
		t.Errorf("reloads_total %v", got)
	}
	if got := metricValue(t, f.r.buildTime); got != 1800000000 {
		t.Errorf("build timestamp %v", got)
	}
	if n := f.logs.FilterMessage("geoip database reloaded").Len(); n != 1 {
		t.Errorf("%d reload log lines", n)
	}
}

func TestReloadBadFileKeepsOld(t *testing.T) {
	good := dbVersionA(t)
	f := newFixture(t, good, ResolverConfig{})
	bad := map[string][]byte{
		"garbage":    []byte("GET / HTTP/1.1\r\n\r\n"),
		"empty":      {},
		"truncated":  dbVersionB(t)[:len(dbVersionB(t))*2/3],
		"corrupt":    corrupt(dbVersionB(t)),
		"no-country": buildDB(t, dbSpec{dbType: "GeoIP2-Country"}),
	}
	n := 0
	for name, b := range bad {
		writeFileAtomic(t, f.path, b)
		err := f.r.Reload()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		n++
		if c := f.country(t, "81.2.69.142"); c != "GB" {
			t.Errorf("%s: answer changed to %s", name, c)
		}
		if got := metricValue(t, f.r.reloadErrors); got != float64(n) {
			t.Errorf("%s: reload_errors_total %v, want %d", name, got, n)
		}
	}
	// Missing file.
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Reload(); err == nil {
		t.Error("missing file accepted")
	}
	n++
	if got := metricValue(t, f.r.reloadErrors); got != float64(n) {
		t.Errorf("reload_errors_total %v, want %d", got, n)
	}
	if got := metricValue(t, f.r.reloads); got != 0 {
		t.Errorf("reloads_total %v", got)
	}
	if got := metricValue(t, f.r.buildTime); got != 1700000000 {
		t.Errorf("build timestamp %v", got)
	}
	// Each rejection is one clear error line naming the file and the cause.
	entries := f.logs.FilterMessage("geoip database reload failed; keeping the database in use").All()
	if len(entries) != n {
		t.Fatalf("%d error lines, want %d", len(entries), n)
	}
	for _, e := range entries {
		m := e.ContextMap()
		if e.Level != zapcore.ErrorLevel || m["path"] != f.path || m["error"] == "" || m["current_type"] != "GeoIP2-Country" {
			t.Errorf("log line %v %v", e.Level, m)
		}
	}
	// And a good file is taken again.
	writeFileAtomic(t, f.path, dbVersionB(t))
	if err := f.r.Reload(); err != nil {
		t.Fatal(err)
	}
	if c := f.country(t, "81.2.69.142"); c != "FR" {
		t.Errorf("after recovery: %s", c)
	}
}

// TestConcurrentLookupsDuringReload: lookups never see a missing or closed
// database while reloads swap it (run with -race).
func TestConcurrentLookupsDuringReload(t *testing.T) {
	a, b := dbVersionA(t), dbVersionB(t)
	f := newFixture(t, a, ResolverConfig{TrustedProxies: mustPrefixes(t, "10.0.0.0/8")})
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	errs := make(chan string, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := http.Header{"X-Forwarded-For": {"8.8.8.8, 81.2.69.142"}}
			for !stop.Load() {
				_, loc := f.r.Resolve("10.0.0.1:80", h)
				if loc.Country != "GB" && loc.Country != "FR" {
					select {
					case errs <- loc.String():
					default:
					}
				}
				lookups.Add(1)
			}
		}()
	}
	for i := 0; i < 40; i++ {
		next := a
		if i%2 == 0 {
			next = b
		}
		if i%5 == 4 {
			next = []byte("broken") // rejected: the current one stays
		}
		writeFileAtomic(t, f.path, next)
		_ = f.r.Reload()
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("lookup during reload answered %s", e)
	}
	if got := metricValue(t, f.r.reloads); got != 32 {
		t.Errorf("reloads_total %v, want 32", got)
	}
	if got := metricValue(t, f.r.reloadErrors); got != 8 {
		t.Errorf("reload_errors_total %v, want 8", got)
	}
	t.Logf("%d lookups during 40 reloads", lookups.Load())
}

// TestWatchPoll drives the watch loop with a hand-fed ticker: a change on
// disk is picked up, an unchanged file is not re-read, a bad file is reported
// once.
func TestWatchPoll(t *testing.T) {
	f := newFixture(t, dbVersionA(t), ResolverConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	tick := make(chan time.Time)
	done := make(chan struct{})
	go func() { f.r.watch(ctx, nil, tick); close(done) }()
	// An unbuffered send returns once the loop took the tick; a second send
	// returns once the first tick has been handled.
	poll := func() { tick <- time.Now(); tick <- time.Now() }

	poll()
	if got := metricValue(t, f.r.reloads); got != 0 {
		t.Fatalf("unchanged file reloaded (%v)", got)
	}
	writeFileAtomic(t, f.path, dbVersionB(t))
	poll()
	if got := metricValue(t, f.r.reloads); got != 1 {
		t.Fatalf("changed file: reloads %v", got)
	}
	if c := f.country(t, "81.2.69.142"); c != "FR" {
		t.Errorf("after poll: %s", c)
	}
	writeFileAtomic(t, f.path, []byte("half-written"))
	poll()
	poll()
	if got := metricValue(t, f.r.reloadErrors); got != 1 {
		t.Errorf("bad file: reload_errors %v, want 1 (reported once)", got)
	}
	if c := f.country(t, "81.2.69.142"); c != "FR" {
		t.Errorf("after bad file: %s", c)
	}
	writeFileAtomic(t, f.path, dbVersionA(t))
	poll()
	if c := f.country(t, "81.2.69.142"); c != "GB" {
		t.Errorf("after fixed file: %s", c)
	}
	// In-place rewrite (same inode) with different content is seen too.
	if err := os.WriteFile(f.path, dbVersionB(t), 0o644); err != nil {
		t.Fatal(err)
	}
	poll()
	if c := f.country(t, "81.2.69.142"); c != "FR" {
		t.Errorf("after in-place rewrite: %s", c)
	}
	cancel()
	<-done
}

func TestWatchHUPChannel(t *testing.T) {
	f := newFixture(t, dbVersionA(t), ResolverConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal)
	done := make(chan struct{})
	go func() { f.r.watch(ctx, hup, nil); close(done) }()
	writeFileAtomic(t, f.path, dbVersionB(t))
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // returns once the first was handled
	if c := f.country(t, "81.2.69.142"); c != "FR" {
		t.Errorf("after SIGHUP: %s", c)
	}
	if got := metricValue(t, f.r.reloads); got < 1 {
		t.Errorf("reloads %v", got)
	}
	cancel()
	<-done
}

// WatchSignals reloads on every value from the caller's channel (which the
// caller subscribed to SIGHUP before loading the database).
func TestWatchSignals(t *testing.T) {
	f := newFixture(t, dbVersionA(t), ResolverConfig{PollInterval: -1})
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal)
	done := make(chan struct{})
	go func() { f.r.WatchSignals(ctx, hup); close(done) }()
	writeFileAtomic(t, f.path, dbVersionB(t))
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // returns once the first was handled
	if c := f.country(t, "81.2.69.142"); c != "FR" {
		t.Errorf("after a value on the channel: %s", c)
	}
	cancel()
	<-done
}

// TestWatchRealSIGHUP sends the process a real SIGHUP.
func TestWatchRealSIGHUP(t *testing.T) {
	// Keep SIGHUP from terminating the test binary should it arrive before
	// Watch has subscribed.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)

	f := newFixture(t, dbVersionA(t), ResolverConfig{PollInterval: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.r.Watch(ctx); close(done) }()
	writeFileAtomic(t, f.path, dbVersionB(t))
	deadline := time.Now().Add(20 * time.Second)
	for f.country(t, "81.2.69.142") != "FR" {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the database")
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestWatchRealPoll runs Watch with a short poll interval.
func TestWatchRealPoll(t *testing.T) {
	f := newFixture(t, dbVersionA(t), ResolverConfig{PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.r.Watch(ctx); close(done) }()
	writeFileAtomic(t, f.path, dbVersionB(t))
	deadline := time.Now().Add(20 * time.Second)
	for f.country(t, "81.2.69.142") != "FR" {
		if time.Now().After(deadline) {
			t.Fatal("file change did not reload the database")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
