package kvsm

import (
	"math"
	"math/big"
	"strconv"
)

// getString returns key's string value; the Reply is non-nil-kind only when
// the key holds another type (WRONGTYPE).
func (c *execCtx) getString(key []byte) (val []byte, found bool, errReply *Reply) {
	it, ok := c.lookupRead(key)
	if !ok {
		return nil, false, nil
	}
	if it.obj() != nil {
		r := ErrorReply(errWrongType)
		return nil, true, &r
	}
	return it.str(), true, nil
}

func cmdGet(c *execCtx, args [][]byte) Reply {
	val, found, errR := c.getString(args[1])
	if errR != nil {
		return *errR
	}
	if !found {
		return ReplyNilValue
	}
	return Reply{Kind: ReplyBulk, Str: val}
}

// expireFlags are SET's and GETEX's options.
type expireFlags uint16

const (
	flagNX expireFlags = 1 << iota
	flagXX
	flagGet
	flagKeepTTL
	flagPersist
	flagEX
	flagPX
	flagEXAT
	flagPXAT
)

const anyExpire = flagEX | flagPX | flagEXAT | flagPXAT

// parseSetOptions parses args (the options after the fixed arguments) as
// Redis's parseExtendedStringArgumentsOrReply does, for SET (forSet) or
// GETEX. It returns the flags and the expire argument.
func parseSetOptions(args [][]byte, forSet bool) (expireFlags, []byte, bool) {
	var flags expireFlags
	var expire []byte
	for j := 0; j < len(args); j++ {
		opt := args[j]
		hasNext := j+1 < len(args)
		switch {
		case forSet && eqFold(opt, "nx") && flags&flagXX == 0:
			flags |= flagNX
		case forSet && eqFold(opt, "xx") && flags&flagNX == 0:
			flags |= flagXX
		case forSet && eqFold(opt, "get"):
			flags |= flagGet
		case forSet && eqFold(opt, "keepttl") && flags&(flagPersist|anyExpire) == 0:
			flags |= flagKeepTTL
		case !forSet && eqFold(opt, "persist") && flags&(flagKeepTTL|anyExpire) == 0:
			flags |= flagPersist
		case eqFold(opt, "ex") && flags&(flagKeepTTL|flagPersist|flagEXAT|flagPX|flagPXAT) == 0 && hasNext:
			flags |= flagEX
			expire = args[j+1]
			j++
		case eqFold(opt, "px") && flags&(flagKeepTTL|flagPersist|flagEX|flagEXAT|flagPXAT) == 0 && hasNext:
			flags |= flagPX
			expire = args[j+1]
			j++
		case eqFold(opt, "exat") && flags&(flagKeepTTL|flagPersist|flagEX|flagPX|flagPXAT) == 0 && hasNext:
			flags |= flagEXAT
			expire = args[j+1]
			j++
		case eqFold(opt, "pxat") && flags&(flagKeepTTL|flagPersist|flagEX|flagEXAT|flagPX) == 0 && hasNext:
			flags |= flagPXAT
			expire = args[j+1]
			j++
		default:
			return 0, nil, false
		}
	}
	return flags, expire, true
}

// expireAt turns an expire argument into an absolute deadline in ms, with
// Redis's checks (getExpireMillisecondsOrReply). cmdName names the command
// in the error.
func (c *execCtx) expireAt(arg []byte, seconds, relative bool, cmdName string) (int64, *Reply) {
	v, ok := parseInt(arg)
	if !ok {
		r := ErrorReply(errNotInt)
		return 0, &r
	}
	if v <= 0 || (seconds && v > math.MaxInt64/1000) {
		return 0, invalidExpire(cmdName)
	}
	if seconds {
		v *= 1000
	}
	if relative {
		if c.nowMs > 0 && v > math.MaxInt64-c.nowMs {
			return 0, invalidExpire(cmdName)
		}
		v += c.nowMs
	}
	if v <= 0 {
		return 0, invalidExpire(cmdName)
	}
	return v, nil
}

func invalidExpire(cmdName string) *Reply {
	r := ErrorReply("ERR invalid expire time in '" + cmdName + "' command")
	return &r
}

func flagsExpire(c *execCtx, flags expireFlags, expire []byte, cmdName string) (int64, *Reply) {
	switch {
	case flags&flagEX != 0:
		return c.expireAt(expire, true, true, cmdName)
	case flags&flagPX != 0:
		return c.expireAt(expire, false, true, cmdName)
	case flags&flagEXAT != 0:
		return c.expireAt(expire, true, false, cmdName)
	case flags&flagPXAT != 0:
		return c.expireAt(expire, false, false, cmdName)
	}
	return 0, nil
}

func cmdSet(c *execCtx, args [][]byte) Reply {
	flags, expire, ok := parseSetOptions(args[3:], true)
	if !ok {
		return ErrorReply(errSyntax)
	}
	deadline, errR := flagsExpire(c, flags, expire, "set")
	if errR != nil {
		return *errR
	}
	return c.setGeneric(args[1], args[2], flags, deadline)
}

