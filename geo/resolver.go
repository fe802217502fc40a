package geo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// DefaultPollInterval is how often Watch checks the database file for a
// change when ResolverConfig.PollInterval is zero.
const DefaultPollInterval = 5 * time.Second

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// DBPath is the MaxMind DB file; "" uses the embedded database.
	DBPath string
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded are
	// believed (see ParsePrefixes). Empty: the socket peer is always the
	// client.
	TrustedProxies []netip.Prefix
	// ProxyHeader picks the one header trusted proxies append to:
	// HeaderXForwardedFor (the default, "") or HeaderForwarded. The other
	// header is ignored: a proxy passes it through from the client.
	ProxyHeader string
	// PollInterval is how often Watch looks at DBPath's size, modification
	// time and identity; 0 means DefaultPollInterval, negative disables
	// polling (SIGHUP still reloads).
	PollInterval time.Duration
	Logger       *zap.Logger           // nil: no logging
	Registerer   prometheus.Registerer // nil: metrics are not registered
}

// Resolver finds a request's client address and its location. It is safe
// for concurrent use; Reload swaps the database atomically under running
// lookups.
type Resolver struct {
	path     string
	trusted  trustSet
	header   string
	interval time.Duration
	log      *zap.Logger

	db atomic.Pointer[DB]

	mu   sync.Mutex  // serialises Reload
	seen os.FileInfo // the file as last loaded or rejected

	reloads      prometheus.Counter
	reloadErrors prometheus.Counter
	buildTime    prometheus.Gauge
}

// NewResolver opens the database (DBPath, or the embedded one) and registers
// the metrics meshcdn_geoip_reloads_total, meshcdn_geoip_reload_errors_total
// and meshcdn_geoip_database_build_timestamp_seconds.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	switch cfg.ProxyHeader {
	case "", HeaderForwarded, HeaderXForwardedFor:
	default:
		return nil, fmt.Errorf("geo: unknown proxy header %q (want %q or %q; empty means %[3]q)", cfg.ProxyHeader, HeaderForwarded, HeaderXForwardedFor)
	}
	var trusted []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, errors.New("geo: invalid trusted proxy prefix")
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		trusted = append(trusted, p.Masked())
	}
	r := &Resolver{
		path:     cfg.DBPath,
		trusted:  newTrustSet(trusted),
		header:   cfg.ProxyHeader,
		interval: cfg.PollInterval,
		log:      cfg.Logger,
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshcdn_geoip_reloads_total",
			Help: "GeoIP database reloads that replaced the database in use.",
		}),
		reloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshcdn_geoip_reload_errors_total",
			Help: "GeoIP database reloads rejected (bad, truncated or unreadable file); the previous database stayed in use.",
		}),
		buildTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshcdn_geoip_database_build_timestamp_seconds",
			Help: "Build time (metadata build_epoch) of the GeoIP database in use, Unix seconds.",
		}),
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.interval == 0 {
		r.interval = DefaultPollInterval
	}
	var d *DB
	var err error
	if r.path == "" {
		d, err = Embedded()
	} else {
		r.seen, _ = os.Stat(r.path)
		d, err = Open(r.path)
	}
	if err != nil {
		return nil, err
	}
	r.db.Store(d)
	r.buildTime.Set(float64(d.Info().BuildTime.Unix()))
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.reloads, r.reloadErrors, r.buildTime} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("geo: register metrics: %w", err)
			}
		}
	}
	info := d.Info()
	r.log.Info("geoip database loaded",
		zap.String("path", r.describePath()),
		zap.String("type", info.Type),
		zap.String("schema", info.Schema),
		zap.Time("build_time", info.BuildTime),
		zap.Int("trusted_proxies", len(trusted)))
	return r, nil
}

func (r *Resolver) describePath() string {
	if r.path == "" {
		return "(embedded)"
	}
	return r.path
}

// DB returns the database in use.
func (r *Resolver) DB() *DB { return r.db.Load() }

// ClientIP returns the client's address: the socket peer (remoteAddr as in
// http.Request.RemoteAddr, "ip:port" or "[ipv6]:port"), unless the peer is a
// trusted proxy; then the right-most address of the proxy header that is not
// a trusted proxy (see ResolverConfig.ProxyHeader for which header). The walk
// from the right stops at the last trusted hop — which is then the answer —
// when a hop is "unknown", an obfuscated identifier, or does not parse, after
// MaxHops hops, and when all hops are trusted. IPv4-mapped IPv6 addresses
// come back as IPv4, without zone. An unparseable remoteAddr gives the zero
// Addr.
func (r *Resolver) ClientIP(remoteAddr string, h http.Header) netip.Addr {
	return clientIP(parseRemoteAddr(remoteAddr), h, &r.trusted, r.header)
}

