package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/api"
	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cluster/autotls"
	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/edge/certs"
	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// nodeConfig is everything one node needs; serve fills it from flags, demo
// three times.
type nodeConfig struct {
	Name, Region  string
	Listen, Admin string // HOST:PORT
	Origin        *url.URL

	HTTPSListen string         // HOST:PORT; "" = no HTTPS
	TLSCerts    []certPair     // HTTPS certificates, chosen by SNI; the first is the default
	DataDir     string         // --data-dir: state kept across restarts ("" = none)
	ACMESites   []autotls.Site // sites whose certificates come from ACME (acme.go)
	acmeTiming  autotls.Timing // zero: the defaults (tests shorten them)

	CacheSize, MaxObjectSize int64
	DefaultTTL               time.Duration
	DefaultSWR, DefaultSIE   time.Duration // stale windows when the origin gives none
	HonorClientCacheControl  bool
	StoreCloseDelimited      bool
	ViaVersion               bool // Via carries the version (--via-version)
	OriginMaxConns           int  // 0 = edge.DefaultMaxOriginConns
	OriginQueue              int  // 0 = edge.DefaultOriginQueue
	ClientBodyDeadline       time.Duration
	ClientBodyTimeout        time.Duration
	ClientBodyMinRate        int64  // bytes/s; 0 = the edge's default
	ClientBodyBuffer         int64  // 0 = the edge's default
	MaxVariants              int    // per URL; 0 = the store's default
	GeoCountryHeader         string // "" = edge.DefaultCountryHeader
	GeoContinentHeader       string
	OriginTimeout            time.Duration
	PassCookie               *regexp.Regexp
	VaryGeo                  []string
	siteSettings

	// Sites, when set, are the edge's sites (a configuration file's);
	// else the one site the fields above describe.
	Sites []*edge.Site

	// reload re-reads the settings on SIGHUP (serve); nil = nothing to
	// re-read (demo). global are the global settings the node started
	// with, by flag: a reload that changes one reports it needs a restart.
	reload     func() (*serveSettings, error)
	global     map[string]string
	configFile string

	PurgeToken     string
	PurgeAllow     []netip.Prefix
	PurgeWait      time.Duration
	TrustedProxies []netip.Prefix
	ProxyHeader    string // geo.HeaderXForwardedFor (also "") or geo.HeaderForwarded
	GeoIPDB        string

	GossipHost      string
	GossipPort      int
	AdvertiseHost   string
	AdvertisePort   int
	Join            []string
	GossipKeys      [][]byte
	IsolationBound  time.Duration
	DrainDelay      time.Duration // serving on with /readyz 503 after a stop signal
	ShutdownTimeout time.Duration // then the longest wait for requests in flight (--drain-timeout)

	IsolationUnready time.Duration // /readyz 503 after hearing from no peer this long (0 = off)

	ShieldSecret  []byte        // --shield-secret; nil: derived from the gossip keys
	ShieldTimeout time.Duration // 0 = edge.DefaultShieldTimeout
}

// node is one running meshcdn node: store, geo resolver, cluster member,
// edge proxy and admin API.
type node struct {
	cfg      nodeConfig
	log      *zap.Logger
	store    *store.Store
	registry *prometheus.Registry
	cluster  *cluster.Node
	proxy    *edge.Proxy
	edgeSrv  *http.Server
	adminSrv *http.Server
	edgeAddr string // actual listen addresses
	admAddr  string
	cancel   context.CancelFunc
	hup      chan os.Signal // SIGHUP: reload the GeoIP database and the configuration
	served   chan error     // first Serve error
	draining atomic.Bool    // a stop signal came: /readyz answers 503
	reloads  *reloadMetrics

	// reloadCerts, if set, re-reads the HTTPS certificates on SIGHUP.
	reloadCerts func() error

	// HTTPS (https.go); nil and "" without it.
	httpsSrv  *http.Server
	certs     *certs.Store
	httpsAddr string
	acme      *autotls.Manager // nil without tls: acme sites (acme.go)
}

// testHookStartNode, if set, runs first in startNode (tests: a SIGHUP
// during startup).
var testHookStartNode func()

