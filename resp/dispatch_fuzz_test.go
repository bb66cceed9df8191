package resp

import (
	"bytes"
	"io"
	"testing"

	"github.com/raftkv/raftkv/conf"
)

// onceConn is a net.Conn that reads data once, then io.EOF, and collects
// what is written.
type onceConn struct {
	replayConn
	in  *bytes.Reader
	out bytes.Buffer
}

func (o *onceConn) Read(p []byte) (int, error) {
	if o.in.Len() == 0 {
		return 0, io.EOF
	}
	return o.in.Read(p)
}

func (o *onceConn) Write(p []byte) (int, error) { return o.out.Write(p) }

// FuzzDispatch runs whole connections on arbitrary input: parsing, every
// local command handler (CLIENT, CONFIG, HELLO, COMMAND, MULTI...) and the
// Backend routing must never panic, and a reply must always be a sequence
// of well-formed RESP values.
func FuzzDispatch(f *testing.F) {
	for _, seed := range []string{
		"ping\r\nhello 3 auth default x setname n\r\nclient list\r\n",
		"config set maxclients 5 timeout 1\r\nconfig get *\r\n",
		"multi\r\nset a 1\r\nget a\r\nexec\r\ndiscard\r\n",
		"client kill id 1 skipme no\r\nclient reply skip\r\nping\r\n",
		"command info get nosuch\r\ncommand docs\r\ninfo raft keyspace\r\n",
		"*2\r\n$6\r\nselect\r\n$2\r\n15\r\nhgetall h\r\nmget a b\r\n",
		"watch a b\r\nset a 1\r\nmulti\r\nwatch c\r\nincr a\r\nexec\r\nunwatch\r\n",
		"reset\r\nwait 1 0\r\nlastsave\r\nreadonly\r\ncommand docs get watch\r\ninfo everything\r\n",
		"config set slowlog-log-slower-than 0 latency-monitor-threshold 1\r\nrole\r\nfoo\r\nslowlog get -1\r\nlatency latest\r\nlatency history command\r\nslowlog reset\r\ninfo errorstats\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := conf.Default()
		s := NewServer(ServerConfig{Config: c}, newMemBackend(), nil)
		nc := &onceConn{in: bytes.NewReader(data)}
		cl := newClient(s, nc)
		s.clients[cl.id] = cl
		cl.serve()
		if err := checkRESP(nc.out.Bytes()); err != nil {
			t.Fatalf("malformed reply stream: %v\n%q", err, nc.out.Bytes())
		}
	})
}

// checkRESP verifies that b is a sequence of complete RESP2/RESP3 values.
func checkRESP(b []byte) error {
	for len(b) > 0 {
		n, err := respValueLen(b, 0)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func respValueLen(b []byte, depth int) (int, error) {
	if depth > 100 {
		return 0, io.ErrUnexpectedEOF
	}
	line := bytes.Index(b, []byte("\r\n"))
	if line < 1 {
		return 0, io.ErrUnexpectedEOF
	}
	n, isNum := parseInt(b[1:line])
	pos := line + 2
	switch b[0] {
	case '+', '-', ':', ',', '#', '_':
		return pos, nil
	case '$', '=':
		if !isNum {
			return 0, io.ErrUnexpectedEOF
		}
		if n < 0 {
			return pos, nil
		}
		if pos+int(n)+2 > len(b) || string(b[pos+int(n):pos+int(n)+2]) != "\r\n" {
			return 0, io.ErrUnexpectedEOF
		}
		return pos + int(n) + 2, nil
	case '*', '~', '%':
		if !isNum {
			return 0, io.ErrUnexpectedEOF
		}
		count := n
		if b[0] == '%' {
			count *= 2
		}
		for i := int64(0); i < count; i++ {
			m, err := respValueLen(b[pos:], depth+1)
			if err != nil {
				return 0, err
			}
			pos += m
		}
		return pos, nil
	}
	return 0, io.ErrUnexpectedEOF
}
