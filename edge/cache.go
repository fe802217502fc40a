package edge

import "github.com/meshcdn/meshcdn/store"

// Cache is what the proxy needs of the store that keeps its objects: the
// lookup of a variant, the purge fence taken when a fetch begins, the
// insert it guards, the removal of one replaced object, local purges, and
// the limits (Config: the byte budget and the largest object). *store.Store
// implements it; another tier (a disk-backed one, or a memory tier in front
// of it) implements the same methods with the same guarantees (see the
// store package: Lookup treats expired objects as absent; Insert refuses
// an object a purge after its fence matches; Purge returns how many objects
// it removed or marked).
type Cache interface {
	Lookup(primary string, secondary func(vary []string) string) (o *store.Object, found bool)
	Fence() store.Fence
	Insert(o *store.Object, f store.Fence) error
	Delete(o *store.Object)
	Purge(p store.Purge) int
	Config() store.Config
}

var _ Cache = (*store.Store)(nil)
