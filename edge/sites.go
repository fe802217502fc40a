package edge

import (
	"fmt"
	"strings"
)

// siteTable is the proxy's sites by host name. It is never modified once
// built: SetSites swaps in a new one, and a request keeps the site it
// looked up.
type siteTable struct {
	exact map[string]*site // lower-case host → site
	wild  map[string]*site // "example.com" for "*.example.com"
	def   *site            // unknown hosts; nil = 404
	all   []*site
}

// newSiteTable validates sites and builds their table; the metrics of each
// site (by name) are bound here.
func (p *Proxy) newSiteTable(sites []*Site, storeMax int64) (*siteTable, error) {
	if len(sites) == 0 {
		return nil, fmt.Errorf("edge: at least one site is required")
	}
	t := &siteTable{exact: map[string]*site{}, wild: map[string]*site{}}
	names := map[string]bool{}
	for i, in := range sites {
		if in == nil {
			return nil, fmt.Errorf("edge: site %d is nil", i)
		}
		s, err := newSite(*in, storeMax)
		if err != nil {
			return nil, err
		}
		if s.name == "" {
			s.name = fmt.Sprintf("site%d", i)
		}
		if names[s.name] {
			return nil, fmt.Errorf("edge: two sites named %q", s.name)
		}
		names[s.name] = true
		if p.m != nil { // nil: CheckSites
			s.m = p.m.forSite(s.name)
		}
		if len(s.Hosts) == 0 || s.Default {
			if t.def != nil {
				return nil, fmt.Errorf("edge: sites %q and %q are both the default site (no hosts, or Default)", t.def.name, s.name)
			}
			t.def = s
		}
		for _, h := range s.Hosts {
			m, key := t.exact, h
			if strings.HasPrefix(h, "*.") {
				m, key = t.wild, h[2:]
			}
			if other, dup := m[key]; dup {
				return nil, fmt.Errorf("edge: host %q in sites %q and %q", h, other.name, s.name)
			}
			m[key] = s
		}
		t.all = append(t.all, s)
	}
	return t, nil
}

// SetSites validates sites in full and swaps them in at once: requests
// that already chose a site finish with it, later ones see only the new
// sites. On error the current sites stay. Idle connections to the old
// sites' origins are closed; busy ones close when their requests end.
// The fetch budget stays what New computed (at least the store's largest
// object, which bounds every site's).
func (p *Proxy) SetSites(sites []*Site) error {
	t, err := p.newSiteTable(sites, p.store.Config().MaxObjectBytes)
	if err != nil {
		return err
	}
	if err := p.checkShield(t); err != nil {
		return err
	}
	old := p.table.Swap(t)
	for _, s := range old.all {
		s.transport.CloseIdleConnections()
	}
	return nil
}

// SiteNames lists the current sites' names in order.
func (p *Proxy) SiteNames() []string {
	t := p.table.Load()
	out := make([]string, len(t.all))
	for i, s := range t.all {
		out[i] = s.name
	}
	return out
}

// lookup finds host's site: exact, then the longest wildcard, then the
// default. It lower-cases (one allocation) only a host with upper case.
func (t *siteTable) lookup(host string) *site {
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i:], ']') < 0 {
		h = h[:i]
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			h = strings.ToLower(h)
			break
		}
	}
	if s, ok := t.exact[h]; ok {
		return s
	}
	if len(t.wild) > 0 {
		for i := 0; i < len(h); i++ {
			if h[i] == '.' {
				if s, ok := t.wild[h[i+1:]]; ok {
					return s
				}
			}
		}
	}
	return t.def
}

// CheckSites validates sites as New and SetSites would, without a Proxy.
func CheckSites(sites []*Site) error {
	_, err := (&Proxy{}).newSiteTable(sites, 0)
	return err
}