// setGeneric is Redis's setGenericCommand once the options are known.
func (c *execCtx) setGeneric(key, val []byte, flags expireFlags, deadlineMs int64) Reply {
	reply := ReplyOK
	if flags&flagGet != 0 {
		old, found, errR := c.getString(key)
		if errR != nil {
			return *errR
		}
		if !found {
			reply = ReplyNilValue
		} else {
			reply = Reply{Kind: ReplyBulk, Str: old}
		}
	}
	if flags&(flagNX|flagXX|flagKeepTTL) == 0 && (deadlineMs == 0 || deadlineMs > c.nowMs) {
		// The plain SET: put replaces whatever is there (deadline index
		// included) in one tree walk.
		c.put(c.db, newStringItem(key, val, deadlineMs))
		return reply
	}
	prev, found := c.lookup(key)
	if (flags&flagNX != 0 && found) || (flags&flagXX != 0 && !found) {
		if flags&flagGet != 0 {
			return reply
		}
		return ReplyNilValue
	}
	if flags&flagKeepTTL != 0 && found {
		deadlineMs = prev.expireAtMs
	}
	if deadlineMs != 0 && deadlineMs <= c.nowMs {
		// Already past its deadline (EXAT/PXAT in the past): the new value
		// would never be visible, so it is as if set and expired at once.
		if found {
			c.removeItem(c.db, prev)
		}
		c.s.expired.Add(1)
		return reply
	}
	c.put(c.db, newStringItem(key, val, deadlineMs))
	return reply
}

func cmdSetNX(c *execCtx, args [][]byte) Reply {
	if _, found := c.lookup(args[1]); found {
		return IntReply(0)
	}
	c.put(c.db, newStringItem(args[1], args[2], 0))
	return IntReply(1)
}

func cmdSetEX(c *execCtx, args [][]byte) Reply {
	deadline, errR := c.expireAt(args[2], true, true, "setex")
	if errR != nil {
		return *errR
	}
	return c.setGeneric(args[1], args[3], 0, deadline)
}

func cmdPSetEX(c *execCtx, args [][]byte) Reply {
	deadline, errR := c.expireAt(args[2], false, true, "psetex")
	if errR != nil {
		return *errR
	}
	return c.setGeneric(args[1], args[3], 0, deadline)
}

func cmdGetSet(c *execCtx, args [][]byte) Reply {
	return c.setGeneric(args[1], args[2], flagGet, 0)
}

func cmdGetDel(c *execCtx, args [][]byte) Reply {
	val, found, errR := c.getString(args[1])
	if errR != nil {
		return *errR
	}
	if !found {
		return ReplyNilValue
	}
	c.del(args[1])
	return Reply{Kind: ReplyBulk, Str: val}
}

func cmdGetEx(c *execCtx, args [][]byte) Reply {
	flags, expire, ok := parseSetOptions(args[2:], false)
	if !ok {
		return ErrorReply(errSyntax)
	}
	it, found := c.lookupRead(args[1])
	if !found {
		return ReplyNilValue
	}
	if it.obj() != nil {
		return ErrorReply(errWrongType)
	}
	deadline, errR := flagsExpire(c, flags, expire, "getex")
	if errR != nil {
		return *errR
	}
	reply := Reply{Kind: ReplyBulk, Str: it.str()}
	switch {
	case deadline != 0 && deadline <= c.nowMs:
		c.removeItem(c.db, it)
		c.s.expired.Add(1)
	case deadline != 0:
		it.expireAtMs = deadline
		c.put(c.db, it)
	case flags&flagPersist != 0 && it.expireAtMs != 0:
		it.expireAtMs = 0
		c.put(c.db, it)
	}
	return reply
}

func cmdMGet(c *execCtx, args [][]byte) Reply {
	elems := make([]Reply, len(args)-1)
	for i, key := range args[1:] {
		it, ok := c.lookupRead(key)
		if !ok || it.obj() != nil {
			elems[i] = ReplyNilValue
			continue
		}
		elems[i] = Reply{Kind: ReplyBulk, Str: it.str()}
	}
	return Reply{Kind: ReplyArray, Elems: elems}
}

func cmdMSet(c *execCtx, args [][]byte) Reply {
	if len(args)%2 == 0 {
		return wrongArgs("mset")
	}
	for i := 1; i < len(args); i += 2 {
		c.setGeneric(args[i], args[i+1], 0, 0)
	}
	return ReplyOK
}

func cmdMSetNX(c *execCtx, args [][]byte) Reply {
	if len(args)%2 == 0 {
		return wrongArgs("msetnx")
	}
	for i := 1; i < len(args); i += 2 {
		if _, found := c.lookup(args[i]); found {
			return IntReply(0)
		}
	}
	for i := 1; i < len(args); i += 2 {
		c.setGeneric(args[i], args[i+1], 0, 0)
	}
	return IntReply(1)
}

