package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cmd/meshcdn/demoorigin"
)

const originUsage = `usage: meshcdn origin [flags]

Runs the demo origin alone: a personalisation "user data" API whose events
purge through a node's admin API.

  GET  /v1/users/{id}?company={c}   user data (Surrogate-Key: company/{c} user/{id})
  POST /v1/users/{id}/events        change the user's data, purge user/{id} (wait=all)
  GET  /v1/offers                   offers by continent (Vary: X-Geo-Continent-Code)
  GET  /obj/{id}?size=N             N bytes, Cache-Control: public, max-age=3600

flags:
`

func runOrigin(args []string) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8070", "listen `address`")
	purgeURLs := fs.String("purge-url", "http://127.0.0.1:9080", "admin API `URL[,URL]` of nodes; events purge through the first that answers (empty = no purge)")
	token := fs.String("purge-token", "", "purge token (default $MESHCDN_PURGE_TOKEN)")
	logFormat := fs.String("log-format", "console", "log format: `console|json`")
	logLevel := fs.String("log-level", "info", "log level: `debug|info|warn|error`")
	fs.Usage = func() { fmt.Fprint(fs.Output(), originUsage); printFlags(fs) }
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("origin: unexpected argument %q", rest[0])
	}
	if err := parseListenAddr("listen", *listen); err != nil {
		return err
	}
	urls := splitList(*purgeURLs)
	for _, u := range urls {
		if _, err := checkAdminURL(u); err != nil {
			return usagef("--purge-url: %q is not an http:// or https:// URL", u)
		}
	}
	tok := *token
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "purge-token" })
	if !set {
		tok = os.Getenv("MESHCDN_PURGE_TOKEN")
	}
	if err := checkToken("--purge-token", tok); err != nil {
		return err
	}
	log, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	srv, addr, err := startOrigin(*listen, demoorigin.Config{PurgeURLs: urls, Token: tok, Logger: log.Named("origin")})
	if err != nil {
		return err
	}
	log.Info("demo origin listening", zap.String("addr", addr), zap.Strings("purge_urls", urls))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	stop()
	shutdown(srv)
	return nil
}

// startOrigin serves the demo origin on addr.
func startOrigin(addr string, cfg demoorigin.Config) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("demo origin listener %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           demoorigin.New(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          mustStdLog(cfg.Logger),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("demo origin", zap.Error(err))
		}
	}()
	return srv, ln.Addr().String(), nil
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}
