package kvsm

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// item is one key of a database. It is stored by value in the B-tree's
// nodes, so its size is most of a key's cost (node slack multiplies it):
// 40 bytes, down from 80 when it held a key string, a value slice, an
// object pointer and the access data side by side. A string key's access
// data, key and value share one allocation, laid out
//
//	[access: 8 bytes][key: klen bytes][value: vlen bytes]
//
// and ptr points at the key (the access data is just before it); a
// compound value's ptr is its *object, which holds the key and the access
// data. Never build one by hand: newStringItem, stringItemOf,
// newObjectItem and keyItem (a lookup probe, which has no access data) do.
type item struct {
	// order is the key's scan position (keyOrder): the tree is sorted by
	// (order, key) so that a SCAN cursor is just an order value and stays
	// valid across inserts and deletes.
	order uint64
	ptr   unsafe.Pointer // string: the key, then the value; object: *object
	klen  uint32         // key length (strings and probes)
	// vlen is the string value's length in its low 30 bits, with the
	// flags vlenObject and vlenGrown.
	vlen       uint32
	expireAtMs int64 // Unix ms deadline; 0 = none
	// modIndex is the log index of the entry that last wrote the key (0:
	// unknown, from a version-1 snapshot). WATCH compares it; it is part
	// of snapshots so that every replica decides EXEC the same way.
	modIndex uint64
}

// access is a key's access data (access.go), local to this node: not
// replicated, not in snapshots nor in Digest. It lives outside the tree
// (in the key's allocation, or its object) so that reads, which may run
// concurrently under the store's read lock, update it with atomics instead
// of rewriting the item; every access goes through sync/atomic.
type access struct {
	lru uint32 // LRU clock of the last access
	lfu uint32 // LFU minute clock (high 16 bits) and counter (low 8 bits)
}

// accessBytes is the access data's room at the head of a string key's
// allocation.
const accessBytes = 8

const (
	// vlenObject: ptr is an *object (a hash), not key and value bytes.
	vlenObject = 1 << 31
	// vlenGrown: the allocation was made by APPEND with room for
	// grownCap(klen+length) key and value bytes, so APPEND may extend the
	// value in place (past the length: nobody can see those bytes).
	vlenGrown = 1 << 30
	// vlenMask extracts the length: values are below 1 GiB (the largest
	// request is 1 GiB, APPEND and SETRANGE stop at 512 MiB).
	vlenMask = vlenGrown - 1
)

// keyItem is a probe for lookups: key is only viewed, not copied.
func keyItem(order uint64, key string) item {
	return item{order: order, ptr: unsafe.Pointer(unsafe.StringData(key)), klen: uint32(len(key))}
}

// newStringItem builds an item holding a private copy of key and val, in
// one allocation with fresh access data.
func newStringItem(key, val []byte, expireAtMs int64) item {
	buf := make([]byte, accessBytes+len(key)+len(val))
	copy(buf[accessBytes:], key)
	copy(buf[accessBytes+len(key):], val)
	return stringItemOf(buf, len(key), expireAtMs)
}

// stringItemOf makes an item of buf, which holds accessBytes of access
// data, the key's klen bytes and then the value, and which the item owns
// from now on.
func stringItemOf(buf []byte, klen int, expireAtMs int64) item {
	vlen := len(buf) - accessBytes - klen
	if vlen == 0 && klen == 0 {
		// ptr must point inside the allocation, not one past its end.
		buf = make([]byte, accessBytes+1)[:accessBytes]
	}
	return item{
		order:      keyOrder(buf[accessBytes : accessBytes+klen]),
		ptr:        unsafe.Pointer(unsafe.SliceData(buf[accessBytes:cap(buf)])),
		klen:       uint32(klen),
		vlen:       uint32(vlen),
		expireAtMs: expireAtMs,
	}
}

// newObjectItem builds an item for a compound value whose key o holds.
func newObjectItem(o *object, expireAtMs int64) item {
	return item{order: keyOrder([]byte(o.key)), ptr: unsafe.Pointer(o), vlen: vlenObject, expireAtMs: expireAtMs}
}

func (it *item) isObject() bool { return it.vlen&vlenObject != 0 }

// key returns the key; it aliases the item's memory (never changed).
func (it *item) key() string {
	if it.isObject() {
		return (*object)(it.ptr).key
	}
	return unsafe.String((*byte)(it.ptr), int(it.klen))
}

