package store

import "iter"

// The primary-key maps and the surrogate-key index are keyed by the 64-bit
// maphash of the string (computed once per operation; the low byte picks
// the shard), so probing and deleting compare integers and never touch the
// key bytes except to confirm a hit. A string whose hash collides with
// another stored string's goes to a small overflow map keyed by the string.

type primaryMap struct {
	m    map[uint64]*variants
	over map[string]*variants
}

func (pm *primaryMap) get(h uint64, p string) *variants {
	if v := pm.m[h]; v != nil && v.primary == p {
		return v
	}
	if pm.over != nil {
		return pm.over[p]
	}
	return nil
}

func (pm *primaryMap) set(h uint64, v *variants) {
	if pm.over != nil {
		if _, ok := pm.over[v.primary]; ok {
			pm.over[v.primary] = v
			return
		}
	}
	if cur := pm.m[h]; cur == nil || cur.primary == v.primary {
		pm.m[h] = v
		return
	}
	if pm.over == nil {
		pm.over = map[string]*variants{}
	}
	pm.over[v.primary] = v
}

func (pm *primaryMap) del(h uint64, p string) {
	if v := pm.m[h]; v != nil && v.primary == p {
		delete(pm.m, h)
		return
	}
	if pm.over != nil {
		delete(pm.over, p)
		if len(pm.over) == 0 {
			pm.over = nil
		}
	}
}

func (pm *primaryMap) len() int { return len(pm.m) + len(pm.over) }

func (pm *primaryMap) all() iter.Seq[*variants] {
	return func(yield func(*variants) bool) {
		for _, v := range pm.m {
			if !yield(v) {
				return
			}
		}
		for _, v := range pm.over {
			if !yield(v) {
				return
			}
		}
	}
}

type keyIndex struct {
	m    map[uint64]*keySet
	over map[string]*keySet
}

func (ki *keyIndex) get(h uint64, k string) *keySet {
	if set := ki.m[h]; set != nil && set.key == k {
		return set
	}
	if ki.over != nil {
		return ki.over[k]
	}
	return nil
}

// add stores a new set (its key is not indexed yet).
func (ki *keyIndex) add(set *keySet) {
	if ki.m[set.hash] == nil {
		ki.m[set.hash] = set
		return
	}
	if ki.over == nil {
		ki.over = map[string]*keySet{}
	}
	ki.over[set.key] = set
}

func (ki *keyIndex) del(set *keySet) {
	if ki.m[set.hash] == set {
		delete(ki.m, set.hash)
		return
	}
	delete(ki.over, set.key)
	if len(ki.over) == 0 {
		ki.over = nil
	}
}

func (ki *keyIndex) len() int { return len(ki.m) + len(ki.over) }

func (ki *keyIndex) all() iter.Seq[*keySet] {
	return func(yield func(*keySet) bool) {
		for _, set := range ki.m {
			if !yield(set) {
				return
			}
		}
		for _, set := range ki.over {
			if !yield(set) {
				return
			}
		}
	}
}
