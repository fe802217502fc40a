package store

// The surrogate-key index: key → the objects tagged with it.
//
// Each key's set is a dense slice of (object, link number); each object
// keeps, per distinct key, a pointer to the set and its position in it. So
// adding and removing an object is O(its keys) with no map lookups on
// removal (swap-remove, fixing the moved entry's position), and purging a
// key walks one slice. All under Store.mu.

type keySet struct {
	key     string // only in sets of the overflow map (see name)
	hash    uint64
	refs    []keyRef
	one     [1]keyRef // refs of a key tagging one object (most keys): no second allocation
	pending bool      // queued for the reaper
}

type keyRef struct {
	o *Object
	i int32 // index into o.links
}

type keyLink struct {
	set *keySet
	pos int32 // index into set.refs
	k   int32 // index into the object's Keys
}

// name is the set's key. A set in the hash-keyed map holds no string of
// its own (that would be one more heap object per key, or pin the packed
// block of the object that brought the key): its key is its first
// object's. An empty set of that map has no name, and is taken over by
// the next key with its hash.
func (set *keySet) name() string {
	if len(set.refs) == 0 {
		return set.key
	}
	r := set.refs[0]
	return r.o.Keys[r.o.links[r.i].k]
}

func (s *Store) indexLocked(o *Object, keys []string) {
	if len(keys) == 0 {
		o.links = nil
		return
	}
	if len(keys) <= len(o.linkBuf) {
		o.links = o.linkBuf[:len(keys)]
	} else {
		o.links = make([]keyLink, len(keys))
	}
	var at map[string]int32 // index in o.Keys, when keys is not o.Keys
	if len(keys) != len(o.Keys) {
		at = make(map[string]int32, len(keys))
		for j := len(o.Keys) - 1; j >= 0; j-- {
			at[o.Keys[j]] = int32(j)
		}
	}
	for i, k := range keys {
		h := s.hash(k)
		set := s.index.get(h, k)
		if set == nil {
			set = &keySet{hash: h}
			set.refs = set.one[:0]
			s.index.add(set, k)
		} else if len(set.refs) == 0 {
			s.index.empty-- // revived before the reaper got to it
		}
		ki := int32(i)
		if at != nil {
			ki = at[k]
		}
		o.links[i] = keyLink{set: set, pos: int32(len(set.refs)), k: ki}
		set.refs = append(set.refs, keyRef{o: o, i: int32(i)})
		if len(set.refs) == 2 && &set.refs[0] != &set.one[0] {
			set.one[0] = keyRef{} // moved out: keep no object alive
		}
	}
	s.keys.Store(int64(s.index.len()))
}

func (s *Store) unindexLocked(o *Object) {
	if len(o.links) == 0 {
		return
	}
	for _, l := range o.links {
		set := l.set
		last := int32(len(set.refs) - 1)
		if l.pos != last {
			moved := set.refs[last]
			set.refs[l.pos] = moved
			moved.o.links[moved.i].pos = l.pos
		}
		set.refs[last] = keyRef{}
		set.refs = set.refs[:last]
		switch {
		case last == 0:
			s.index.empty++
			if !set.pending {
				set.pending = true
				s.reap.sets = append(s.reap.sets, set)
			}
		case cap(set.refs) > 64 && int(last) < cap(set.refs)/4:
			set.refs = append([]keyRef(nil), set.refs...)
		}
	}
	o.links = nil
	o.linkBuf = [2]keyLink{}
	s.keys.Store(int64(s.index.len()))
}
