package kvsm

import (
	"math"
	"math/big"
	"strconv"

	"github.com/tidwall/btree"
)

// getHash returns key's hash fields for reading (nil when the key is
// missing) or a WRONGTYPE reply.
func (c *execCtx) getHash(key []byte) (*btree.BTreeG[field], *Reply) {
	it, ok := c.lookupRead(key)
	if !ok {
		return nil, nil
	}
	if it.kind() != kindHash {
		r := ErrorReply(errWrongType)
		return nil, &r
	}
	return it.obj().hash, nil
}

// hashForWrite returns key's item and its object, ready to change (created
// when missing unless mustExist).
func (c *execCtx) hashForWrite(key []byte, create bool) (item, *object, *Reply) {
	it, ok := c.lookup(key)
	if !ok {
		if !create {
			return item{}, nil, nil
		}
		it = newObjectItem(&object{kind: kindHash, epoch: c.s.epoch, key: string(key), hash: newFieldTree()}, 0)
		c.put(c.db, it)
		return it, it.obj(), nil
	}
	if it.kind() != kindHash {
		r := ErrorReply(errWrongType)
		return it, nil, &r
	}
	return it, c.mutableObject(&it), nil
}

// touchHash stamps a hash whose fields changed in place as written at this
// entry (WATCH); callers call it only when something did change, as Redis
// signals a modified key only then.
func (c *execCtx) touchHash(it item, o *object) {
	if it.modIndex == c.index {
		return // created, or already stamped, in this entry
	}
	it.setObj(o)
	c.put(c.db, it)
}

func fieldProbe(name []byte) field {
	return field{order: keyOrder(name), name: unsafeString(name)}
}

func newField(name, val []byte) field {
	return field{order: keyOrder(name), name: string(name), val: cloneBytes(val)}
}

// dropIfEmpty deletes a hash key whose last field went away, as Redis does.
func (c *execCtx) dropIfEmpty(it item, o *object) {
	if o.hash.Len() == 0 {
		it.setObj(o)
		c.removeItem(c.db, it)
	}
}

func cmdHSet(c *execCtx, args [][]byte) Reply {
	if len(args)%2 == 1 {
		return wrongArgs("hset")
	}
	return c.hset(args, false)
}

func cmdHMSet(c *execCtx, args [][]byte) Reply {
	if len(args)%2 == 1 {
		return wrongArgs("hmset")
	}
	return c.hset(args, true)
}

func (c *execCtx) hset(args [][]byte, ok bool) Reply {
	it, o, errR := c.hashForWrite(args[1], true)
	if errR != nil {
		return *errR
	}
	defer c.touchHash(it, o)
	var created int64
	for i := 2; i < len(args); i += 2 {
		if c.setField(o, newField(args[i], args[i+1])) {
			created++
		}
	}
	if ok {
		return ReplyOK
	}
	return IntReply(created)
}

func cmdHSetNX(c *execCtx, args [][]byte) Reply {
	// Look first: HSETNX on an existing field must not clone the hash.
	if h, errR := c.getHash(args[1]); errR != nil {
		return *errR
	} else if h != nil {
		if _, exists := h.Get(fieldProbe(args[2])); exists {
			return IntReply(0)
		}
	}
	it, o, errR := c.hashForWrite(args[1], true)
	if errR != nil {
		return *errR
	}
	c.setField(o, newField(args[2], args[3]))
	c.touchHash(it, o)
	return IntReply(1)
}

func cmdHGet(c *execCtx, args [][]byte) Reply {
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	if h == nil {
		return ReplyNilValue
	}
	f, ok := h.Get(fieldProbe(args[2]))
	if !ok {
		return ReplyNilValue
	}
	return Reply{Kind: ReplyBulk, Str: f.val}
}

func cmdHMGet(c *execCtx, args [][]byte) Reply {
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	elems := make([]Reply, len(args)-2)
	for i, name := range args[2:] {
		elems[i] = ReplyNilValue
		if h != nil {
			if f, ok := h.Get(fieldProbe(name)); ok {
				elems[i] = BulkReply(f.val)
			}
		}
	}
	return Reply{Kind: ReplyArray, Elems: elems}
}

