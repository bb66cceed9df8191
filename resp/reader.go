package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// Limits of the request reader. The names and values are Redis's
// (PROTO_INLINE_MAX_SIZE, the unauthenticated limits of processMultibulkBuffer).
const (
	// inlineBytesMax bounds an inline command line and a "*N" or "$N" header
	// that has not ended yet.
	inlineBytesMax = 64 * 1024
	// multibulkLenMax is the largest argument count accepted (INT_MAX).
	multibulkLenMax = math.MaxInt32
	// unauthMultibulkLenMax and unauthBulkBytesMax bound what a client that
	// has not authenticated yet may announce.
	unauthMultibulkLenMax = 10
	unauthBulkBytesMax    = 16384
	// readBufBytesInitial is a connection's starting buffer; it grows as a
	// large request arrives and shrinks back once the request is consumed.
	readBufBytesInitial = 16 * 1024
)

// ProtocolError is a malformed request. The server replies
// "-ERR Protocol error: <Msg>" and closes the connection, as Redis does.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

// errQueryBufferLimit: a single request exceeds the query buffer limit. Redis
// closes such a client without a reply; so do we.
var errQueryBufferLimit = errors.New("resp: query buffer limit exceeded")

var (
	errInvalidMultibulkLen = &ProtocolError{"invalid multibulk length"}
	errInvalidBulkLen      = &ProtocolError{"invalid bulk length"}
	errUnauthMultibulkLen  = &ProtocolError{"unauthenticated multibulk length"}
	errUnauthBulkLen       = &ProtocolError{"unauthenticated bulk length"}
	errBigInline           = &ProtocolError{"too big inline request"}
	errBigMultibulkCount   = &ProtocolError{"too big mbulk count string"}
	errBigBulkCount        = &ProtocolError{"too big bulk count string"}
	errUnbalancedQuotes    = &ProtocolError{"unbalanced quotes in request"}
)

// request is one parsed command: its arguments, name first. The slices point
// into the reader's buffer and stay valid until the next readBatch.
type request struct {
	args [][]byte
	argc int // set while parsing; args is filled in when the batch ends
}

// limits are the reader's settings for one batch; the server may change them
// live (CONFIG SET proto-max-bulk-len) and the connection passes the current
// values each time.
type limits struct {
	bulkBytesMax  int64 // proto-max-bulk-len
	queryBytesMax int   // one request's bytes at most (Redis: client-query-buffer-limit)
	unauth        bool  // the client must authenticate: apply the unauthenticated limits
	batchMax      int   // commands per batch at most
}

// reader parses RESP multibulk and inline requests from a connection.
//
// Unlike redcon's Reader it validates every header before it buffers the
// body, never allocates more than twice the bytes actually received, parses
// a large multibulk incrementally (no rescanning of what it has already
// seen), and hands out arguments that alias its buffer instead of copying
// each command. It is not safe for concurrent use.
type reader struct {
	src   io.Reader
	buf   []byte
	start int // first unconsumed byte
	end   int // end of received bytes

	// The multibulk command being parsed, when partial is true. Offsets are
	// relative to start so that moving the buffer does not invalidate them.
	partial   bool
	argsLeft  int
	pos       int   // offset of the next header to parse
	bulkLen   int   // length of the bulk whose header was parsed, or -1
	argBounds []int // start, end offset pairs of the arguments parsed so far

	args [][]byte // backing store for the batch's request args
	reqs []request

	// errAfter is a parse error found behind complete requests: those are
	// answered first (as Redis does) and the error ends the next call.
	errAfter error
}

func newReader(src io.Reader) *reader {
	return &reader{src: src, buf: make([]byte, readBufBytesInitial), bulkLen: -1}
}

