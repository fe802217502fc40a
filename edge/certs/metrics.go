package certs

import "github.com/prometheus/client_golang/prometheus"

var expiryDesc = prometheus.NewDesc(
	"meshcdn_tls_certificate_expiry_seconds",
	"Seconds until the served TLS certificate expires (negative: expired), per certificate file and its first name.",
	[]string{"file", "name"}, nil)

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

// Collect implements prometheus.Collector: the seconds to expiry of every
// certificate now serving, computed at scrape time.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	now := s.cfg.Now()
	for _, l := range s.cur.Load().pairs {
		name := ""
		if len(l.names) > 0 {
			name = l.names[0]
		}
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue,
			expirySeconds(l.cert.Leaf.NotAfter, now), l.pair.Cert, name)
	}
}
