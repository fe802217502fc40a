package main

import (
	"context"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cmd/meshcdn/config"
)

// liveSettings are the global settings a reload applies; every other
// global setting changed in the file needs a restart (listen addresses,
// node name, cluster, cache size, purge gate, geo, drain, log). Sites
// (everything per site) are applied live.
var liveSettings = map[string]bool{"default-site": true}

// reloadMetrics counts configuration reloads by result.
type reloadMetrics struct{ ok, failed prometheus.Counter }

func newReloadMetrics(reg prometheus.Registerer) (*reloadMetrics, error) {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshcdn_config_reloads_total",
		Help: "Configuration reloads (SIGHUP) by result: ok (sites swapped in), error (refused; the running configuration stays).",
	}, []string{"result"})
	if err := reg.Register(v); err != nil {
		return nil, err
	}
	return &reloadMetrics{ok: v.WithLabelValues("ok"), failed: v.WithLabelValues("error")}, nil
}

// watchHUP handles SIGHUP: the GeoIP database (passed on to its watcher),
// the configuration file, and the certificates' hook when there is one.
func (n *node) watchHUP(ctx context.Context, geoHup chan<- os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-n.hup:
			select {
			case geoHup <- s:
			default: // a reload is pending already
			}
			_ = n.reloadConfig()
			if n.reloadCerts != nil {
				if err := n.reloadCerts(); err != nil {
					n.log.Error("certificate reload failed; the current certificates stay", zap.Error(err))
				}
			}
		}
	}
}

// reloadConfig re-reads the configuration (file, flags, environment),
// validates it in full and swaps the new sites in at once. A bad
// configuration is refused and the running one stays. Changed settings
// that cannot be applied live are listed as needing a restart and left as
// they are.
func (n *node) reloadConfig() error {
	if n.cfg.reload == nil {
		return nil // no configuration to re-read (demo)
	}
	st, err := n.cfg.reload()
	if err == nil {
		err = n.proxy.SetSites(st.node.Sites)
	}
	if err != nil {
		n.reloads.failed.Inc()
		n.log.Error("configuration reload refused; the running configuration stays",
			zap.String("config", n.cfg.configFile), zap.Error(asUsage(err)))
		return err
	}
	n.reloads.ok.Inc()
	n.log.Info("configuration reloaded", zap.String("config", n.cfg.configFile), zap.Strings("sites", n.proxy.SiteNames()))
	if acmeChanged(n.cfg.ACMESites, st.node.ACMESites) {
		n.log.Warn("tls: acme settings changed; they apply at the next restart (the certificates of the running ones keep serving and renewing)")
	}
	if restart := needRestart(n.cfg.global, st.global); len(restart) > 0 {
		n.log.Warn("configuration changes that need a restart were not applied", zap.Strings("settings", restart))
	}
	return nil
}

// needRestart lists the global settings whose value differs between the
// running settings and the reloaded ones, but cannot change live (by
// flag name; values are not logged: some are secrets).
func needRestart(running, loaded map[string]string) []string {
	var out []string
	for name, v := range loaded {
		if !liveSettings[name] && running[name] != v {
			out = append(out, "--"+name)
		}
	}
	for name := range running {
		if _, ok := loaded[name]; !ok && !liveSettings[name] {
			out = append(out, "--"+name)
		}
	}
	slices.Sort(out)
	return out
}

// asUsage makes configuration errors a *usageError (exit status 2), one
// problem a line.
func asUsage(err error) error {
	var es config.Errors
	if e, ok := err.(config.Errors); ok {
		es = e
	} else {
		return err
	}
	lines := make([]string, len(es))
	list := make([]error, len(es))
	for i, e := range es {
		lines[i], list[i] = e.Error(), e
	}
	return &usageError{msg: strings.Join(lines, "\n"), list: list}
}
