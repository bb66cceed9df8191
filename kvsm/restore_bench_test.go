package kvsm

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// BenchmarkRestore250k restores a snapshot of 250,000 string keys (16-byte
// keys, 32-byte values, as the bench's restart figure uses with 1 M): the
// bulk of a restart once a clean shutdown left a snapshot.
func BenchmarkRestore250k(b *testing.B) {
	s := mustStore(b)
	const keys, perEntry = 250_000, 1000
	for i := range keys / perEntry {
		s.Apply([]consensus.Entry{{Index: uint64(i + 1), TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(perEntry, i))}})
	}
	sr, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := sr.WriteTo(&snap); err != nil {
		b.Fatal(err)
	}
	sr.Close()
	b.ReportAllocs()
	b.SetBytes(int64(snap.Len()))
	for b.Loop() {
		dst := mustStore(b)
		if err := dst.Restore(bytes.NewReader(snap.Bytes())); err != nil {
			b.Fatal(err)
		}
		if dst.DBSize(0) != keys {
			b.Fatalf("restored %d keys", dst.DBSize(0))
		}
	}
}

// handSnapshot encodes a version-2 snapshot of string keys in database 0
// (of DefaultDatabases), in the order given, as doc.go describes it.
func handSnapshot(keys ...string) []byte {
	var b []byte
	b = append(b, snapshotMagic...)
	b = binary.AppendUvarint(b, 2)
	b = binary.AppendUvarint(b, 7) // applied index
	b = binary.AppendUvarint(b, DefaultDatabases)
	for db := range DefaultDatabases {
		b = binary.AppendUvarint(b, uint64(db))
		if db != 0 {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = append(b, snapshotKindStr)
			b = binary.AppendUvarint(b, 0) // deadline
			b = binary.AppendUvarint(b, 3) // modIndex
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(k)+1))
			b = append(b, k+"!"...)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestRestoreKeyOrder: Restore appends keys that come in tree order
// without a search, and still takes keys in any other order (searching,
// and refusing a duplicate).
func TestRestoreKeyOrder(t *testing.T) {
	// Three keys in tree order, whatever their hash order.
	sorted := []string{"alpha", "beta", "gamma"}
	slices.SortFunc(sorted, func(a, b string) int {
		ia, ib := item{order: keyOrder([]byte(a))}, item{order: keyOrder([]byte(b))}
		return cmp.Compare(ia.order, ib.order)
	})
	tests := []struct {
		name    string
		keys    []string
		wantErr string
	}{
		{"tree order", sorted, ""},
		{"reversed", []string{sorted[2], sorted[1], sorted[0]}, ""},
		{"middle first", []string{sorted[1], sorted[0], sorted[2]}, ""},
		{"duplicate in order", []string{sorted[0], sorted[1], sorted[1]}, "duplicate key"},
		{"duplicate out of order", []string{sorted[1], sorted[2], sorted[1]}, "duplicate key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustStore(t)
			err := s.Restore(bytes.NewReader(handSnapshot(tt.keys...)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Restore: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := s.DBSize(0); n != len(tt.keys) {
				t.Fatalf("%d keys restored, want %d", n, len(tt.keys))
			}
			for _, k := range tt.keys {
				r := s.Exec(Command{Args: [][]byte{[]byte("GET"), []byte(k)}}, testNowMs)
				if string(r.Str) != k+"!" {
					t.Errorf("GET %s = %s", k, fmtReply(r, false))
				}
			}
			// The tree is well formed: a scan lists every key once, in order.
			var got []string
			s.dbs[0].keys.Scan(func(it item) bool { got = append(got, it.key()); return true })
			if !slices.Equal(got, sorted[:len(got)]) || len(got) != len(tt.keys) {
				t.Errorf("tree order %v, want %v", got, sorted)
			}
		})
	}
	// A damaged byte is still caught by the checksum (computed per buffer).
	snap := handSnapshot(sorted...)
	snap[len(snap)-10] ^= 0x20
	if err := mustStore(t).Restore(bytes.NewReader(snap)); err == nil {
		t.Error("a damaged snapshot restored")
	}
}
