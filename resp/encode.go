package resp

import (
	"math"
	"strconv"

	"github.com/raftkv/raftkv/kvsm"
	"github.com/tidwall/redcon"
)

// Protocol versions a connection can speak (HELLO).
const (
	proto2 = 2
	proto3 = 3
)

// The encoders below append to b and return it, in the style of redcon's
// Append* functions, so that a connection builds all of a pipeline's replies
// in one reused buffer with no allocation per reply. RESP2 encodings come
// from redcon; RESP3 types (redcon has none) are written here.

// appendSimple appends a '+' status or '-' error line. CR and LF inside msg
// would end the line early and desynchronise the client, so they become
// spaces, as Redis does.
func appendSimple[T []byte | string](b []byte, prefix byte, msg T) []byte {
	b = append(b, prefix)
	for i := 0; i < len(msg); i++ {
		ch := msg[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return append(b, '\r', '\n')
}

func appendStatus[T []byte | string](b []byte, msg T) []byte { return appendSimple(b, '+', msg) }
func appendError[T []byte | string](b []byte, msg T) []byte  { return appendSimple(b, '-', msg) }

// appendNil appends the null bulk string: $-1 in RESP2, _ in RESP3.
func appendNil(b []byte, proto int) []byte {
	if proto == proto3 {
		return append(b, '_', '\r', '\n')
	}
	return redcon.AppendNull(b)
}

// appendNilArray appends the null array: *-1 in RESP2, _ in RESP3.
func appendNilArray(b []byte, proto int) []byte {
	if proto == proto3 {
		return append(b, '_', '\r', '\n')
	}
	return append(b, '*', '-', '1', '\r', '\n')
}

// appendMapHeader appends a map of n pairs: %n in RESP3, an array of 2n in RESP2.
func appendMapHeader(b []byte, pairs int, proto int) []byte {
	if proto == proto3 {
		return appendLen(b, '%', pairs)
	}
	return redcon.AppendArray(b, 2*pairs)
}

// appendSetHeader appends a set of n members: ~n in RESP3, an array in RESP2.
func appendSetHeader(b []byte, n int, proto int) []byte {
	if proto == proto3 {
		return appendLen(b, '~', n)
	}
	return redcon.AppendArray(b, n)
}

func appendLen(b []byte, prefix byte, n int) []byte {
	b = append(b, prefix)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// appendDouble appends a double as Redis 7.0 does: ",%.17g" in RESP3 (inf,
// -inf, nan spelled so) and a bulk string of the same text in RESP2.
func appendDouble(b []byte, f float64, proto int) []byte {
	var tmp [32]byte
	text := formatDouble(tmp[:0], f)
	if proto == proto3 {
		b = append(b, ',')
		b = append(b, text...)
		return append(b, '\r', '\n')
	}
	return redcon.AppendBulk(b, text)
}

func formatDouble(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case math.IsNaN(f):
		return append(b, "nan"...)
	}
	return strconv.AppendFloat(b, f, 'g', 17, 64)
}

// appendBool appends #t/#f in RESP3 and :1/:0 in RESP2.
func appendBool(b []byte, v bool, proto int) []byte {
	if proto == proto3 {
		if v {
			return append(b, '#', 't', '\r', '\n')
		}
		return append(b, '#', 'f', '\r', '\n')
	}
	if v {
		return redcon.AppendInt(b, 1)
	}
	return redcon.AppendInt(b, 0)
}

// appendVerbatim appends text as Redis sends INFO and CLIENT LIST: a
// verbatim string "=len\r\ntxt:..." in RESP3, a bulk string in RESP2.
func appendVerbatim(b []byte, text []byte, proto int) []byte {
	if proto != proto3 {
		return redcon.AppendBulk(b, text)
	}
	b = appendLen(b, '=', len(text)+4)
	b = append(b, "txt:"...)
	b = append(b, text...)
	return append(b, '\r', '\n')
}

// replyDepthMax bounds the nesting of a reply we encode, so that a corrupt
// or hostile reply tree cannot exhaust the stack.
const replyDepthMax = 64

// appendReply encodes a state-machine reply for a connection speaking proto.
func appendReply(b []byte, r *kvsm.Reply, proto int) []byte {
	return appendReplyDepth(b, r, proto, 0)
}

func appendReplyDepth(b []byte, r *kvsm.Reply, proto int, depth int) []byte {
	if depth > replyDepthMax {
		return appendError(b, "ERR reply nested too deeply")
	}
	switch r.Kind {
	case kvsm.ReplyNil:
		return appendNil(b, proto)
	case kvsm.ReplyStatus:
		return appendStatus(b, r.Str)
	case kvsm.ReplyError:
		return appendError(b, r.Str)
	case kvsm.ReplyInt:
		return redcon.AppendInt(b, r.Int)
	case kvsm.ReplyBulk:
		return redcon.AppendBulk(b, r.Str)
	case kvsm.ReplyArray:
		b = redcon.AppendArray(b, len(r.Elems))
	case kvsm.ReplyNilArray:
		return appendNilArray(b, proto)
	case kvsm.ReplyDouble:
		return appendDouble(b, r.Float, proto)
	case kvsm.ReplyMap:
		b = appendMapHeader(b, len(r.Elems)/2, proto)
		// An odd element count is a bug upstream; drop the last key rather
		// than send a map whose length does not match its contents.
		elems := r.Elems[:len(r.Elems)/2*2]
		for i := range elems {
			b = appendReplyDepth(b, &elems[i], proto, depth+1)
		}
		return b
	case kvsm.ReplyPairs:
		elems := r.Elems[:len(r.Elems)/2*2]
		if proto != proto3 {
			b = redcon.AppendArray(b, len(elems))
			break
		}
		b = redcon.AppendArray(b, len(elems)/2)
		for i := 0; i < len(elems); i += 2 {
			b = redcon.AppendArray(b, 2)
			b = appendReplyDepth(b, &elems[i], proto, depth+1)
			b = appendReplyDepth(b, &elems[i+1], proto, depth+1)
		}
		return b
	case kvsm.ReplySet:
		b = appendSetHeader(b, len(r.Elems), proto)
	case kvsm.ReplyBool:
		return appendBool(b, r.Int != 0, proto)
	default:
		return appendError(b, "ERR internal error: unknown reply kind "+strconv.Itoa(int(r.Kind)))
	}
	for i := range r.Elems {
		b = appendReplyDepth(b, &r.Elems[i], proto, depth+1)
	}
	return b
}
