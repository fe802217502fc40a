package store

// Kind names what a purge selects, for metric labels, logs and the purge
// history: "all", "key", "url", "mixed" (keys and URLs), or "before" (only
// a Before time).
func (p Purge) Kind() string {
	switch {
	case p.All:
		return "all"
	case len(p.Keys) > 0 && len(p.URLs) > 0:
		return "mixed"
	case len(p.Keys) > 0:
		return "key"
	case len(p.URLs) > 0:
		return "url"
	}
	return "before"
}
