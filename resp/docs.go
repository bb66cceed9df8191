package resp

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"

	"github.com/raftkv/raftkv/kvsm"
)

//go:generate go test -run TestGenerateCommandDocs -resp.gendocs

// commandDocsRESP3 is redis-server 7.0.15's reply to COMMAND DOCS for the
// commands of our table, as RESP3 bytes. It is generated, not typed: `go
// generate ./resp` runs TestGenerateCommandDocs, which starts a
// redis-server, asks it, and rewrites the file; TestCommandDocsCoverTable
// fails when the table has a command the file lacks. redis-cli reads
// COMMAND DOCS at start to show argument hints, and client libraries may
// show the summaries.
//
//go:embed command_docs.resp3
var commandDocsRESP3 []byte

// Bounds of the embedded documents: they are ours, but a damaged file must
// give an error at start-up, not a crash.
const (
	docsDepthMax = 16
	docsElemsMax = 1 << 16
)

var errBadDocs = errors.New("resp: bad command docs")

// parseCommandDocs decodes the embedded COMMAND DOCS reply into one reply
// per command name.
func parseCommandDocs(data []byte) (map[string]kvsm.Reply, error) {
	p := docsParser{data: data}
	top, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.off != len(data) {
		return nil, fmt.Errorf("%w: %d trailing bytes at offset %d", errBadDocs, len(data)-p.off, p.off)
	}
	if top.Kind != kvsm.ReplyMap {
		return nil, fmt.Errorf("%w: top level is not a map", errBadDocs)
	}
	docs := make(map[string]kvsm.Reply, len(top.Elems)/2)
	for i := 0; i+1 < len(top.Elems); i += 2 {
		docs[string(top.Elems[i].Str)] = top.Elems[i+1]
	}
	return docs, nil
}

type docsParser struct {
	data []byte
	off  int
}

func (p *docsParser) line() ([]byte, error) {
	for i := p.off; i+1 < len(p.data); i++ {
		if p.data[i] == '\r' && p.data[i+1] == '\n' {
			l := p.data[p.off:i]
			p.off = i + 2
			return l, nil
		}
	}
	return nil, fmt.Errorf("%w: unterminated line at offset %d", errBadDocs, p.off)
}

func (p *docsParser) value(depth int) (kvsm.Reply, error) {
	if depth > docsDepthMax {
		return kvsm.Reply{}, fmt.Errorf("%w: nested deeper than %d at offset %d", errBadDocs, docsDepthMax, p.off)
	}
	at := p.off
	l, err := p.line()
	if err != nil {
		return kvsm.Reply{}, err
	}
	if len(l) == 0 {
		return kvsm.Reply{}, fmt.Errorf("%w: empty line at offset %d", errBadDocs, at)
	}
	body := l[1:]
	switch l[0] {
	case '+':
		return kvsm.StatusReply(string(body)), nil
	case ':':
		n, err := strconv.ParseInt(string(body), 10, 64)
		if err != nil {
			return kvsm.Reply{}, fmt.Errorf("%w: integer %q at offset %d", errBadDocs, body, at)
		}
		return kvsm.IntReply(n), nil
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < 0 || n > len(p.data)-p.off-2 {
			return kvsm.Reply{}, fmt.Errorf("%w: bulk length %q at offset %d", errBadDocs, body, at)
		}
		s := p.data[p.off : p.off+n : p.off+n]
		if p.data[p.off+n] != '\r' || p.data[p.off+n+1] != '\n' {
			return kvsm.Reply{}, fmt.Errorf("%w: bulk not ended by CRLF at offset %d", errBadDocs, p.off+n)
		}
		p.off += n + 2
		return kvsm.BulkReply(s), nil
	case '*', '~', '%':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < 0 || n > docsElemsMax {
			return kvsm.Reply{}, fmt.Errorf("%w: aggregate length %q at offset %d", errBadDocs, body, at)
		}
		kind := map[byte]kvsm.ReplyKind{'*': kvsm.ReplyArray, '~': kvsm.ReplySet, '%': kvsm.ReplyMap}[l[0]]
		if l[0] == '%' {
			n *= 2
		}
		r := kvsm.Reply{Kind: kind, Elems: make([]kvsm.Reply, 0, min(n, 64))}
		for i := 0; i < n; i++ {
			e, err := p.value(depth + 1)
			if err != nil {
				return kvsm.Reply{}, err
			}
			r.Elems = append(r.Elems, e)
		}
		return r, nil
	}
	return kvsm.Reply{}, fmt.Errorf("%w: unexpected type %q at offset %d", errBadDocs, l[0], at)
}