// startNode binds the listeners, starts every part and serves. Errors that
// come from the configuration are *usageError; every error names the flag
// it concerns. On error everything started so far is released.
func startNode(cfg nodeConfig, log *zap.Logger) (_ *node, err error) {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if testHookStartNode != nil {
		testHookStartNode()
	}
	if err := shieldSecretMissing(cfg); err != nil {
		return nil, err
	}
	// n is not the named result: the cleanup below must still see it
	// after a "return nil, err".
	n := &node{cfg: cfg, log: log, served: make(chan error, 3)}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	// Listeners first (edge, admin, gossip): a port in use is reported
	// before anything is loaded or joined.
	edgeLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, listenError("--listen", cfg.Listen, err)
	}
	cleanup = append(cleanup, func() { edgeLn.Close() })
	adminLn, err := net.Listen("tcp", cfg.Admin)
	if err != nil {
		return nil, listenError("--admin", cfg.Admin, err)
	}
	cleanup = append(cleanup, func() { adminLn.Close() })
	httpsLn, err := listenHTTPS(cfg)
	if err != nil {
		return nil, err
	}
	if httpsLn != nil {
		cleanup = append(cleanup, func() { httpsLn.Close() })
	}
	gossipAddr := net.JoinHostPort(cfg.GossipHost, strconv.Itoa(cfg.GossipPort))
	gossipTr, err := cluster.NewNetTransport(cfg.GossipHost, cfg.GossipPort, log.Named("cluster"))
	if err != nil {
		return nil, listenError("--gossip", gossipAddr, err)
	}
	cleanup = append(cleanup, func() { _ = gossipTr.Shutdown() })
	n.edgeAddr, n.admAddr = edgeLn.Addr().String(), adminLn.Addr().String()
	loopback := isLoopbackListener(adminLn)
	if cfg.PurgeToken == "" && !loopback {
		return nil, usagef("--admin %s is not loopback-only: set --purge-token (or MESHCDN_PURGE_TOKEN), or bind --admin to 127.0.0.1", cfg.Admin)
	}

	n.registry = prometheus.NewRegistry()
	n.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
	)

	n.store = store.New(store.Config{MaxBytes: cfg.CacheSize, MaxObjectBytes: cfg.MaxObjectSize, MaxVariants: cfg.MaxVariants})
	cleanup = append(cleanup, n.store.Close)
	if err := n.registry.Register(store.NewCollector(n.store)); err != nil {
		return nil, fmt.Errorf("store metrics: %w", err)
	}

	// SIGHUP reloads the GeoIP database, the configuration and the
	// certificates (see watchHUP): subscribe before loading them, so that
	// none is lost and none takes the default action (terminate) in
	// between. (runServe and runDemo hold SIGHUP from their start.)
	n.hup = make(chan os.Signal, 1)
	signal.Notify(n.hup, syscall.SIGHUP)
	cleanup = append(cleanup, func() { signal.Stop(n.hup) })
	if n.certs, err = loadCerts(cfg, log, n.registry); err != nil {
		return nil, err
	}
	resolver, err := geo.NewResolver(geo.ResolverConfig{
		DBPath: cfg.GeoIPDB, TrustedProxies: cfg.TrustedProxies, ProxyHeader: cfg.ProxyHeader,
		Logger: log.Named("geo"), Registerer: n.registry,
	})
	if err != nil {
		return nil, usagef("--geoip-db: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	cleanup = append(cleanup, cancel)
	geoHup := make(chan os.Signal, 1)
	go resolver.WatchSignals(ctx, geoHup)
	n.watchCerts(ctx)
	if n.reloads, err = newReloadMetrics(n.registry); err != nil {
		return nil, fmt.Errorf("reload metrics: %w", err)
	}

	warnOpenGossip(log, cfg)
	n.cluster, err = cluster.Start(cluster.Config{
		NodeName: cfg.Name, Region: cfg.Region,
		BindAddr: cfg.GossipHost, BindPort: gossipTr.Port(), Transport: gossipTr,
		AdvertiseAddr: cfg.AdvertiseHost, AdvertisePort: cfg.AdvertisePort,
		Join: cfg.Join, Keys: cfg.GossipKeys, IsolationBound: cfg.IsolationBound,
		HTTPAddr:  advertisedAddr(n.edgeAddr, cfg),
		AdminAddr: advertisedAddr(n.admAddr, cfg),
		Logger:    log.Named("cluster"), Registerer: n.registry,
	}, n.store)
	if err != nil {
		return nil, fmt.Errorf("--gossip %s: %w", gossipAddr, err)
	}
	cleanup = append(cleanup, func() { _ = n.cluster.Shutdown() })
	if err := n.startACME(ctx); err != nil {
		return nil, err
	}

	sites := cfg.Sites
	if len(sites) == 0 {
		sites = []*edge.Site{edgeSite(cfg)}
	}
	c := n.cluster
	var shield edge.Shield
	if sv := c.ShieldView(cfg.ShieldSecret); len(sv.Secrets()) > 0 {
		shield = sv
	}
	n.proxy, err = edge.New(edge.Config{
		Sites: sites, Store: n.store, Geo: resolver,
		Logger: log.Named("edge"), Registerer: n.registry,
		Purge: func(ctx context.Context, p store.Purge) (edge.PurgeResult, error) {
			res, err := c.Purge(ctx, p, false)
			return edge.PurgeResult{ID: res.ID, Purged: res.Local}, err
		},
		PurgeToken: cfg.PurgeToken, PurgeAllow: cfg.PurgeAllow, NodeName: cfg.Name,
		ViaVersion:  viaVersion(cfg.ViaVersion),
		StaleCutoff: c.StaleCutoff,
		Shield:      shield, ShieldTimeout: cfg.ShieldTimeout,
	})
	if err != nil {
		return nil, usagef("edge: %v", err)
	}
	cleanup = append(cleanup, n.proxy.Close)
	// SIGHUP from here on: the GeoIP database, the configuration file,
	// the certificates.
	go n.watchHUP(ctx, geoHup)

	adminHandler, err := api.New(api.Config{
		Store: n.store, Cluster: n.cluster, Token: cfg.PurgeToken, AllowNoToken: loopback,
		Logger: log.Named("api"), Registerer: n.registry, Gatherer: n.registry, WaitTimeout: cfg.PurgeWait,
		Draining:         n.draining.Load,
		IsolationUnready: cfg.IsolationUnready,
		TLSStatus:        n.acmeStatus,
	})
	if err != nil {
		return nil, usagef("%v", err)
	}

	errLog := mustStdLog(log.Named("http"))
	var edgeHandler http.Handler = n.proxy
	if n.acme != nil {
		edgeHandler = n.acme.Handler(n.proxy) // HTTP-01 validations
	}
	n.edgeSrv = newEdgeServer(edgeHandler, errLog)
	n.adminSrv = &http.Server{
		Handler:           withPeerFetch(adminHandler, n.proxy),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.PurgeWait + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20, // a Surrogate-Key header of 256 keys of 1 KiB
		ErrorLog:          errLog,
	}
	go n.serve(n.edgeSrv, edgeLn, "edge")
	go n.serve(n.adminSrv, adminLn, "admin")
	n.serveHTTPS(httpsLn)
	log.Info("node started",
		zap.String("node", cfg.Name), zap.String("region", cfg.Region),
		zap.String("edge", n.edgeAddr), zap.String("https", n.httpsAddr), zap.String("admin", n.admAddr),
		zap.String("gossip", n.cluster.Addr()),
		zap.Strings("sites", n.proxy.SiteNames()),
		zap.String("origin", cfg.Origin.String()), zap.Int64("cache_bytes", cfg.CacheSize),
		zap.Bool("purge_token", cfg.PurgeToken != ""))
	return n, nil
}

// listenError reports a listener that could not be bound: the flag, its
// value and the cause (the socket error, without repeating the wrapping).
func listenError(flag, addr string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe
	}
	return fmt.Errorf("%s %s: %w", flag, addr, err)
}