func cmdHDel(c *execCtx, args [][]byte) Reply {
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	if h == nil {
		return IntReply(0)
	}
	it, o, errR := c.hashForWrite(args[1], false)
	if errR != nil {
		return *errR
	}
	var n int64
	for _, name := range args[2:] {
		if c.deleteField(o, fieldProbe(name)) {
			n++
		}
	}
	if n > 0 && o.hash.Len() > 0 {
		c.touchHash(it, o)
	}
	c.dropIfEmpty(it, o)
	return IntReply(n)
}

func cmdHGetAll(c *execCtx, args [][]byte) Reply {
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	if h == nil {
		return Reply{Kind: ReplyMap, Elems: []Reply{}}
	}
	elems := make([]Reply, 0, 2*h.Len())
	h.Scan(func(f field) bool {
		elems = append(elems, BulkReply([]byte(f.name)), BulkReply(f.val))
		return true
	})
	return Reply{Kind: ReplyMap, Elems: elems}
}

func (c *execCtx) hashList(key []byte, names bool) Reply {
	h, errR := c.getHash(key)
	if errR != nil {
		return *errR
	}
	if h == nil {
		return Reply{Kind: ReplyArray, Elems: []Reply{}}
	}
	elems := make([]Reply, 0, h.Len())
	h.Scan(func(f field) bool {
		if names {
			elems = append(elems, BulkReply([]byte(f.name)))
		} else {
			elems = append(elems, BulkReply(f.val))
		}
		return true
	})
	return Reply{Kind: ReplyArray, Elems: elems}
}

func cmdHKeys(c *execCtx, args [][]byte) Reply { return c.hashList(args[1], true) }
func cmdHVals(c *execCtx, args [][]byte) Reply { return c.hashList(args[1], false) }

func cmdHExists(c *execCtx, args [][]byte) Reply {
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	if h == nil {
		return IntReply(0)
	}
	if _, ok := h.Get(fieldProbe(args[2])); ok {
		return IntReply(1)
	}
	return IntReply(0)
}

func cmdHLen(c *execCtx, args [][]byte) Reply {
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	if h == nil {
		return IntReply(0)
	}
	return IntReply(int64(h.Len()))
}

func cmdHStrlen(c *execCtx, args [][]byte) Reply {
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	if h == nil {
		return IntReply(0)
	}
	f, _ := h.Get(fieldProbe(args[2]))
	return IntReply(int64(len(f.val)))
}

func cmdHIncrBy(c *execCtx, args [][]byte) Reply {
	delta, ok := parseInt(args[3])
	if !ok {
		return ErrorReply(errNotInt)
	}
	it, o, errR := c.hashForWrite(args[1], true)
	if errR != nil {
		return *errR
	}
	var cur int64
	if f, exists := o.hash.Get(fieldProbe(args[2])); exists {
		if cur, ok = parseInt(f.val); !ok {
			c.dropIfEmpty(it, o)
			return ErrorReply(errHashNotInt)
		}
	}
	if (delta < 0 && cur < 0 && delta < math.MinInt64-cur) ||
		(delta > 0 && cur > 0 && delta > math.MaxInt64-cur) {
		c.dropIfEmpty(it, o)
		return ErrorReply(errOverflow)
	}
	cur += delta
	c.setField(o, field{order: keyOrder(args[2]), name: string(args[2]),
		val: strconv.AppendInt(nil, cur, 10)})
	c.touchHash(it, o)
	return IntReply(cur)
}

func cmdHIncrByFloat(c *execCtx, args [][]byte) Reply {
	incr, ok := parseLongDouble(args[3])
	if !ok {
		return ErrorReply(errNotFloat)
	}
	if incr.IsInf() {
		return ErrorReply("ERR value is NaN or Infinity")
	}
	it, o, errR := c.hashForWrite(args[1], true)
	if errR != nil {
		return *errR
	}
	cur := new(big.Float)
	if f, exists := o.hash.Get(fieldProbe(args[2])); exists {
		if cur, ok = parseLongDouble(f.val); !ok {
			c.dropIfEmpty(it, o)
			return ErrorReply(errHashNotFloat)
		}
	}
	sum, ok := addLongDouble(cur, incr)
	if !ok {
		c.dropIfEmpty(it, o)
		return ErrorReply(errNaN)
	}
	val := formatLongDouble(nil, sum)
	c.setField(o, field{order: keyOrder(args[2]), name: string(args[2]), val: val})
	c.touchHash(it, o)
	return BulkReply(val)
}

