package store

import "strings"

// The surrogate-key index: key → the objects tagged with it, in the shape of
// Varnish's xkey (a head per key listing its objects, each object listing
// its heads, so purging a key walks one list and unlinking an object costs
// O(its keys)), held in structures the garbage collector does not scan:
//
//   - Every stored object has a slot id (uint32) in the slot table
//     (Store.slots, the one pointer per object the store's own structures
//     hold); the index and the eviction queues name objects by slot id.
//   - Each distinct key is interned to a key id: a map from its 64-bit hash
//     to the id (map[uint64]uint32 holds no pointers, so the collector
//     skips it, as bigcache and fastcache rely on), and a slice of
//     pointer-free keySets indexed by id.
//   - A set's posting list (the slots it tags) is inline for a key that
//     tags one object (most keys: a user's or an item's own key); a key
//     tagging more has a []uint32 in lists, the only pointer per such key.
//   - Each object keeps, per distinct key, a keyLink (key id, position in
//     the posting list, index into its Keys): swap-remove on unlink, fixing
//     the moved entry's link, with no map lookup.
//
// A set in the hash-keyed map holds no string: its key is its first
// object's. An emptied set has no name and is taken over by the next key
// with its hash; keys whose hash collides with a live set's go to a small
// overflow map keyed by the string. All under Store.mu.

type keySet struct {
	hash    uint64
	n       uint32 // objects tagged
	one     uint32 // the posting list while it has one entry and no list
	list    uint32 // index into keyIndex.lists (0: none)
	pending bool   // emptied and queued for the reaper
	over    bool   // indexed in the overflow map
}

type keyLink struct {
	key uint32 // key id
	pos uint32 // index into the key's posting list
	k   int32  // index into the object's Keys
}

type keyIndex struct {
	ids      map[uint64]uint32 // hash → key id
	over     map[string]uint32 // key → id, for keys colliding with a live set's hash
	overKeys map[uint32]string // id → key of the sets in over
	sets     []keySet          // by id; sets[0] is unused
	freeIDs  []uint32
	lists    [][]uint32 // posting lists of keys tagging more than one object; lists[0] unused
	freeList []uint32
	empty    int // sets with no objects, waiting to be reaped
}

func (ki *keyIndex) init() {
	ki.ids = map[uint64]uint32{}
	ki.sets = make([]keySet, 1)
	ki.lists = make([][]uint32, 1)
}

// at is the slot at position pos of set id.
func (ki *keyIndex) at(id, pos uint32) uint32 {
	set := &ki.sets[id]
	if set.list == 0 {
		return set.one
	}
	return ki.lists[set.list][pos]
}

func (ki *keyIndex) put(id, pos, slot uint32) {
	set := &ki.sets[id]
	if set.list == 0 {
		set.one = slot
		return
	}
	ki.lists[set.list][pos] = slot
}

// push appends slot to the posting list of id; it returns its position.
func (ki *keyIndex) push(id, slot uint32) uint32 {
	set := &ki.sets[id]
	pos := set.n
	switch {
	case set.n == 0 && set.list == 0:
		set.one = slot
	case set.list == 0:
		l := make([]uint32, 2, 4)
		l[0], l[1] = set.one, slot
		set.one = 0
		if n := len(ki.freeList); n > 0 {
			set.list = ki.freeList[n-1]
			ki.freeList = ki.freeList[:n-1]
			ki.lists[set.list] = l
		} else {
			set.list = uint32(len(ki.lists))
			ki.lists = append(ki.lists, l)
		}
	default:
		ki.lists[set.list] = append(ki.lists[set.list], slot)
	}
	set.n++
	return pos
}

// pop drops the last entry of id's posting list.
func (ki *keyIndex) pop(id uint32) {
	set := &ki.sets[id]
	set.n--
	if set.list == 0 {
		set.one = 0
		return
	}
	l := ki.lists[set.list][:set.n]
	switch {
	case set.n == 0:
		ki.lists[set.list] = nil
		ki.freeList = append(ki.freeList, set.list)
		set.list = 0
		return
	case cap(l) > 64 && len(l) < cap(l)/4:
		l = append([]uint32(nil), l...) // give memory back after a big purge
	}
	ki.lists[set.list] = l
}

