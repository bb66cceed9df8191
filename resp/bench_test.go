package resp

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvsm"
)

// replayConn is a net.Conn whose reads return the same request bytes
// forever and whose writes are discarded.
type replayConn struct {
	req []byte
}

func (r *replayConn) Read(p []byte) (int, error)  { return copy(p, r.req), nil }
func (r *replayConn) Write(p []byte) (int, error) { return len(p), nil }
func (r *replayConn) Close() error                { return nil }
func (r *replayConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6379}
}
func (r *replayConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (r *replayConn) SetDeadline(t time.Time) error      { return nil }
func (r *replayConn) SetReadDeadline(t time.Time) error  { return nil }
func (r *replayConn) SetWriteDeadline(t time.Time) error { return nil }

// benchDispatch measures parse + dispatch + encode for pipeline copies of
// one request per read; b.N counts commands.
func benchDispatch(b *testing.B, req string, pipeline int, reply kvsm.Reply) {
	b.Helper()
	s := NewServer(ServerConfig{}, &staticBackend{reply: reply}, nil)
	nc := &replayConn{req: []byte(strings.Repeat(req, pipeline))}
	c := newClient(s, nc)
	lim := c.limits()
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	for done := 0; done < b.N; {
		reqs, err := c.rd.readBatch(lim)
		if err != nil {
			b.Fatal(err)
		}
		c.out = c.out[:0]
		c.execBatch(reqs)
		if _, err := nc.Write(c.out); err != nil {
			b.Fatal(err)
		}
		done += len(reqs)
	}
}

func BenchmarkGET(b *testing.B) {
	benchDispatch(b, "*2\r\n$3\r\nGET\r\n$8\r\nkey:0001\r\n", 1, kvsm.BulkReply([]byte("value-0001")))
}

func BenchmarkGETPipeline16(b *testing.B) {
	benchDispatch(b, "*2\r\n$3\r\nGET\r\n$8\r\nkey:0001\r\n", 16, kvsm.BulkReply([]byte("value-0001")))
}

func BenchmarkSET(b *testing.B) {
	benchDispatch(b, "*3\r\n$3\r\nSET\r\n$8\r\nkey:0001\r\n$10\r\nvalue-0001\r\n", 1, kvsm.ReplyOK)
}

func BenchmarkSETPipeline16(b *testing.B) {
	benchDispatch(b, "*3\r\n$3\r\nSET\r\n$8\r\nkey:0001\r\n$10\r\nvalue-0001\r\n", 16, kvsm.ReplyOK)
}

func BenchmarkPINGInline(b *testing.B) {
	benchDispatch(b, "PING\r\n", 1, kvsm.ReplyOK)
}

func BenchmarkAppendReplyRESP3Map(b *testing.B) {
	r := kvsm.Reply{Kind: kvsm.ReplyMap, Elems: []kvsm.Reply{
		kvsm.BulkReply([]byte("field1")), kvsm.BulkReply([]byte("value1")),
		kvsm.BulkReply([]byte("field2")), {Kind: kvsm.ReplyDouble, Float: 3.25},
	}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = appendReply(buf[:0], &r, proto3)
	}
}
