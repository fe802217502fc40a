package autotls

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	orders      *prometheus.CounterVec // site, result
	messages    *prometheus.CounterVec // direction, result
	validations *prometheus.CounterVec // challenge type answered here
}

// collector exports per-site state computed at scrape time.
type collector struct{ m *Manager }

var (
	descExpiry   = prometheus.NewDesc("meshcdn_acme_certificate_expiry_seconds", "Seconds until the site's ACME certificate expires (absent: none yet).", []string{"site"}, nil)
	descRenew    = prometheus.NewDesc("meshcdn_acme_certificate_renew_seconds", "Seconds until the site's ACME certificate is due for renewal (negative: overdue).", []string{"site"}, nil)
	descFailures = prometheus.NewDesc("meshcdn_acme_order_failures", "Consecutive failed ACME orders of the site by this node (0 after a success).", []string{"site"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descExpiry
	ch <- descRenew
	ch <- descFailures
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	now := c.m.now()
	for _, s := range c.m.Status() {
		if s.NotAfter != nil {
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, s.NotAfter.Sub(now).Seconds(), s.Site)
			ch <- prometheus.MustNewConstMetric(descRenew, prometheus.GaugeValue, s.RenewAt.Sub(now).Seconds(), s.Site)
		}
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(s.Failures), s.Site)
	}
}

func newMetrics(m *Manager, reg prometheus.Registerer) (*metrics, error) {
	mt := &metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_acme_orders_total", Help: "ACME orders placed by this node, by site and result (ok, error).",
		}, []string{"site", "result"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_acme_messages_total", Help: "Certificate-sharing cluster messages, by direction (in, out) and result (ok, refused, malformed, queue_full, error).",
		}, []string{"direction", "result"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_acme_validations_answered_total", Help: "ACME validation requests this node answered, by challenge type.",
		}, []string{"challenge"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{mt.orders, mt.messages, mt.validations, collector{m}} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return mt, nil
}

// Status is one site's certificate as this node sees it (/readyz, /stats).
type Status struct {
	Site      string     `json:"site"`
	Names     []string   `json:"names"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	RenewAt   *time.Time `json:"renew_at,omitempty"`
	Issuer    string     `json:"issuer,omitempty"`
	Ordering  bool       `json:"ordering,omitempty"`
	Failures  int        `json:"failures,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	NextTry   *time.Time `json:"next_try,omitempty"`
	Shared    bool       `json:"shared"` // certificates and challenges are shared with the cluster
}

// Status reports every ACME site.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.sites))
	for _, st := range m.sites {
		s := Status{Site: st.Name, Names: st.names, Ordering: st.ordering, Failures: st.failures, LastError: st.lastErr, Shared: m.share}
		if c := st.cur.Load(); c != nil {
			na, ra := c.notAfter(), c.renewAt
			s.NotAfter, s.RenewAt, s.Issuer = &na, &ra, c.cert.Leaf.Issuer.CommonName
		}
		if !st.nextTry.IsZero() {
			nt := st.nextTry
			s.NextTry = &nt
		}
		out = append(out, s)
	}
	return out
}
