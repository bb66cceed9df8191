package kvsm

import (
	"bytes"
	"testing"
)

// TestAppendBatchGrowsOnce: AppendBatch sizes its output exactly (one
// allocation per entry), for every field width, and what it writes decodes
// back, also into reused arrays (decodeBatchInto, as the applier does).
func TestAppendBatchGrowsOnce(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 20000)
	tests := []struct {
		name string
		cmds []Command
	}{
		{"one set", []Command{{Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}}}},
		{"negative db", []Command{{DB: -3, Args: [][]byte{[]byte("GET"), []byte("k")}}}},
		{"db past the max", []Command{{DB: databaseIndexMax + 7, Args: [][]byte{[]byte("GET"), []byte("k")}}}},
		{"db 200, long value", []Command{{DB: 200, Args: [][]byte{[]byte("SET"), []byte("k"), big}}}},
		{"empty argument", []Command{{Args: [][]byte{[]byte("SET"), []byte(""), []byte("")}}}},
		{"pipeline", setBatch(130, 3)},
	}
	var cmdsBuf []Command
	var argsBuf [][]byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := AppendBatch(nil, tt.cmds)
			if len(enc) != batchBytes(tt.cmds) {
				t.Fatalf("encoding %d bytes; batchBytes %d", len(enc), batchBytes(tt.cmds))
			}
			if n := testing.AllocsPerRun(5, func() { AppendBatch(nil, tt.cmds) }); n != 1 && !raceEnabled {
				t.Fatalf("AppendBatch made %v allocations, want 1", n)
			}
			got, args, err := decodeBatchInto(enc, cmdsBuf, argsBuf)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.cmds) {
				t.Fatalf("%d commands decoded, want %d", len(got), len(tt.cmds))
			}
			for i := range got {
				want := tt.cmds[i]
				if want.DB < 0 || want.DB > databaseIndexMax {
					want.DB = databaseIndexMax
				}
				if got[i].DB != want.DB || len(got[i].Args) != len(want.Args) {
					t.Fatalf("command %d: %+v, want %+v", i, got[i], want)
				}
				for j := range want.Args {
					if !bytes.Equal(got[i].Args[j], want.Args[j]) {
						t.Fatalf("command %d arg %d differs", i, j)
					}
				}
			}
			cmdsBuf, argsBuf = got[:0], args[:0] // reused by the next case
		})
	}
}
