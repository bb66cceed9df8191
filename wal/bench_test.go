package wal

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// BenchmarkAppend measures one Append call (one batch, one fsync unless
// NoSync) of n entries of 100 bytes each.
func BenchmarkAppend(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		for _, n := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("fsync=%v/entries=%d", !noSync, n), func(b *testing.B) {
				l, err := Open(b.TempDir(), Options{NoSync: noSync, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				data := make([]byte, 100)
				batch := make([]consensus.Entry, n)
				next := uint64(1)
				b.ReportAllocs()
				b.SetBytes(int64(n * len(data)))
				b.ResetTimer()
				for b.Loop() {
					for i := range batch {
						batch[i] = consensus.Entry{Term: 1, Index: next, TimeMs: 1700000000000, Data: data}
						next++
					}
					if err := l.Append(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// BenchmarkEntriesCached measures the follower hot path: reading the newest
// entries, served from the tail cache.
func BenchmarkEntriesCached(b *testing.B) {
	l, err := Open(b.TempDir(), Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	mustAppendB(b, l, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Entries(1000, 1025, 64<<10); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTermCached measures Term, which the core calls on every message.
func BenchmarkTermCached(b *testing.B) {
	l, err := Open(b.TempDir(), Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	mustAppendB(b, l, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Term(1000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEntriesDisk measures reads that miss the cache and decode.
func BenchmarkEntriesDisk(b *testing.B) {
	l, err := Open(b.TempDir(), Options{NoSync: true, CacheEntriesMax: 1, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	mustAppendB(b, l, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Entries(100, 116, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func mustAppendB(b *testing.B, l *Log, n int) {
	b.Helper()
	es := make([]consensus.Entry, n)
	for i := range es {
		es[i] = consensus.Entry{Term: 1, Index: uint64(i + 1), Data: make([]byte, 100)}
	}
	if err := l.Append(es); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendLatency reports the latency distribution of synced Appends
// (16 entries of 100 bytes) with small segments, so that rotations (and the
// preparer's zero-fill and fsync beside the appends) happen every ~120
// Appends, and with large ones that rarely rotate.
func BenchmarkAppendLatency(b *testing.B) {
	for _, segBytes := range []int{256 << 10, 16 << 20} {
		b.Run(fmt.Sprintf("segment=%dKiB", segBytes>>10), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{SegmentBytes: segBytes, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			data := make([]byte, 100)
			batch := make([]consensus.Entry, 16)
			next := uint64(1)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range batch {
					batch[i] = consensus.Entry{Term: 1, Index: next, Data: data}
					next++
				}
				start := time.Now()
				if err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(pct(0.5), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
			b.ReportMetric(pct(1), "max-µs")
			b.ReportMetric(float64(len(l.segs)), "segments")
		})
	}
}