// readBatch returns every complete request already received (at most
// lim.batchMax), reading from the connection only when there is none. The
// returned requests and their arguments are valid until the next call.
func (r *reader) readBatch(lim limits) ([]request, error) {
	r.reqs = r.reqs[:0]
	clear(r.args) // no stale references into an old buffer
	r.args = r.args[:0]
	if r.errAfter != nil {
		return nil, r.errAfter
	}
	// Arguments of earlier requests alias the buffer: never move it while
	// the batch holds any, so read only when the batch is empty.
	for {
		for len(r.reqs) < lim.batchMax {
			ok, err := r.parseOne(lim)
			if err != nil {
				if len(r.reqs) == 0 {
					return nil, err
				}
				r.errAfter = err
				break
			}
			if !ok {
				break
			}
		}
		if len(r.reqs) > 0 {
			r.finishBatch()
			return r.reqs, nil
		}
		if err := r.fill(lim); err != nil {
			return nil, err
		}
	}
}

// finishBatch turns the argument index ranges into request slices; done last
// because r.args may have been reallocated while the batch grew.
func (r *reader) finishBatch() {
	pos := 0
	for i := range r.reqs {
		n := r.reqs[i].argc
		r.reqs[i].args = r.args[pos : pos+n : pos+n]
		pos += n
	}
}

// fill makes room and reads once from the connection.
func (r *reader) fill(lim limits) error {
	if r.start == r.end && len(r.buf) > readBufBytesInitial*4 {
		// A large request has been consumed: give its memory back.
		r.buf = make([]byte, readBufBytesInitial)
		r.start, r.end = 0, 0
	}
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	if r.end == len(r.buf) {
		if r.end >= lim.queryBytesMax {
			return errQueryBufferLimit
		}
		size := min(2*len(r.buf), lim.queryBytesMax)
		grown := make([]byte, size)
		copy(grown, r.buf[:r.end])
		r.buf = grown
	}
	n, err := r.src.Read(r.buf[r.end:])
	r.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// parseOne parses at most one request. It reports false when more bytes are
// needed. Empty requests ("*0", blank inline lines) are consumed silently.
func (r *reader) parseOne(lim limits) (bool, error) {
	for {
		b := r.buf[r.start:r.end]
		if len(b) == 0 {
			return false, nil
		}
		var ok, empty bool
		var err error
		if r.partial || b[0] == '*' {
			ok, empty, err = r.parseMultibulk(lim)
		} else {
			ok, empty, err = r.parseInline()
		}
		if err != nil || !ok {
			return false, err
		}
		if !empty {
			return true, nil
		}
	}
}

// parseInt reads a header's decimal number as Redis's string2ll: optional
// '-', digits, no leading zeros or '+', no overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg, b = true, b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	var v uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		next := v*10 + uint64(ch-'0')
		if next/10 != v {
			return 0, false
		}
		v = next
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// headerLine returns the header at b (up to "\r\n", excluding the prefix byte)
// and the offset just past it; ok is false when the line has not ended yet.
func headerLine(b []byte, tooBig *ProtocolError) (line []byte, next int, ok bool, err error) {
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		if len(b) > inlineBytesMax {
			return nil, 0, false, tooBig
		}
		return nil, 0, false, nil
	}
	if i > inlineBytesMax {
		return nil, 0, false, tooBig
	}
	if i+1 >= len(b) {
		return nil, 0, false, nil // the '\n' has not arrived
	}
	return b[1:i], i + 2, true, nil
}