// len is the number of keys that tag at least one object.
func (ki *keyIndex) len() int { return len(ki.ids) + len(ki.over) - ki.empty }

// keyName is the key of set id: the overflow map's copy, else its first
// object's; "" for an empty set of the hash-keyed map.
func (s *Store) keyName(id uint32) string {
	set := &s.index.sets[id]
	if set.over {
		return s.index.overKeys[id]
	}
	if set.n == 0 {
		return ""
	}
	o := s.slots[s.index.at(id, 0)]
	for _, l := range o.links {
		if l.key == id {
			return o.Keys[l.k]
		}
	}
	return ""
}

// keyID returns the id of k's set (possibly empty), or 0.
func (s *Store) keyID(h uint64, k string) uint32 {
	ki := &s.index
	id := ki.ids[h]
	if id != 0 && ki.sets[id].n > 0 && s.keyName(id) == k {
		return id
	}
	if ki.over != nil {
		if o := ki.over[k]; o != 0 {
			return o
		}
	}
	if id != 0 && ki.sets[id].n == 0 {
		return id // empty: whichever key comes with its hash takes it
	}
	return 0
}

// newKey interns k (not indexed yet) and returns its id.
func (s *Store) newKey(h uint64, k string) uint32 {
	ki := &s.index
	var id uint32
	if n := len(ki.freeIDs); n > 0 {
		id = ki.freeIDs[n-1]
		ki.freeIDs = ki.freeIDs[:n-1]
	} else {
		id = uint32(len(ki.sets))
		ki.sets = append(ki.sets, keySet{})
	}
	ki.sets[id] = keySet{hash: h}
	if ki.ids[h] == 0 {
		ki.ids[h] = id
		return id
	}
	if ki.over == nil {
		ki.over = map[string]uint32{}
		ki.overKeys = map[uint32]string{}
	}
	k = strings.Clone(k) // its own copy: k may be a view into an object's block
	ki.over[k] = id
	ki.overKeys[id] = k
	ki.sets[id].over = true
	return id
}

// delKey removes the empty set id from the maps and frees its id.
func (s *Store) delKey(id uint32) {
	ki := &s.index
	set := &ki.sets[id]
	if set.over {
		delete(ki.over, ki.overKeys[id])
		delete(ki.overKeys, id)
		if len(ki.over) == 0 {
			ki.over, ki.overKeys = nil, nil
		}
	} else if ki.ids[set.hash] == id {
		delete(ki.ids, set.hash)
	}
	*set = keySet{}
	ki.freeIDs = append(ki.freeIDs, id)
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
		id := s.keyID(h, k)
		if id == 0 {
			id = s.newKey(h, k)
		} else if s.index.sets[id].n == 0 {
			s.index.empty-- // revived before the reaper got to it
		}
		ki := int32(i)
		if at != nil {
			ki = at[k]
		}
		// The link first: keyName of a set whose first object is o reads it.
		o.links[i] = keyLink{key: id, k: ki}
		o.links[i].pos = s.index.push(id, o.slot)
	}
	s.keys.Store(int64(s.index.len()))
}

func (s *Store) unindexLocked(o *Object) {
	if len(o.links) == 0 {
		return
	}
	ki := &s.index
	for _, l := range o.links {
		id := l.key
		last := ki.sets[id].n - 1
		if l.pos != last {
			moved := ki.at(id, last)
			ki.put(id, l.pos, moved)
			for j, ml := range s.slots[moved].links {
				if ml.key == id {
					s.slots[moved].links[j].pos = l.pos
					break
				}
			}
		}
		ki.pop(id)
		if last == 0 {
			ki.empty++
			if set := &ki.sets[id]; !set.pending {
				set.pending = true
				s.reap.sets = append(s.reap.sets, id)
			}
		}
	}
	o.links = nil
	o.linkBuf = [2]keyLink{}
	s.keys.Store(int64(s.index.len()))
}
