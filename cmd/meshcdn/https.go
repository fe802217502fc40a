package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/edge/certs"
)

// certPair names the PEM files of one certificate and its key
// (--tls-cert/--tls-key, tls.certificates in a config file).
type certPair struct{ Cert, Key string }

// httpsFlags are serve's HTTPS flags.
type httpsFlags struct {
	listen        string
	certFs, keyFs repeatedFlag
	// certsElsewhere: certificates come from ACME (tls: acme), so
	// --https needs no --tls-cert.
	certsElsewhere bool
}

// repeatedFlag collects every value of a repeated flag, in order.
type repeatedFlag []string

func (r *repeatedFlag) String() string { return strings.Join(*r, " ") }

func (r *repeatedFlag) Set(v string) error {
	if len(*r) >= certs.MaxPairs {
		return usagef("at most %d values", certs.MaxPairs)
	}
	*r = append(*r, v)
	return nil
}

func addHTTPSFlags(fs *flag.FlagSet, f *httpsFlags) {
	fs.StringVar(&f.listen, "https", "", "HTTPS (HTTP/2 and HTTP/1.1) listen `address`, such as :443 (empty = no HTTPS)")
	fs.Var(&f.certFs, "tls-cert", "PEM certificate (chain) `file` for --https; repeat it for more sites, paired in order with --tls-key; the first is the default for clients that send no known name")
	fs.Var(&f.keyFs, "tls-key", "PEM private key `file` of the --tls-cert at the same position; repeatable")
}

// httpsConfig validates the HTTPS flags into c.
func (f *httpsFlags) httpsConfig(c *nodeConfig) error {
	if len(f.certFs) != len(f.keyFs) {
		return usagef("--tls-cert and --tls-key pair up in order: %d certificates, %d keys", len(f.certFs), len(f.keyFs))
	}
	if f.listen == "" {
		if len(f.certFs) > 0 {
			return usagef("--tls-cert needs --https (the HTTPS listen address)")
		}
		return nil
	}
	if err := parseListenAddr("https", f.listen); err != nil {
		return err
	}
	if len(f.certFs) == 0 && !f.certsElsewhere {
		return usagef("--https needs a certificate: --tls-cert FILE --tls-key FILE, or tls: acme on a site (--tls acme)")
	}
	c.HTTPSListen = f.listen
	c.TLSCerts = nil
	for i := range f.certFs {
		c.TLSCerts = append(c.TLSCerts, certPair{Cert: f.certFs[i], Key: f.keyFs[i]})
	}
	return nil
}

// newEdgeServer is the http.Server of an edge listener, plain or HTTPS:
// the same handler, timeouts and bounds.
func newEdgeServer(h http.Handler, errLog *stdlog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
}

// listenHTTPS binds the HTTPS listener (nil when there is none).
func listenHTTPS(cfg nodeConfig) (net.Listener, error) {
	if cfg.HTTPSListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPSListen)
	if err != nil {
		return nil, listenError("--https", cfg.HTTPSListen, err)
	}
	return ln, nil
}

// loadCerts loads the certificates of the HTTPS listener and exports their
// expiry (nil when there is no HTTPS listener).
func loadCerts(cfg nodeConfig, log *zap.Logger, reg prometheus.Registerer) (*certs.Store, error) {
	if cfg.HTTPSListen == "" || len(cfg.TLSCerts) == 0 {
		return nil, nil // no HTTPS, or only ACME certificates
	}
	pairs := make([]certs.Pair, len(cfg.TLSCerts))
	for i, p := range cfg.TLSCerts {
		pairs[i] = certs.Pair{Cert: p.Cert, Key: p.Key}
	}
	s, err := certs.New(certs.Config{Pairs: pairs, Logger: log.Named("tls")})
	if err != nil {
		return nil, usagef("--tls-cert: %v", err)
	}
	if err := reg.Register(s); err != nil {
		return nil, err
	}
	return s, nil
}

// watchCerts makes SIGHUP (watchHUP) reload the certificates, when there
// are any, and polls their files for changes until ctx is done.
func (n *node) watchCerts(ctx context.Context) {
	if n.certs == nil {
		return
	}
	n.reloadCerts = func() error {
		if err := n.certs.Reload(); err != nil {
			return err // watchHUP logs it
		}
		n.log.Info("TLS certificates reloaded on SIGHUP")
		return nil
	}
	go n.certs.Watch(ctx, nil)
}

// serveHTTPS starts the HTTPS listener: the edge's server settings, TLS
// from the certificate store, HTTP/2 and HTTP/1.1 by ALPN.
func (n *node) serveHTTPS(ln net.Listener) {
	if ln == nil {
		return
	}
	n.httpsSrv = newEdgeServer(n.proxy, handshakeLog(n.log.Named("https")))
	n.httpsSrv.TLSConfig = n.tlsConfig()
	n.httpsSrv.Protocols = edge.ServeProtocols()
	n.httpsAddr = ln.Addr().String()
	go func() {
		if err := n.httpsSrv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.served <- fmt.Errorf("https listener: %w", err)
		}
	}()
}

// handshakeLog is the HTTPS listener's ErrorLog: failed TLS handshakes
// (scanners, clients that give up, old TLS versions) are logged at debug
// level, as an internet-facing listener sees them all day; everything
// else at warn, like the other listeners.
func handshakeLog(log *zap.Logger) *stdlog.Logger {
	return stdlog.New(handshakeWriter{log: log}, "", 0)
}

type handshakeWriter struct{ log *zap.Logger }

func (w handshakeWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		w.log.Debug(msg)
	} else {
		w.log.Warn(msg)
	}
	return len(p), nil
}