func (n *node) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.served <- fmt.Errorf("%s listener: %w", name, err)
	}
}

// stop drains HTTP first (the node keeps receiving purges while it still
// serves), then leaves the cluster and releases everything.
func (n *node) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	srvs := []*http.Server{n.edgeSrv, n.adminSrv}
	if n.httpsSrv != nil {
		srvs = append(srvs, n.httpsSrv)
	}
	done := make(chan struct{}, len(srvs))
	for _, srv := range srvs {
		go func() {
			if err := srv.Shutdown(ctx); err != nil {
				n.log.Warn("http shutdown", zap.Error(err))
				_ = srv.Close()
			}
			done <- struct{}{}
		}()
	}
	for range srvs {
		<-done
	}
	if err := n.cluster.Leave(3 * time.Second); err != nil {
		n.log.Warn("cluster leave", zap.Error(err))
	}
	if err := n.cluster.Shutdown(); err != nil {
		n.log.Warn("cluster shutdown", zap.Error(err))
	}
	n.proxy.Close()
	n.cancel()
	signal.Stop(n.hup)
	n.store.Close()
	n.log.Info("node stopped", zap.String("node", n.cfg.Name))
}

// gossipOpen reports whether gossip bound to host accepts anyone who can
// reach it: no gossip key, and host not a loopback address. A host name
// other than localhost counts as open (it may resolve to anything).
func gossipOpen(host string, keys [][]byte) bool {
	if len(keys) > 0 {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return !ip.Unmap().IsLoopback()
	}
	return !strings.EqualFold(strings.TrimSuffix(host, "."), "localhost")
}

