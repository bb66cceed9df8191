package wal

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

var modelSteps = flag.Int("wal.modelsteps", 150, "steps per seed in TestAgainstModel")

// TestAgainstModel drives the log with random appends (with conflicting
// suffixes), truncations, compactions and reopens, and compares it after
// every step with a plain slice that does the same.
func TestAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			dir := t.TempDir()
			opts := Options{NoSync: true, SegmentBytes: 300, CacheEntriesMax: 5, CacheBytesMax: 200, Logger: quietLogger()}
			l := openLog(t, dir, opts)
			defer func() { l.Close() }()
			var (
				model    []consensus.Entry // entries first..last
				first    = uint64(1)
				snapTerm uint64
				term     = uint64(1)
			)
			last := func() uint64 { return first + uint64(len(model)) - 1 }
			for step := 0; step < *modelSteps; step++ {
				var op string
				switch r := rng.IntN(20); {
				case r < 12:
					from := last() + 1
					if len(model) > 0 && rng.IntN(3) == 0 {
						from = first + rng.Uint64N(uint64(len(model)))
						term++
					}
					n := 1 + rng.Uint64N(8)
					es := mkEntries(from, from+n-1, term)
					op = fmt.Sprintf("append [%d,%d] term %d", from, from+n-1, term)
					mustAppend(t, l, es)
					model = append(model[:from-first], es...)
				case r < 14:
					from := first + rng.Uint64N(uint64(len(model))+1)
					op = fmt.Sprintf("truncate suffix from %d", from)
					if err := l.TruncateSuffix(from); err != nil {
						t.Fatalf("step %d: %s: %v", step, op, err)
					}
					model = model[:from-first]
				case r < 16:
					if len(model) == 0 {
						continue
					}
					upTo := first + rng.Uint64N(uint64(len(model)))
					upToTerm := model[upTo-first].Term
					op = fmt.Sprintf("truncate prefix to %d term %d", upTo, upToTerm)
					if err := l.TruncatePrefix(upTo, upToTerm); err != nil {
						t.Fatalf("step %d: %s: %v", step, op, err)
					}
					model = model[upTo-first+1:]
					first, snapTerm = upTo+1, upToTerm
				case r < 17:
					// A snapshot from a leader beyond our log.
					upTo := last() + 1 + rng.Uint64N(5)
					term++
					op = fmt.Sprintf("install snapshot at %d term %d", upTo, term)
					if err := l.TruncatePrefix(upTo, term); err != nil {
						t.Fatalf("step %d: %s: %v", step, op, err)
					}
					model, first, snapTerm = nil, upTo+1, term
				default:
					op = "reopen"
					closeLog(t, l)
					l = openLog(t, dir, opts)
				}
				checkLog(t, l, first, model)
				checkSegmentMirror(t, l)
				if got, err := l.Term(first - 1); err != nil || got != snapTerm {
					t.Fatalf("step %d (%s): Term(first-1=%d) = %d, %v; want %d", step, op, first-1, got, err, snapTerm)
				}
				if len(model) == 0 && l.LastTerm() != snapTerm {
					t.Fatalf("step %d (%s): LastTerm of empty log %d, want %d", step, op, l.LastTerm(), snapTerm)
				}
			}
		})
	}
}

// TestConcurrentReadersDuringAppends checks (under -race) that readers
// always see a consistent log while a writer appends, overwrites and
// compacts.
func TestConcurrentReadersDuringAppends(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{NoSync: true, SegmentBytes: 2000, CacheEntriesMax: 16, Logger: quietLogger()})
	defer closeLog(t, l)
	mustAppend(t, l, mkEntries(1, 10, 1))
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				first, last := l.FirstIndex(), l.LastIndex()
				if last < first {
					continue
				}
				es, err := l.Entries(first, last+1, 0)
				if err != nil {
					continue // compacted or truncated meanwhile
				}
				for i, e := range es {
					want := fmt.Sprintf("entry-%d-term-%d", e.Index, e.Term)
					if e.Index != first+uint64(i) || string(e.Data) != want {
						errs <- fmt.Errorf("entry at %d: index %d data %q", first+uint64(i), e.Index, e.Data)
						return
					}
				}
			}
		}()
	}
	term := uint64(1)
	for i := 0; i < 200; i++ {
		last := l.LastIndex()
		from := last + 1
		if i%7 == 0 {
			from = last - 2
			term++
		}
		if err := l.Append(mkEntries(from, from+4, term)); err != nil {
			t.Fatal(err)
		}
		if i%25 == 24 {
			upTo := l.LastIndex() - 5
			tm, err := l.Term(upTo)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.TruncatePrefix(upTo, tm); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// checkSegmentMirror compares what the Log believes about its segments
// (names, record offsets, where the records end) with the disk, and checks
// the invariant that makes overwriting safe: after the last record of every
// segment there are only zeros, so no stale record can reappear.
func checkSegmentMirror(t *testing.T, l *Log) {
	t.Helper()
	firsts, err := listSegmentFiles(l.segDir)
	if err != nil {
		t.Fatal(err)
	}
	var believed []uint64
	for _, s := range l.segs {
		believed = append(believed, s.first)
	}
	if !slices.Equal(firsts, believed) {
		t.Fatalf("segments on disk %v, Log believes %v", firsts, believed)
	}
	for _, s := range l.segs {
		data, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		offsets, good, bad := scanRecords(data, s.first)
		if bad != nil {
			t.Fatalf("%s: %v", s.path, bad)
		}
		if int64(good) != s.end || !slices.Equal(offsets, s.offsets) {
			t.Fatalf("%s: records end at %d with offsets %v, Log believes %d and %v", s.path, good, offsets, s.end, s.offsets)
		}
	}
}
