package resp

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/kvsm"
)

// intoBackend is memBackend with ReaderInto; it counts ReadInto calls.
type intoBackend struct {
	*memBackend
	readIntos int
	intoErr   error
}

func (b *intoBackend) ReadInto(ctx context.Context, cmds []kvsm.Command, replies []kvsm.Reply) error {
	b.readIntos++
	if b.intoErr != nil {
		return b.intoErr
	}
	got, err := b.memBackend.Read(ctx, cmds)
	if err != nil {
		return err
	}
	copy(replies, got)
	return nil
}

// TestReaderIntoServesReadRuns: a Backend with ReaderInto gets every read
// run through it (into the connection's buffer), and its error becomes each
// read's error reply.
func TestReaderIntoServesReadRuns(t *testing.T) {
	tests := []struct {
		name    string
		intoErr error
		want    string
	}{
		{"replies", nil, strings.Repeat("$1\r\n1\r\n$-1\r\n", 2)},
		{"error", errors.New("boom"), strings.Repeat("-ERR boom\r\n", 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &intoBackend{memBackend: newMemBackend(), intoErr: tt.intoErr}
			s := NewServer(ServerConfig{}, be, nil)
			be.dbs[0] = map[string]string{"a": "1"}
			req := strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n", 2)
			c := newClient(s, &replayConn{req: []byte(req)})
			reqs, err := c.rd.readBatch(c.limits())
			if err != nil {
				t.Fatal(err)
			}
			c.execBatch(reqs)
			if got := string(c.out); got != tt.want {
				t.Errorf("replies %q, want %q", got, tt.want)
			}
			if be.readIntos != 1 {
				t.Errorf("%d ReadInto calls, want 1 (one read run)", be.readIntos)
			}
			for i, r := range c.runReplies {
				if r.Kind != 0 || r.Str != nil {
					t.Errorf("reply buffer slot %d still holds %+v after the run", i, r)
				}
			}
		})
	}
}