// warnOpenGossip logs a warning when gossipOpen: the purge token guards the
// admin API and PURGE, not gossip.
func warnOpenGossip(log *zap.Logger, cfg nodeConfig) {
	if !gossipOpen(cfg.GossipHost, cfg.GossipKeys) {
		return
	}
	log.Warn("gossip listens on a non-loopback address without --gossip-key: anyone who can reach the gossip port can join the cluster and purge every node's cache (the purge token does not protect gossip); set --gossip-key (or MESHCDN_GOSSIP_KEY), or firewall the port to the cluster's nodes",
		zap.String("gossip", net.JoinHostPort(cfg.GossipHost, strconv.Itoa(cfg.GossipPort))))
}

// holdSIGHUP subscribes to SIGHUP so that from now on it no longer
// terminates the process (its default action), and returns the function that
// unsubscribes. What it receives is dropped: each node's GeoIP watcher
// subscribes itself, before it loads its database. serve and demo call it
// before anything slow (loading a database, binding, joining).
func holdSIGHUP() (release func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return func() { signal.Stop(c) }
}

func isLoopbackListener(ln net.Listener) bool {
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// advertisedAddr is the address other nodes and operators can use for a
// listener: its own host if specific, else the gossip advertise or bind host.
func advertisedAddr(actual string, cfg nodeConfig) string {
	host, port, err := net.SplitHostPort(actual)
	if err != nil {
		return actual
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		return actual
	}
	for _, h := range []string{cfg.AdvertiseHost, cfg.GossipHost} {
		if ip, err := netip.ParseAddr(h); err == nil && !ip.IsUnspecified() {
			return net.JoinHostPort(h, port)
		}
	}
	// The address gossip advertises when bound to all interfaces.
	if ip, err := sockaddr.GetPrivateIP(); err == nil && ip != "" {
		return net.JoinHostPort(ip, port)
	}
	return actual
}

func buildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "meshcdn_build_info",
		Help:        "Always 1; labels carry the meshcdn version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	g.Set(1)
	return g
}

// mustStdLog adapts log for net/http's ErrorLog (handler panics, TLS and
// accept errors) at warn level.
func mustStdLog(log *zap.Logger) *stdlog.Logger {
	l, err := zap.NewStdLogAt(log, zap.WarnLevel)
	if err != nil {
		return zap.NewStdLog(log)
	}
	return l
}

// viaVersion is the version Via carries: none unless asked (--via-version);
// `meshcdn version` and meshcdn_build_info tell it to operators.
func viaVersion(on bool) string {
	if !on {
		return ""
	}
	return version
}