// parseMultibulk continues the multibulk request at r.start. On a complete
// request it appends its arguments and consumes its bytes.
func (r *reader) parseMultibulk(lim limits) (ok, empty bool, err error) {
	b := r.buf[r.start:r.end]
	if !r.partial {
		line, next, ok, err := headerLine(b, errBigMultibulkCount)
		if !ok {
			return false, false, err
		}
		n, valid := parseInt(line)
		if !valid || n > multibulkLenMax {
			return false, false, errInvalidMultibulkLen
		}
		if lim.unauth && n > unauthMultibulkLenMax {
			return false, false, errUnauthMultibulkLen
		}
		if n <= 0 {
			r.start += next
			return true, true, nil
		}
		r.partial, r.argsLeft, r.pos, r.bulkLen = true, int(n), next, -1
		r.argBounds = r.argBounds[:0]
	}
	for r.argsLeft > 0 {
		if r.bulkLen < 0 {
			rest := b[r.pos:]
			if len(rest) == 0 {
				return false, false, nil
			}
			if rest[0] != '$' {
				return false, false, &ProtocolError{fmt.Sprintf("expected '$', got '%c'", rest[0])}
			}
			line, next, ok, err := headerLine(rest, errBigBulkCount)
			if !ok {
				return false, false, err
			}
			n, valid := parseInt(line)
			if !valid || n < 0 || n > lim.bulkBytesMax {
				return false, false, errInvalidBulkLen
			}
			if lim.unauth && n > unauthBulkBytesMax {
				return false, false, errUnauthBulkLen
			}
			if int64(r.pos+next)+n+2 > int64(lim.queryBytesMax) {
				return false, false, errQueryBufferLimit
			}
			r.pos += next
			r.bulkLen = int(n)
		}
		// Like Redis, skip the two bytes after the body without checking
		// that they are CRLF.
		if r.pos+r.bulkLen+2 > len(b) {
			return false, false, nil
		}
		r.argBounds = append(r.argBounds, r.pos, r.pos+r.bulkLen)
		r.pos += r.bulkLen + 2
		r.bulkLen = -1
		r.argsLeft--
	}
	n := len(r.argBounds) / 2
	for i := 0; i < len(r.argBounds); i += 2 {
		lo, hi := r.start+r.argBounds[i], r.start+r.argBounds[i+1]
		r.args = append(r.args, r.buf[lo:hi:hi])
	}
	r.reqs = append(r.reqs, request{argc: n})
	r.start += r.pos
	r.partial = false
	return true, false, nil
}

// parseInline parses a telnet-style line, splitting arguments as Redis's
// sdssplitargs. The unescaped arguments are written over the line itself
// (never longer than the input), so no memory is allocated.
func (r *reader) parseInline() (ok, empty bool, err error) {
	b := r.buf[r.start:r.end]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		if len(b) > inlineBytesMax {
			return false, false, errBigInline
		}
		return false, false, nil
	}
	if nl > inlineBytesMax {
		return false, false, errBigInline
	}
	line := b[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	first := len(r.args)
	if err := r.splitInline(line); err != nil {
		return false, false, err
	}
	r.start += nl + 1
	n := len(r.args) - first
	if n == 0 {
		return true, true, nil
	}
	r.reqs = append(r.reqs, request{argc: n})
	return true, false, nil
}

func (r *reader) splitInline(line []byte) error {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return nil
		}
		w := i // write position: output never overtakes input
		wordStart := w
		inDouble, inSingle := false, false
	word:
		for ; ; i++ {
			if i >= len(line) {
				if inDouble || inSingle {
					return errUnbalancedQuotes
				}
				break
			}
			ch := line[i]
			switch {
			case inDouble:
				switch {
				case ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHexDigit(line[i+2]) && isHexDigit(line[i+3]):
					line[w] = hexValue(line[i+2])<<4 | hexValue(line[i+3])
					w++
					i += 3
				case ch == '\\' && i+1 < len(line):
					i++
					line[w] = unescape(line[i])
					w++
				case ch == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return errUnbalancedQuotes
					}
					i++
					break word
				default:
					line[w] = ch
					w++
				}
			case inSingle:
				switch {
				case ch == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					line[w] = '\''
					w++
				case ch == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return errUnbalancedQuotes
					}
					i++
					break word
				default:
					line[w] = ch
					w++
				}
			default:
				switch {
				case isSpace(ch):
					break word
				case ch == '"':
					inDouble = true
				case ch == '\'':
					inSingle = true
				default:
					line[w] = ch
					w++
				}
			}
		}
		r.args = append(r.args, line[wordStart:w:w])
	}
}

func isSpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'
}

func isHexDigit(ch byte) bool {
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')
}

func hexValue(ch byte) byte {
	switch {
	case ch >= '0' && ch <= '9':
		return ch - '0'
	case ch >= 'a' && ch <= 'f':
		return ch - 'a' + 10
	default:
		return ch - 'A' + 10
	}
}

func unescape(ch byte) byte {
	switch ch {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return ch
}
