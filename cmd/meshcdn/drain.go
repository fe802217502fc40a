package main

import (
	"os"
	"time"

	"go.uber.org/zap"
)

// drain stops the node the way a load balancer expects, after the stop
// signal first: /readyz answers 503 at once while both listeners serve on
// for DrainDelay (health checks take the node out of rotation), then the
// listeners close and requests in flight get up to ShutdownTimeout to
// finish, then the node leaves the cluster (it receives purges until then).
// A second signal on sigs ends the process at once, with status 1.
func (n *node) drain(first os.Signal, sigs <-chan os.Signal) error {
	n.draining.Store(true)
	n.log.Info("shutting down: draining (readyz answers 503)",
		zap.String("signal", first.String()),
		zap.Duration("drain_delay", n.cfg.DrainDelay), zap.Duration("drain_timeout", n.cfg.ShutdownTimeout))
	t := time.NewTimer(n.cfg.DrainDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case s := <-sigs:
		return n.abort(s)
	case err := <-n.served:
		n.log.Error("listener failed while draining", zap.Error(err))
	}
	stopped := make(chan struct{})
	go func() { n.stop(); close(stopped) }()
	select {
	case <-stopped:
		return nil
	case s := <-sigs:
		return n.abort(s)
	}
}

// abort is the answer to a second stop signal: exit now, whatever is in
// flight.
func (n *node) abort(s os.Signal) error {
	n.log.Warn("second signal: exiting at once", zap.String("signal", s.String()))
	_ = n.log.Sync()
	return &failure{code: 1}
}
