package purgegate

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/meshcdn/meshcdn/store"
)

// LocalOrigin is the origin name in the ids of purges applied by Local.
const LocalOrigin = "local"

// Local is the purge path of a node without a cluster (tests, embedding):
// it applies purges to one store and stamps them with ids of the cluster's
// shape, origin/boot/sequence ("local/1733312345678901234/7"), boot being
// when the Local was made. Safe for concurrent use.
type Local struct {
	st   Purger
	boot string
	seq  atomic.Uint64
}

// LocalResult is what Local.Purge reports.
type LocalResult struct {
	ID     string // "local/<boot>/<seq>"
	Seq    uint64
	Purged int // objects removed (or marked, if soft)
}

// Purger is what Local needs of a store: *store.Store, or any cache tier
// with the same purge semantics.
type Purger interface {
	Purge(p store.Purge) int
}

// NewLocal returns the local purge path of st.
func NewLocal(st Purger) *Local {
	return &Local{st: st, boot: strconv.FormatInt(time.Now().UnixNano(), 10)}
}

// Purge applies p to the store.
func (l *Local) Purge(p store.Purge) LocalResult {
	seq := l.seq.Add(1)
	return LocalResult{
		ID:     LocalOrigin + "/" + l.boot + "/" + strconv.FormatUint(seq, 10),
		Seq:    seq,
		Purged: l.st.Purge(p),
	}
}
