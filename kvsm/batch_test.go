package kvsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

func TestBatchRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cmds []Command
	}{
		{"empty", []Command{}},
		{"one", []Command{{DB: 0, Args: [][]byte{[]byte("GET"), []byte("k")}}}},
		{"several", []Command{
			{DB: 3, Args: [][]byte{[]byte("SET"), []byte("k"), bytes.Repeat([]byte("v"), 300)}},
			{DB: 15, Args: [][]byte{[]byte("DEL"), {}, []byte("x")}},
			{DB: 200, Args: [][]byte{[]byte("PING")}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := AppendBatch([]byte("prefix"), tt.cmds)
			got, err := DecodeBatch(data[len("prefix"):])
			if err != nil {
				t.Fatalf("DecodeBatch: %v", err)
			}
			assertCommandsEqual(t, got, tt.cmds)
		})
	}
}

func assertCommandsEqual(t *testing.T, got, want []Command) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d commands, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].DB != want[i].DB || len(got[i].Args) != len(want[i].Args) {
			t.Fatalf("command %d = %+v, want %+v", i, got[i], want[i])
		}
		for j := range want[i].Args {
			if !bytes.Equal(got[i].Args[j], want[i].Args[j]) {
				t.Fatalf("command %d arg %d = %q, want %q", i, j, got[i].Args[j], want[i].Args[j])
			}
		}
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	valid := AppendBatch(nil, []Command{{Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}}})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown format", []byte{2, 0}},
		{"truncated count", []byte{1, 0x80}},
		{"count larger than input", []byte{1, 100, 0, 1, 0}},
		{"zero args", []byte{1, 1, 0, 0, 0}},
		{"arg longer than input", []byte{1, 1, 0, 1, 50, 'a'}},
		{"huge arg length", []byte{1, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"db index too large", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0}},
		{"trailing bytes", append(append([]byte{}, valid...), 0)},
		{"truncated", valid[:len(valid)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := DecodeBatch(tt.data)
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("DecodeBatch(%x) = %v, %v; want ErrBadBatch", tt.data, cmds, err)
			}
		})
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, []Command{{Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}}}))
	f.Add(AppendBatch(nil, []Command{{DB: 2, Args: [][]byte{[]byte("MGET"), []byte("a"), {}}}, {Args: [][]byte{[]byte("X")}}}))
	f.Add(AppendBatch(nil, []Command{WatchGuardCommand(1, []WatchedKey{{DB: 1, Key: []byte("k"), Version: 3}}),
		{Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}}, WatchVersionsCommand(0, [][]byte{[]byte("k")})}))
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := DecodeBatch(data)
		if err != nil {
			return
		}
		// A batch that decodes re-encodes to itself, unless it used a
		// non-minimal varint; decoding that must then give the same.
		again, err := DecodeBatch(AppendBatch(nil, cmds))
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		assertCommandsEqual(t, again, cmds)
		// Applying (and reading with) any decodable batch never panics.
		// Left out: SETRANGE and APPEND (a valid offset may ask for
		// 512 MiB) and HRANDFIELD (a valid count may ask for a million
		// picks): correct, but too slow for fuzzing.
		for _, c := range cmds {
			switch string(bytes.ToLower(c.Args[0])) {
			case "setrange", "append", "hrandfield":
				return
			}
		}
		s, _ := NewStore(Options{Databases: 4})
		for _, c := range cmds {
			s.Exec(c, testNowMs)
		}
		s.Apply([]consensus.Entry{{Index: 1, TimeMs: testNowMs, Data: data}})
		for _, c := range cmds {
			s.Exec(c, testNowMs)
		}
	})
}

func BenchmarkDecodeBatch16(b *testing.B) {
	data := AppendBatch(nil, setBatch(16, 0))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeBatch(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatchInto16 is the applier's decode of a 16-SET entry,
// into the arrays it keeps from entry to entry.
func BenchmarkDecodeBatchInto16(b *testing.B) {
	data := AppendBatch(nil, setBatch(16, 0))
	cmds, args, err := decodeBatchInto(data, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if cmds, args, err = decodeBatchInto(data, cmds, args); err != nil || len(cmds) != 16 {
			b.Fatal(len(cmds), err)
		}
	}
}