// emptyValue is every empty string value (never written: capacity 0).
var emptyValue = []byte{}

// str returns a string value (nil for an object), capped at its length so
// that an append to it reallocates rather than run into anything.
func (it *item) str() []byte {
	if it.isObject() || it.ptr == nil {
		return nil
	}
	n := int(it.vlen & vlenMask)
	if n == 0 {
		return emptyValue // a pointer one past the allocation is not valid
	}
	v := unsafe.Slice((*byte)(unsafe.Add(it.ptr, it.klen)), n)
	return v[:n:n]
}

// obj returns the compound value, nil for a string.
func (it *item) obj() *object {
	if !it.isObject() {
		return nil
	}
	return (*object)(it.ptr)
}

func (it *item) kind() valueKind {
	if !it.isObject() {
		return kindString
	}
	return it.obj().kind
}

// access returns the key's access data. Not for probes.
func (it *item) access() *access {
	if it.isObject() {
		return &it.obj().acc
	}
	return (*access)(unsafe.Add(it.ptr, -accessBytes))
}

// loadAccess and storeAccess read and write access data atomically.
func (a *access) load() (lru, lfu uint32) {
	return atomic.LoadUint32(&a.lru), atomic.LoadUint32(&a.lfu)
}

func (a *access) store(lru, lfu uint32) {
	atomic.StoreUint32(&a.lru, lru)
	atomic.StoreUint32(&a.lfu, lfu)
}

// copyAccessFrom gives it the access data of from (a rewrite of the same
// key keeps its history).
func (it *item) copyAccessFrom(from *item) { it.access().store(from.access().load()) }

// setObj replaces an object item's object (a copy-on-write clone holding
// the same key).
func (it *item) setObj(o *object) { it.ptr = unsafe.Pointer(o) }

// withStr returns it holding val instead of its value: a new allocation of
// access data, key and value (the old one may be read by a snapshot or a
// reply), the rest of the item kept.
func (it item) withStr(val []byte) item {
	n := newStringItem([]byte(it.key()), val, it.expireAtMs)
	n.order, n.modIndex = it.order, it.modIndex
	n.copyAccessFrom(&it)
	return n
}

// withKey returns it under another key (RENAME): strings get a new
// allocation, objects a copy of the object header.
func (it item) withKey(key []byte) item {
	var n item
	if o := it.obj(); o != nil {
		cp := &object{kind: o.kind, epoch: o.epoch, key: string(key), hash: o.hash, bytes: o.bytes, payload: o.payload}
		n = newObjectItem(cp, it.expireAtMs)
	} else {
		n = newStringItem(key, it.str(), it.expireAtMs)
	}
	n.modIndex = it.modIndex
	n.copyAccessFrom(&it)
	return n
}

// grownCap is the room for key and value bytes of an allocation APPEND
// makes for n of them: the next power of two, so that appends are
// amortised O(1) and the room follows from the length alone (a power of
// two p holds every length in (p/2, p]).
func grownCap(n int) int {
	if n <= 16 {
		return 16
	}
	return 1 << bits.Len(uint(n-1))
}

// withAppended returns it with extra appended to its string value: in
// place past the length when the allocation has room (nobody can see those
// bytes: snapshots and replies hold the shorter length, and the allocation
// belongs to this key alone), else in a new allocation with room to grow.
func (it item) withAppended(extra []byte) item {
	klen, vlen := int(it.klen), int(it.vlen&vlenMask)
	total := klen + vlen + len(extra)
	if it.vlen&vlenGrown != 0 && total <= grownCap(klen+vlen) {
		room := unsafe.Slice((*byte)(it.ptr), grownCap(klen+vlen))
		copy(room[klen+vlen:], extra)
		it.vlen = uint32(vlen+len(extra)) | vlenGrown
		return it
	}
	buf := make([]byte, accessBytes+total, accessBytes+grownCap(total))
	copy(buf, unsafe.Slice((*byte)(unsafe.Add(it.ptr, -accessBytes)), accessBytes+klen+vlen))
	copy(buf[accessBytes+klen+vlen:], extra)
	it.ptr = unsafe.Pointer(&buf[accessBytes])
	it.vlen = uint32(vlen+len(extra)) | vlenGrown
	return it
}
