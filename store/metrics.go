package store

import "github.com/prometheus/client_golang/prometheus"

// NewCollector returns a Prometheus collector of the store's metrics
// (meshcdn_store_*); register it on the node's registry.
func NewCollector(s *Store) prometheus.Collector {
	return &collector{s: s}
}

type collector struct{ s *Store }

var (
	descObjects  = prometheus.NewDesc("meshcdn_store_objects", "Objects (response variants) stored.", nil, nil)
	descBytes    = prometheus.NewDesc("meshcdn_store_bytes", "Bytes counted against the budget: bodies, headers, keys and index overhead.", nil, nil)
	descMaxBytes = prometheus.NewDesc("meshcdn_store_max_bytes", "The byte budget.", nil, nil)
	descKeys     = prometheus.NewDesc("meshcdn_store_surrogate_keys", "Distinct surrogate keys indexed.", nil, nil)
	descEvict    = prometheus.NewDesc("meshcdn_store_evictions_total", "Objects evicted to stay within the byte budget or the variant cap.", nil, nil)
	descExpired  = prometheus.NewDesc("meshcdn_store_expired_total", "Objects removed because they expired.", nil, nil)
	descPurged   = prometheus.NewDesc("meshcdn_store_purged_objects_total", "Objects removed or marked stale by purges.", nil, nil)
	descFenced   = prometheus.NewDesc("meshcdn_store_fenced_total", "Inserts refused by the purge fence.", nil, nil)
	descTooLarge = prometheus.NewDesc("meshcdn_store_too_large_total", "Inserts refused for exceeding the max object size.", nil, nil)
	descPurges   = prometheus.NewDesc("meshcdn_store_purges_total", "Purges applied to the store.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descObjects, descBytes, descMaxBytes, descKeys, descEvict, descExpired, descPurged, descFenced, descTooLarge, descPurges} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descObjects, st.Objects)
	gauge(descBytes, st.Bytes)
	gauge(descMaxBytes, st.MaxBytes)
	gauge(descKeys, st.SurrogateKeys)
	counter(descEvict, st.Evictions)
	counter(descExpired, st.Expired)
	counter(descPurged, st.Purged)
	counter(descFenced, st.Fenced)
	counter(descTooLarge, st.TooLarge)
	counter(descPurges, st.Purges)
}
