package wal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// TestConformsToMemoryStorage runs the same random operations on a Log and
// on consensus.MemoryStorage (the core's reference implementation) and
// compares every answer, errors included, so that the core sees the same
// storage semantics in tests and in production.
func TestConformsToMemoryStorage(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			dir := t.TempDir()
			opts := Options{NoSync: true, SegmentBytes: 400, CacheEntriesMax: 6, Logger: quietLogger()}
			l := openLog(t, dir, opts)
			defer func() { l.Close() }()
			ref := consensus.NewMemoryStorage()
			term := uint64(1)
			for step := 0; step < 120; step++ {
				var op string
				var errLog, errRef error
				switch r := rng.IntN(10); {
				case r < 6:
					lo := ref.LastIndex() + 1
					if rng.IntN(3) == 0 {
						lo = ref.FirstIndex() - min(ref.FirstIndex()-1, rng.Uint64N(3)) + rng.Uint64N(ref.LastIndex()-ref.FirstIndex()+2)
						term++
					}
					es := mkEntries(lo, lo+rng.Uint64N(6), term)
					op = fmt.Sprintf("append [%d,%d]", lo, es[len(es)-1].Index)
					errLog, errRef = l.Append(es), ref.Append(es)
				case r < 7:
					from := ref.FirstIndex() - 1 + rng.Uint64N(ref.LastIndex()-ref.FirstIndex()+3)
					op = fmt.Sprintf("truncate suffix %d", from)
					errLog, errRef = l.TruncateSuffix(from), ref.TruncateSuffix(from)
				case r < 8:
					upTo := ref.FirstIndex() - 1 + rng.Uint64N(ref.LastIndex()-ref.FirstIndex()+2)
					upToTerm, err := ref.Term(upTo)
					if err != nil {
						t.Fatal(err)
					}
					op = fmt.Sprintf("truncate prefix %d", upTo)
					errLog, errRef = l.TruncatePrefix(upTo, upToTerm), ref.TruncatePrefix(upTo, upToTerm)
				case r < 9:
					upTo := ref.LastIndex() + 1 + rng.Uint64N(4)
					term++
					op = fmt.Sprintf("install snapshot %d", upTo)
					errLog, errRef = l.TruncatePrefix(upTo, term), ref.TruncatePrefix(upTo, term)
				default:
					op = "reopen"
					closeLog(t, l)
					l = openLog(t, dir, opts)
				}
				if (errLog == nil) != (errRef == nil) {
					t.Fatalf("step %d %s: log error %v, reference error %v", step, op, errLog, errRef)
				}
				compareStorage(t, fmt.Sprintf("step %d %s", step, op), l, ref, rng)
			}
		})
	}
}

func compareStorage(t *testing.T, where string, l *Log, ref *consensus.MemoryStorage, rng *rand.Rand) {
	t.Helper()
	if a, b := l.FirstIndex(), ref.FirstIndex(); a != b {
		t.Fatalf("%s: FirstIndex %d, reference %d", where, a, b)
	}
	if a, b := l.LastIndex(), ref.LastIndex(); a != b {
		t.Fatalf("%s: LastIndex %d, reference %d", where, a, b)
	}
	if a, b := l.LastTerm(), ref.LastTerm(); a != b {
		t.Fatalf("%s: LastTerm %d, reference %d", where, a, b)
	}
	first, last := ref.FirstIndex(), ref.LastIndex()
	lo := first - min(first, 2)
	for i := lo; i <= last+2; i++ {
		a, errA := l.Term(i)
		b, errB := ref.Term(i)
		if a != b || !sameErrorClass(errA, errB) {
			t.Fatalf("%s: Term(%d) = %d, %v; reference %d, %v", where, i, a, errA, b, errB)
		}
		ea, errA := l.Entry(i)
		eb, errB := ref.Entry(i)
		if !sameErrorClass(errA, errB) || errA == nil && !entryEqual(ea, eb) {
			t.Fatalf("%s: Entry(%d) = %+v, %v; reference %+v, %v", where, i, ea, errA, eb, errB)
		}
	}
	for k := 0; k < 5; k++ {
		a := lo + rng.Uint64N(last-lo+3)
		b := lo + rng.Uint64N(last-lo+3)
		maxBytes := rng.IntN(60) - 5
		got, errA := l.Entries(a, b, maxBytes)
		want, errB := ref.Entries(a, b, maxBytes)
		if !sameErrorClass(errA, errB) || len(got) != len(want) {
			t.Fatalf("%s: Entries(%d, %d, %d) = %d entries, %v; reference %d, %v", where, a, b, maxBytes, len(got), errA, len(want), errB)
		}
		for i := range got {
			if !entryEqual(got[i], want[i]) {
				t.Fatalf("%s: Entries(%d, %d, %d)[%d] = %+v, reference %+v", where, a, b, maxBytes, i, got[i], want[i])
			}
		}
	}
}

// sameErrorClass: both nil, or both the same sentinel the core branches on.
func sameErrorClass(a, b error) bool {
	for _, sentinel := range []error{consensus.ErrCompacted, consensus.ErrUnavailable} {
		if errors.Is(a, sentinel) != errors.Is(b, sentinel) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}
