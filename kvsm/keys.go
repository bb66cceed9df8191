package kvsm

import (
	"math"
	"strconv"
)

func cmdDel(c *execCtx, args [][]byte) Reply {
	var n int64
	for _, key := range args[1:] {
		if c.del(key) {
			n++
		}
	}
	return IntReply(n)
}

// cmdExists serves EXISTS: the number of arguments naming a live
// key (repeats count again).
func cmdExists(c *execCtx, args [][]byte) Reply {
	var n int64
	for _, key := range args[1:] {
		if _, ok := c.lookup(key); ok {
			n++
		}
	}
	return IntReply(n)
}

// cmdTouch is TOUCH: EXISTS that counts as an access of each key.
func cmdTouch(c *execCtx, args [][]byte) Reply {
	var n int64
	for _, key := range args[1:] {
		if it, ok := c.lookup(key); ok {
			c.touch(c.db, &it)
			n++
		}
	}
	return IntReply(n)
}

func cmdType(c *execCtx, args [][]byte) Reply {
	it, ok := c.lookup(args[1])
	if !ok {
		return StatusReply("none")
	}
	return StatusReply(it.kind().typeName())
}

func cmdRename(c *execCtx, args [][]byte) Reply   { return c.rename(args[1], args[2], false) }
func cmdRenameNX(c *execCtx, args [][]byte) Reply { return c.rename(args[1], args[2], true) }

func (c *execCtx) rename(src, dst []byte, nx bool) Reply {
	it, ok := c.lookup(src)
	if !ok {
		return ErrorReply(errNoSuchKey)
	}
	if string(src) == string(dst) {
		if nx {
			return IntReply(0)
		}
		return ReplyOK
	}
	if _, exists := c.lookup(dst); exists {
		if nx {
			return IntReply(0)
		}
		c.del(dst)
	}
	c.removeItem(c.db, it)
	c.put(c.db, it.withKey(dst))
	if nx {
		return IntReply(1)
	}
	return ReplyOK
}

func cmdCopy(c *execCtx, args [][]byte) Reply {
	dstDB := c.db
	replace := false
	for j := 3; j < len(args); j++ {
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "db") && j+1 < len(args):
			idx, ok := parseInt(args[j+1])
			if !ok || idx < math.MinInt32 || idx > math.MaxInt32 {
				return ErrorReply(errNotInt)
			}
			if idx < 0 || idx >= int64(len(c.s.dbs)) {
				return ErrorReply(errDBRange)
			}
			dstDB = c.s.dbs[idx]
			j++
		default:
			return ErrorReply(errSyntax)
		}
	}
	src, dst := args[1], args[2]
	if dstDB == c.db && string(src) == string(dst) {
		return ErrorReply("ERR source and destination objects are the same")
	}
	it, ok := c.lookup(src)
	if !ok {
		return IntReply(0)
	}
	if old, exists := c.lookupIn(dstDB, dst); exists {
		if !replace {
			return IntReply(0)
		}
		c.removeItem(dstDB, old)
	}
	var cp item
	if it.obj() == nil {
		cp = newStringItem(dst, it.str(), it.expireAtMs) // an allocation has one owner (see cmdAppend)
	} else {
		// Both trees share nodes copy-on-write from here on; the
		// source is first made current so that Copy never touches a
		// tree a snapshot may be reading.
		src := c.mutableObject(&it)
		cp = newObjectItem(&object{kind: src.kind, epoch: c.s.epoch, key: string(dst), hash: src.hash.Copy(), bytes: src.bytes, payload: src.payload}, it.expireAtMs)
	}
	c.put(dstDB, cp)
	return IntReply(1)
}

// Expire-family option flags (Redis 7).
const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

func cmdExpire(c *execCtx, args [][]byte) Reply {
	return c.expireGeneric(args, "expire", true, true)
}
func cmdPExpire(c *execCtx, args [][]byte) Reply {
	return c.expireGeneric(args, "pexpire", false, true)
}
func cmdExpireAt(c *execCtx, args [][]byte) Reply {
	return c.expireGeneric(args, "expireat", true, false)
}
func cmdPExpireAt(c *execCtx, args [][]byte) Reply {
	return c.expireGeneric(args, "pexpireat", false, false)
}

