package resp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var testLimits = limits{bulkBytesMax: 1 << 20, queryBytesMax: 4 << 20, batchMax: 1 << 20}

// readAll parses src to the end, returning the requests' arguments (copied)
// and the error that ended parsing (nil for a clean io.EOF).
func readAll(t testing.TB, src io.Reader, lim limits) ([][]string, error) {
	t.Helper()
	r := newReader(src)
	var out [][]string
	for {
		reqs, err := r.readBatch(lim)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		if len(reqs) == 0 {
			t.Fatalf("readBatch returned no requests and no error")
		}
		for _, req := range reqs {
			args := make([]string, len(req.args))
			for i, a := range req.args {
				args[i] = string(a)
			}
			out = append(out, args)
		}
	}
}

func TestReader(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want [][]string
		err  error
	}{
		{"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", [][]string{{"GET", "k"}}, nil},
		{"pipeline", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", [][]string{{"PING"}, {"ECHO", ""}}, nil},
		{"binary", "*1\r\n$4\r\na\r\nb\r\n", [][]string{{"a\r\nb"}}, nil},
		{"inline", "set k  v\r\nget k\n", [][]string{{"set", "k", "v"}, {"get", "k"}}, nil},
		{"inline quotes", "set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n", [][]string{{"set", "a b", "c'd", "A\n"}}, nil},
		{"empty", "*0\r\n*-5\r\n\r\n \r\nping\r\n", [][]string{{"ping"}}, nil},
		{"incomplete at EOF", "*2\r\n$3\r\nGET\r\n$1\r\n", nil, nil},
		{"no crlf check after bulk", "*1\r\n$1\r\naXY", [][]string{{"a"}}, nil},
		{"bad count", "*1x\r\n", nil, errInvalidMultibulkLen},
		{"plus count", "*+1\r\n", nil, errInvalidMultibulkLen},
		{"leading zero", "*01\r\n", nil, errInvalidMultibulkLen},
		{"bad bulk", "*1\r\n$x\r\n", nil, errInvalidBulkLen},
		{"bulk over max", "*1\r\n$1048577\r\n", nil, errInvalidBulkLen},
		{"expected dollar", "*1\r\n:1\r\n", nil, &ProtocolError{"expected '$', got ':'"}},
		{"unbalanced", "a \"b\r\n", nil, errUnbalancedQuotes},
		{"quote then letter", "a \"b\"c\r\n", nil, errUnbalancedQuotes},
		{"error after good", "ping\r\n*x\r\n", [][]string{{"ping"}}, errInvalidMultibulkLen},
		{"huge inline", strings.Repeat("x", inlineBytesMax+1), nil, errBigInline},
		{"inline at limit", strings.Repeat("x", inlineBytesMax) + "\n", [][]string{{strings.Repeat("x", inlineBytesMax)}}, nil},
		{"multibulk over query limit", "*2\r\n$1048576\r\n" + strings.Repeat("a", 1048576) + "\r\n$1048576\r\n", nil, errQueryBufferLimit},
	}
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
	}
	for _, tc := range cases {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				lim := testLimits
				if tc.name == "multibulk over query limit" {
					lim.queryBytesMax = 2 << 20
				}
				got, err := readAll(t, mk(tc.in), lim)
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("requests %q, want %q", got, tc.want)
				}
				if !reflect.DeepEqual(err, tc.err) {
					t.Errorf("error %v, want %v", err, tc.err)
				}
			})
		}
	}
}

func TestReaderUnauthenticatedLimits(t *testing.T) {
	lim := testLimits
	lim.unauth = true
	cases := []struct {
		in  string
		err error
	}{
		{"*11\r\n", errUnauthMultibulkLen},
		{"*1\r\n$16385\r\n", errUnauthBulkLen},
		{"*10\r\n$16384\r\n", nil}, // at the limits: incomplete, no error
	}
	for _, tc := range cases {
		if _, err := readAll(t, strings.NewReader(tc.in), lim); !reflect.DeepEqual(err, tc.err) {
			t.Errorf("%q: error %v, want %v", tc.in, err, tc.err)
		}
	}
}

func TestReaderBatchMax(t *testing.T) {
	lim := testLimits
	lim.batchMax = 2
	r := newReader(strings.NewReader(strings.Repeat("ping\r\n", 5)))
	var sizes []int
	for {
		reqs, err := r.readBatch(lim)
		if err != nil {
			break
		}
		sizes = append(sizes, len(reqs))
	}
	if !reflect.DeepEqual(sizes, []int{2, 2, 1}) {
		t.Fatalf("batch sizes %v, want [2 2 1]", sizes)
	}
}

// TestReaderShrinksBuffer checks that the memory of a large request is
// given back once it has been consumed.
func TestReaderShrinksBuffer(t *testing.T) {
	big := strings.Repeat("v", 1<<20)
	in := "*2\r\n$3\r\nset\r\n$1048576\r\n" + big + "\r\nping\r\n"
	r := newReader(strings.NewReader(in))
	if _, err := r.readBatch(testLimits); err != nil {
		t.Fatal(err)
	}
	if len(r.buf) < 1<<20 {
		t.Fatalf("buffer %d bytes, expected it to have grown", len(r.buf))
	}
	for {
		if _, err := r.readBatch(testLimits); err != nil {
			break
		}
	}
	if len(r.buf) != readBufBytesInitial {
		t.Fatalf("buffer %d bytes after the large request, want %d", len(r.buf), readBufBytesInitial)
	}
}

func TestParseInt(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-1", -1, true}, {"123", 123, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"", 0, false}, {"-", 0, false}, {"+1", 0, false},
		{"01", 0, false}, {"1a", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tc := range cases {
		got, ok := parseInt([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzReader feeds arbitrary bytes to the reader whole and one byte at a
// time: neither may panic, and both must see the same requests and the
// same error, whatever the chunking.
func FuzzReader(f *testing.F) {
	seeds := []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"set \"a b\" 'c' \"\\x41\"\r\nping\n",
		"*1\r\n$-1\r\n", "*x\r\n", "*3\r\n$3\r\nset\r\n$600000000\r\n",
		"*0\r\n*1\r\n$0\r\n\r\n", "\"unbalanced\r\n", "*1\r\nx\r\n",
		"*2\r\n$1\r\na\r\n$1\r\nb\r\nget k\r\n*1\r\n$2\r\nab\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
	}
	lim := limits{bulkBytesMax: 4096, queryBytesMax: 1 << 16, batchMax: 7}
	f.Fuzz(func(t *testing.T, data []byte, unauth bool) {
		l := lim
		l.unauth = unauth
		whole, errWhole := readAll(t, bytes.NewReader(data), l)
		bytewise, errBytewise := readAll(t, iotest.OneByteReader(bytes.NewReader(data)), l)
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("requests differ by chunking:\nwhole    %q\nbytewise %q", whole, bytewise)
		}
		if !reflect.DeepEqual(errWhole, errBytewise) {
			t.Fatalf("errors differ by chunking: %v vs %v", errWhole, errBytewise)
		}
		for _, req := range whole {
			if len(req) == 0 {
				t.Fatalf("empty request returned")
			}
		}
	})
}
