package kvsm

import (
	"bytes"
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