// expireGeneric is Redis's expireGenericCommand.
func (c *execCtx) expireGeneric(args [][]byte, name string, seconds, relative bool) Reply {
	flags := 0
	for _, opt := range args[3:] {
		switch {
		case eqFold(opt, "nx"):
			flags |= expNX
		case eqFold(opt, "xx"):
			flags |= expXX
		case eqFold(opt, "gt"):
			flags |= expGT
		case eqFold(opt, "lt"):
			flags |= expLT
		default:
			return ErrorReply("ERR Unsupported option " + string(opt))
		}
	}
	if flags&expNX != 0 && flags&(expXX|expGT|expLT) != 0 {
		return ErrorReply("ERR NX and XX, GT or LT options at the same time are not compatible")
	}
	if flags&expGT != 0 && flags&expLT != 0 {
		return ErrorReply("ERR GT and LT options at the same time are not compatible")
	}
	when, ok := parseInt(args[2])
	if !ok {
		return ErrorReply(errNotInt)
	}
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			return *invalidExpire(name)
		}
		when *= 1000
	}
	if relative {
		if when > math.MaxInt64-c.nowMs {
			return *invalidExpire(name)
		}
		when += c.nowMs
	}
	it, found := c.lookup(args[1])
	if !found {
		return IntReply(0)
	}
	cur := it.expireAtMs
	switch {
	case flags&expNX != 0 && cur != 0,
		flags&expXX != 0 && cur == 0,
		flags&expGT != 0 && (cur == 0 || when <= cur),
		flags&expLT != 0 && cur != 0 && when >= cur:
		return IntReply(0)
	}
	if when <= c.nowMs {
		c.removeItem(c.db, it)
		c.s.expired.Add(1)
		return IntReply(1)
	}
	it.expireAtMs = when
	c.put(c.db, it)
	return IntReply(1)
}

func cmdTTL(c *execCtx, args [][]byte) Reply         { return c.ttl(args[1], false, false) }
func cmdPTTL(c *execCtx, args [][]byte) Reply        { return c.ttl(args[1], true, false) }
func cmdExpireTime(c *execCtx, args [][]byte) Reply  { return c.ttl(args[1], false, true) }
func cmdPExpireTime(c *execCtx, args [][]byte) Reply { return c.ttl(args[1], true, true) }

// ttl is Redis's ttlGenericCommand: -2 no key, -1 no deadline.
func (c *execCtx) ttl(key []byte, ms, abs bool) Reply {
	it, ok := c.lookupRead(key)
	if !ok {
		return IntReply(-2)
	}
	if it.expireAtMs == 0 {
		return IntReply(-1)
	}
	v := it.expireAtMs
	if !abs {
		v = max(v-c.nowMs, 0)
	}
	if !ms {
		// Rounded to the nearest second without overflowing near
		// math.MaxInt64 (PEXPIREAT k 9223372036854775807 is accepted).
		v = v/1000 + (v%1000+500)/1000
	}
	return IntReply(v)
}

func cmdPersist(c *execCtx, args [][]byte) Reply {
	it, ok := c.lookup(args[1])
	if !ok || it.expireAtMs == 0 {
		return IntReply(0)
	}
	it.expireAtMs = 0
	c.put(c.db, it)
	return IntReply(1)
}

// keysReplyMax bounds the reply of KEYS and of one SCAN call so that a
// single command cannot build an unbounded reply in memory.
const keysReplyMax = 1 << 24

func cmdKeys(c *execCtx, args [][]byte) Reply {
	pattern := args[1]
	if !hasGlob(pattern) {
		if it, ok := c.lookup(pattern); ok {
			return Reply{Kind: ReplyArray, Elems: []Reply{BulkReply([]byte(it.key()))}}
		}
		return Reply{Kind: ReplyArray, Elems: []Reply{}}
	}
	all := len(pattern) == 1 && pattern[0] == '*'
	elems := []Reply{}
	c.db.keys.Scan(func(it item) bool {
		if expired(&it, c.nowMs) {
			return true
		}
		if all || globMatch(pattern, []byte(it.key())) {
			elems = append(elems, BulkReply([]byte(it.key())))
		}
		return len(elems) < keysReplyMax
	})
	return Reply{Kind: ReplyArray, Elems: elems}
}

// parseCursor parses a SCAN cursor as Redis does with strtoul: decimal
// digits with an optional sign ("-1" wraps to 2^64-1), no spaces, no
// overflow; an empty string is 0.
func parseCursor(b []byte) (uint64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	v, ok := parseDigits(b)
	if !ok {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// scanOptions are SCAN's and HSCAN's options.
type scanOptions struct {
	match    []byte // nil: everything
	count    int
	typeName []byte // nil: any type
}

func parseScanOptions(args [][]byte, allowType bool) (scanOptions, *Reply) {
	o := scanOptions{count: 10}
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			r := ErrorReply(errSyntax)
			return o, &r
		}
		switch {
		case eqFold(args[i], "count"):
			n, ok := parseInt(args[i+1])
			if !ok {
				r := ErrorReply(errNotInt)
				return o, &r
			}
			if n < 1 {
				r := ErrorReply(errSyntax)
				return o, &r
			}
			o.count = int(min(n, keysReplyMax))
		case eqFold(args[i], "match"):
			o.match = args[i+1]
			if len(o.match) == 1 && o.match[0] == '*' {
				o.match = nil
			}
		case allowType && eqFold(args[i], "type"):
			o.typeName = args[i+1]
		default:
			r := ErrorReply(errSyntax)
			return o, &r
		}
	}
	return o, nil
}

// scanReply builds the two-element SCAN reply.
func scanReply(next uint64, elems []Reply) Reply {
	var buf [20]byte
	cur := strconv.AppendUint(buf[:0], next, 10)
	return Reply{Kind: ReplyArray, Elems: []Reply{
		BulkReply(cloneBytes(cur)),
		{Kind: ReplyArray, Elems: elems},
	}}
}