// hrandfieldPicksMax bounds the reply of HRANDFIELD with a negative count
// (Redis builds whatever is asked, up to running out of memory).
const hrandfieldPicksMax = 1 << 20

func cmdHRandField(c *execCtx, args [][]byte) Reply {
	if len(args) == 2 {
		h, errR := c.getHash(args[1])
		if errR != nil {
			return *errR
		}
		if h == nil {
			return ReplyNilValue
		}
		f, _ := h.GetAt(int(c.next() % uint64(h.Len())))
		return BulkReply([]byte(f.name))
	}
	count, ok := parseInt(args[2])
	if !ok {
		return ErrorReply(errNotInt)
	}
	withValues := false
	if len(args) == 4 && eqFold(args[3], "withvalues") {
		withValues = true
	} else if len(args) >= 4 {
		return ErrorReply(errSyntax)
	}
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	if h == nil || count == 0 {
		return Reply{Kind: ReplyArray, Elems: []Reply{}}
	}
	n := h.Len()
	// With values, Redis 7 nests [field, value] pairs in RESP3.
	kind := ReplyArray
	if withValues {
		kind = ReplyPairs
	}
	emit := func(elems []Reply, f field) []Reply {
		elems = append(elems, BulkReply([]byte(f.name)))
		if withValues {
			elems = append(elems, BulkReply(f.val))
		}
		return elems
	}
	if count < 0 {
		// Repeats allowed. Bounded, unlike Redis, by keysReplyMax.
		picks := int(min(-(count+1), keysReplyMax-1)) + 1
		elems := make([]Reply, 0, picks)
		for range picks {
			f, _ := h.GetAt(int(c.next() % uint64(n)))
			elems = emit(elems, f)
		}
		return Reply{Kind: kind, Elems: elems}
	}
	elems := []Reply{}
	if count >= int64(n) {
		h.Scan(func(f field) bool {
			elems = emit(elems, f)
			return true
		})
		return Reply{Kind: kind, Elems: elems}
	}
	// A partial Fisher-Yates shuffle of the ranks: count distinct fields.
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := 0; i < int(count); i++ {
		j := i + int(c.next()%uint64(n-i))
		perm[i], perm[j] = perm[j], perm[i]
		f, _ := h.GetAt(perm[i])
		elems = emit(elems, f)
	}
	return Reply{Kind: kind, Elems: elems}
}

func cmdHScan(c *execCtx, args [][]byte) Reply {
	cursor, ok := parseCursor(args[2])
	if !ok {
		return ErrorReply(errInvalidCursor)
	}
	// Redis looks the key up (and checks its type) before it parses the
	// options: HSCAN on a missing key with bad options is an empty page.
	h, errR := c.getHash(args[1])
	if errR != nil {
		return *errR
	}
	elems := []Reply{}
	if h == nil {
		return scanReply(0, elems)
	}
	noValues := false
	rest := args[3:]
	if len(rest) > 0 && eqFold(rest[len(rest)-1], "novalues") && len(rest)%2 == 1 {
		noValues = true
		rest = rest[:len(rest)-1]
	}
	opts, errR := parseScanOptions(rest, false)
	if errR != nil {
		return *errR
	}
	var start uint64
	if cursor > 0 {
		start = cursor - 1
	}
	var next uint64
	visited := 0
	lastOrder := uint64(0)
	h.Ascend(field{order: start}, func(f field) bool {
		if visited >= opts.count && f.order != lastOrder {
			next = f.order + 1
			return false
		}
		visited++
		lastOrder = f.order
		if opts.match != nil && !globMatch(opts.match, []byte(f.name)) {
			return true
		}
		elems = append(elems, BulkReply([]byte(f.name)))
		if !noValues {
			elems = append(elems, BulkReply(f.val))
		}
		return true
	})
	return scanReply(next, elems)
}
