package compat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of what the test reader accepts from a server: a server bug must
// give an error, not an out-of-memory test.
const (
	replyBulkBytesMax  = 64 << 20
	replyElemsMax      = 1 << 20
	replyDepthMax      = 16
	replyReadTimeout   = 20 * time.Second
	requestWriteTimout = 20 * time.Second
)

// value is one RESP2/RESP3 reply: its type byte, its exact bytes on the
// wire (raw, for byte-for-byte comparison), and its parsed content.
type value struct {
	kind  byte   // '+', '-', ':', '$', '*', '%', '~', '_', ',', '#', '=', '(', '>', '|'
	raw   []byte // the whole reply as received
	str   []byte // simple, error, bulk, verbatim, number text
	null  bool   // $-1, *-1, _
	elems []value
	// start and end locate raw in the reader's buffer while reading.
	start, end int
}

func (v value) String() string { return strconv.Quote(abbreviate(v.raw, 300)) }

// abbreviate shortens b for messages, keeping its start and length.
func abbreviate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s...(%d bytes)", b[:n], len(b))
}

// conn is a raw RESP connection.
type conn struct {
	nc net.Conn
	rd *bufio.Reader
}

func dial(addr string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &conn{nc: nc, rd: bufio.NewReaderSize(nc, 64<<10)}, nil
}

func (c *conn) close() { c.nc.Close() }

// appendCommand appends a command as a RESP multibulk request.
func appendCommand(b []byte, args [][]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// send writes several commands in one write (a pipeline).
func (c *conn) send(cmds [][][]byte) error {
	var b []byte
	for _, args := range cmds {
		b = appendCommand(b, args)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(requestWriteTimout))
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// do sends one command and reads its reply.
func (c *conn) do(args ...[]byte) (value, error) {
	if err := c.send([][][]byte{args}); err != nil {
		return value{}, err
	}
	return c.read()
}

// read reads one reply.
func (c *conn) read() (value, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(replyReadTimeout))
	var raw []byte
	v, err := readValue(c.rd, &raw, 0)
	if err != nil {
		return value{}, err
	}
	setRaw(&v, raw)
	return v, nil
}

var errBadReply = errors.New("malformed reply")

// readValue reads one reply from rd, appending its bytes to *raw; v.raw is
// its own part of *raw.
func readValue(rd *bufio.Reader, raw *[]byte, depth int) (value, error) {
	if depth > replyDepthMax {
		return value{}, fmt.Errorf("%w: nested deeper than %d", errBadReply, replyDepthMax)
	}
	start := len(*raw)
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return value{}, fmt.Errorf("read reply header: %w", err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return value{}, fmt.Errorf("%w: header %q", errBadReply, line)
	}
	*raw = append(*raw, line...)
	v := value{kind: line[0]}
	body := line[1 : len(line)-2]
	switch v.kind {
	case '+', '-', ':', ',', '#', '(':
		v.str = slices.Clone(body)
	case '_':
		v.null = true
	case '$', '=', '!':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 || n > replyBulkBytesMax {
			return value{}, fmt.Errorf("%w: bulk length %q", errBadReply, body)
		}
		if n == -1 {
			v.null = true
			break
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(rd, buf); err != nil {
			return value{}, fmt.Errorf("read bulk of %d bytes: %w", n, err)
		}
		if !bytes.HasSuffix(buf, []byte("\r\n")) {
			return value{}, fmt.Errorf("%w: bulk not ended by CRLF", errBadReply)
		}
		*raw = append(*raw, buf...)
		v.str = buf[:n]
	case '*', '%', '~', '>', '|':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 || n > replyElemsMax {
			return value{}, fmt.Errorf("%w: aggregate length %q", errBadReply, body)
		}
		if n == -1 {
			v.null = true
			break
		}
		if v.kind == '%' || v.kind == '|' {
			n *= 2
		}
		v.elems = make([]value, 0, n)
		for i := 0; i < n; i++ {
			e, err := readValue(rd, raw, depth+1)
			if err != nil {
				return value{}, err
			}
			v.elems = append(v.elems, e)
		}
	default:
		return value{}, fmt.Errorf("%w: unknown type byte %q", errBadReply, v.kind)
	}
	v.start, v.end = start, len(*raw)
	return v, nil
}

// setRaw points v.raw and its children's at their bytes in buf, once the
// whole reply is read (buf may have moved while it grew).
func setRaw(v *value, buf []byte) {
	v.raw = buf[v.start:v.end:v.end]
	for i := range v.elems {
		setRaw(&v.elems[i], buf)
	}
}

func ioReadFull(rd *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := rd.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func newTestReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