// cmdScan walks the keyspace in (order, key) order. The cursor is the order
// of the next key plus one (0 ends the walk), so a key present for the whole
// walk is returned at least once whatever is added or removed meanwhile: a
// call never stops inside a run of keys with equal order.
func cmdScan(c *execCtx, args [][]byte) Reply {
	cursor, ok := parseCursor(args[1])
	if !ok {
		return ErrorReply(errInvalidCursor)
	}
	opts, errR := parseScanOptions(args[2:], true)
	if errR != nil {
		return *errR
	}
	var start uint64
	if cursor > 0 {
		start = cursor - 1
	}
	elems := []Reply{}
	var next uint64
	visited := 0
	lastOrder := uint64(0)
	c.db.keys.Ascend(item{order: start}, func(it item) bool {
		if visited >= opts.count && it.order != lastOrder {
			next = it.order + 1
			return false
		}
		visited++
		lastOrder = it.order
		if expired(&it, c.nowMs) {
			return true
		}
		if opts.match != nil && !globMatch(opts.match, []byte(it.key())) {
			return true
		}
		if opts.typeName != nil && !eqFold(opts.typeName, it.kind().typeName()) {
			return true
		}
		elems = append(elems, BulkReply([]byte(it.key())))
		return true
	})
	return scanReply(next, elems)
}

// randomKeyTriesMax bounds how many random positions RANDOMKEY probes for a
// live key before walking on from the last one.
const randomKeyTriesMax = 100

func cmdRandomKey(c *execCtx, args [][]byte) Reply {
	n := c.db.keys.Len()
	if n == 0 {
		return ReplyNilValue
	}
	for range randomKeyTriesMax {
		it, ok := c.db.keys.GetAt(int(c.next() % uint64(n)))
		if ok && !expired(&it, c.nowMs) {
			return BulkReply([]byte(it.key()))
		}
	}
	var found []byte
	c.db.keys.Scan(func(it item) bool {
		if !expired(&it, c.nowMs) {
			found = []byte(it.key())
			return false
		}
		return true
	})
	if found == nil {
		return ReplyNilValue
	}
	return BulkReply(found)
}

func cmdDBSize(c *execCtx, args [][]byte) Reply {
	return IntReply(int64(c.db.keys.Len()))
}

func flushArgsOK(args [][]byte) bool {
	if len(args) > 2 {
		return false
	}
	return len(args) == 1 || eqFold(args[1], "sync") || eqFold(args[1], "async")
}

func cmdFlushDB(c *execCtx, args [][]byte) Reply {
	if !flushArgsOK(args) {
		return ErrorReply(errSyntax)
	}
	c.db.keys = newKeyTree()
	c.db.expires = newDeadlineTree()
	c.db.mem, c.db.payload = 0, 0
	return ReplyOK
}

func cmdFlushAll(c *execCtx, args [][]byte) Reply {
	if !flushArgsOK(args) {
		return ErrorReply(errSyntax)
	}
	for _, d := range c.s.dbs {
		d.keys = newKeyTree()
		d.expires = newDeadlineTree()
		d.mem, d.payload = 0, 0
	}
	return ReplyOK
}

func cmdSwapDB(c *execCtx, args [][]byte) Reply {
	a, ok := parseInt(args[1])
	if !ok || a < math.MinInt32 || a > math.MaxInt32 {
		return ErrorReply("ERR invalid first DB index")
	}
	b, ok := parseInt(args[2])
	if !ok || b < math.MinInt32 || b > math.MaxInt32 {
		return ErrorReply("ERR invalid second DB index")
	}
	n := int64(len(c.s.dbs))
	if a < 0 || a >= n || b < 0 || b >= n {
		return ErrorReply(errDBRange)
	}
	// Swap contents, not the database structs, so that counters published
	// for other goroutines follow at the next publish.
	da, db := c.s.dbs[a], c.s.dbs[b]
	da.keys, db.keys = db.keys, da.keys
	da.expires, db.expires = db.expires, da.expires
	da.mem, db.mem = db.mem, da.mem
	da.payload, db.payload = db.payload, da.payload
	return ReplyOK
}

// purgeExpiredName is the internal command of active expiry.
const purgeExpiredName = "purgeexpired"

// PurgeExpiredCommand builds the command the leader proposes to remove keys
// that ExpiredKeys reported. Unlike DEL it removes a key only if it is still
// past its deadline at the entry's time, so a key written again meanwhile
// survives. Clients may send it too: it has no visible effect but counters.
func PurgeExpiredCommand(db int, keys [][]byte) Command {
	args := make([][]byte, 0, len(keys)+1)
	args = append(args, []byte(purgeExpiredName))
	args = append(args, keys...)
	return Command{DB: db, Args: args}
}

// cmdPurgeExpired replies with the number of keys removed.
func cmdPurgeExpired(c *execCtx, args [][]byte) Reply {
	var n int64
	for _, key := range args[1:] {
		it, ok := c.db.keys.Get(probe(key))
		if ok && expired(&it, c.nowMs) {
			c.removeItem(c.db, it)
			c.s.expired.Add(1)
			n++
		}
	}
	return IntReply(n)
}