// TrustedPeer reports whether the socket peer remoteAddr is one of the
// trusted proxies (whose forwarding headers are believed).
func (r *Resolver) TrustedPeer(remoteAddr string) bool {
	peer := parseRemoteAddr(remoteAddr)
	return peer.IsValid() && !r.trusted.empty() && r.trusted.contains(peer)
}

// Resolve returns ClientIP and its location (Unknown for both codes when the
// address is invalid, special or not in the database).
func (r *Resolver) Resolve(remoteAddr string, h http.Header) (netip.Addr, Location) {
	ip := r.ClientIP(remoteAddr, h)
	return ip, r.db.Load().Lookup(ip)
}

// Lookup returns the location of ip in the database in use.
func (r *Resolver) Lookup(ip netip.Addr) Location { return r.db.Load().Lookup(ip) }

// Reload re-reads DBPath. A file that cannot be read, is not a valid MaxMind
// DB or has no country data is rejected: the error is logged, counted in
// meshcdn_geoip_reload_errors_total and returned, and the database in use
// stays. A good file replaces it atomically; lookups running on the old
// database finish on it (it is never closed; the garbage collector frees it).
// With the embedded database (no DBPath) Reload does nothing.
func (r *Resolver) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.path == "" {
		r.log.Info("geoip reload requested, but the embedded database is in use; nothing to reload")
		return nil
	}
	st, statErr := os.Stat(r.path)
	r.seen = st
	var d *DB
	err := statErr
	if err == nil {
		d, err = Open(r.path)
	} else {
		err = fmt.Errorf("geo: open database: %w", err)
	}
	if err != nil {
		r.reloadErrors.Inc()
		cur := r.db.Load().Info()
		r.log.Error("geoip database reload failed; keeping the database in use",
			zap.String("path", r.path),
			zap.Error(err),
			zap.String("current_type", cur.Type),
			zap.Time("current_build_time", cur.BuildTime))
		return err
	}
	r.db.Store(d)
	r.reloads.Inc()
	info := d.Info()
	r.buildTime.Set(float64(info.BuildTime.Unix()))
	r.log.Info("geoip database reloaded",
		zap.String("path", r.path),
		zap.String("type", info.Type),
		zap.String("schema", info.Schema),
		zap.Time("build_time", info.BuildTime),
		zap.Int("bytes", info.Size))
	return nil
}

// changed reports whether DBPath differs (identity, size or modification
// time) from the file last loaded or rejected, so a bad file is reported
// once, not on every poll.
func (r *Resolver) changed() bool {
	st, err := os.Stat(r.path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		// Missing (e.g. mid-replacement): report it when it was there before.
		return r.seen != nil
	}
	prev := r.seen
	return prev == nil || !os.SameFile(prev, st) || prev.Size() != st.Size() || !prev.ModTime().Equal(st.ModTime())
}

// Watch reloads the database on SIGHUP and when DBPath changes on disk
// (polled every PollInterval: a different file, size or modification time;
// a rejected file is not retried until it changes again), until ctx is done.
// Errors are logged and counted by Reload. Run it in its own goroutine. While
// it runs, SIGHUP no longer terminates the process (signal.Notify).
//
// A SIGHUP that arrives before Watch's goroutine has subscribed still
// terminates the process; a program that must survive one subscribes itself
// (signal.Notify) before it loads the database and hands the channel to
// WatchSignals.
func (r *Resolver) Watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	r.WatchSignals(ctx, hup)
}

// WatchSignals is Watch with the reload signals read from hup, which the
// caller subscribed (signal.Notify) and stops (signal.Stop) itself: every
// value received reloads the database. Polling is as in Watch.
func (r *Resolver) WatchSignals(ctx context.Context, hup <-chan os.Signal) {
	var tick <-chan time.Time
	if r.path != "" && r.interval > 0 {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		tick = t.C
	}
	r.watch(ctx, hup, tick)
}

func (r *Resolver) watch(ctx context.Context, hup <-chan os.Signal, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("geoip reload on SIGHUP")
			_ = r.Reload()
		case <-tick:
			if r.changed() {
				r.log.Info("geoip database file changed", zap.String("path", r.path))
				_ = r.Reload()
			}
		}
	}
}