// incrBy adds delta to key's integer value, keeping its deadline.
func (c *execCtx) incrBy(key []byte, delta int64) Reply {
	it, found := c.lookup(key)
	var cur int64
	if found {
		if it.obj() != nil {
			return ErrorReply(errWrongType)
		}
		v, ok := parseInt(it.str())
		if !ok {
			return ErrorReply(errNotInt)
		}
		cur = v
	}
	if (delta < 0 && cur < 0 && delta < math.MinInt64-cur) ||
		(delta > 0 && cur > 0 && delta > math.MaxInt64-cur) {
		return ErrorReply(errOverflow)
	}
	cur += delta
	var buf [20]byte
	val := strconv.AppendInt(buf[:0], cur, 10)
	if found {
		c.put(c.db, it.withStr(val))
	} else {
		c.put(c.db, newStringItem(key, val, 0))
	}
	return IntReply(cur)
}

func cmdIncr(c *execCtx, args [][]byte) Reply { return c.incrBy(args[1], 1) }
func cmdDecr(c *execCtx, args [][]byte) Reply { return c.incrBy(args[1], -1) }

func cmdIncrBy(c *execCtx, args [][]byte) Reply {
	delta, ok := parseInt(args[2])
	if !ok {
		return ErrorReply(errNotInt)
	}
	return c.incrBy(args[1], delta)
}

func cmdDecrBy(c *execCtx, args [][]byte) Reply {
	delta, ok := parseInt(args[2])
	if !ok {
		return ErrorReply(errNotInt)
	}
	if delta == math.MinInt64 {
		return ErrorReply("ERR decrement would overflow")
	}
	return c.incrBy(args[1], -delta)
}

func cmdIncrByFloat(c *execCtx, args [][]byte) Reply {
	it, found := c.lookup(args[1])
	cur := new(big.Float)
	if found {
		if it.obj() != nil {
			return ErrorReply(errWrongType)
		}
		v, ok := parseLongDouble(it.str())
		if !ok {
			return ErrorReply(errNotFloat)
		}
		cur = v
	}
	incr, ok := parseLongDouble(args[2])
	if !ok {
		return ErrorReply(errNotFloat)
	}
	sum, ok := addLongDouble(cur, incr)
	if !ok {
		return ErrorReply(errNaN)
	}
	val := formatLongDouble(nil, sum)
	if found {
		c.put(c.db, it.withStr(val))
	} else {
		c.put(c.db, newStringItem(args[1], val, 0))
	}
	return Reply{Kind: ReplyBulk, Str: val}
}

func cmdAppend(c *execCtx, args [][]byte) Reply {
	it, found := c.lookup(args[1])
	if !found {
		c.put(c.db, newStringItem(args[1], args[2], 0))
		return IntReply(int64(len(args[2])))
	}
	if it.obj() != nil {
		return ErrorReply(errWrongType)
	}
	if len(it.str())+len(args[2]) > stringBytesMax {
		return ErrorReply(errStringTooLong)
	}
	// withAppended may write into spare room past the value's length: no
	// one can see those bytes (snapshots and replies hold the shorter
	// length), and the allocation belongs to this key alone (COPY and
	// RENAME make new ones).
	it = it.withAppended(args[2])
	c.put(c.db, it)
	return IntReply(int64(len(it.str())))
}

func cmdStrlen(c *execCtx, args [][]byte) Reply {
	val, _, errR := c.getString(args[1])
	if errR != nil {
		return *errR
	}
	return IntReply(int64(len(val)))
}

var emptyBulk = []byte{}

func cmdGetRange(c *execCtx, args [][]byte) Reply {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		return ErrorReply(errNotInt)
	}
	val, _, errR := c.getString(args[1])
	if errR != nil {
		return *errR
	}
	n := int64(len(val))
	if start < 0 && end < 0 && start > end {
		return BulkReply(emptyBulk)
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start = max(start, 0)
	end = max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return BulkReply(emptyBulk)
	}
	return BulkReply(val[start : end+1])
}

func cmdSetRange(c *execCtx, args [][]byte) Reply {
	offset, ok := parseInt(args[2])
	if !ok {
		return ErrorReply(errNotInt)
	}
	if offset < 0 {
		return ErrorReply(errOffsetRange)
	}
	value := args[3]
	it, found := c.lookup(args[1])
	if found && it.obj() != nil {
		return ErrorReply(errWrongType)
	}
	if len(value) == 0 {
		return IntReply(int64(len(it.str())))
	}
	if offset > int64(stringBytesMax-len(value)) {
		return ErrorReply(errStringTooLong)
	}
	need := int(offset) + len(value)
	// Always a fresh array: a snapshot or a reply may hold the old one.
	buf := make([]byte, max(need, len(it.str())))
	copy(buf, it.str())
	copy(buf[offset:], value)
	if found {
		c.put(c.db, it.withStr(buf))
	} else {
		c.put(c.db, newStringItem(args[1], buf, 0))
	}
	return IntReply(int64(len(buf)))
}
