package certs

import (
	"os"
	"time"
)

// fileStamp is what Watch compares to notice a changed file: the file
// itself (a renewal that renames a new file into place or swaps a symlink,
// as cert-manager's mounted secrets do), its size and its modification
// time. A file that cannot be read has info nil.
type fileStamp struct {
	path string
	info os.FileInfo
}

func stampAll(pairs []Pair) []fileStamp {
	out := make([]fileStamp, 0, 2*len(pairs))
	for _, p := range pairs {
		for _, path := range [...]string{p.Cert, p.Key} {
			st, _ := os.Stat(path)
			out = append(out, fileStamp{path: path, info: st})
		}
	}
	return out
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return os.SameFile(a.info, b.info) && a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime())
}

// changed reports whether any file differs from the last load's stamps.
func (s *Store) changed() bool {
	now := stampAll(s.cfg.Pairs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range now {
		if !now[i].same(s.seen[i]) {
			return true
		}
	}
	return false
}

// expirySeconds is the time left until notAfter, in seconds (negative once
// expired).
func expirySeconds(notAfter, now time.Time) float64 {
	return notAfter.Sub(now).Seconds()
}
