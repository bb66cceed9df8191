package cmdname

import "fmt"

// NameBytesMax is the longest name a Table holds; longer names are never
// found (no command name comes close).
const NameBytesMax = 32

// firstLetterBuckets is the number of first-letter buckets per length: the
// low five bits of the folded first byte, which tell letters apart.
const firstLetterBuckets = 32

type entry[V any] struct {
	name  string // lower case
	value V
}

// Table maps command names, in any case, to values. The zero Table is
// empty; Add fills it before it is shared.
type Table[V any] struct {
	buckets [NameBytesMax + 1][firstLetterBuckets][]entry[V]
	n       int
}

// fold is the ASCII lower case of ch.
func fold(ch byte) byte {
	if 'A' <= ch && ch <= 'Z' {
		return ch + ('a' - 'A')
	}
	return ch
}

// Add stores value under name (case-insensitive). It refuses an empty
// name, one longer than NameBytesMax, and a duplicate: tables are built
// from static lists, so either is a programming error worth an error at
// start-up.
func (t *Table[V]) Add(name string, value V) error {
	if len(name) == 0 || len(name) > NameBytesMax {
		return fmt.Errorf("cmdname: name %q: length %d not in 1..%d", name, len(name), NameBytesMax)
	}
	lower := []byte(name)
	for i, ch := range lower {
		lower[i] = fold(ch)
	}
	if _, dup := t.Lookup(lower); dup {
		return fmt.Errorf("cmdname: duplicate name %q", name)
	}
	b := &t.buckets[len(lower)][lower[0]%firstLetterBuckets]
	*b = append(*b, entry[V]{name: string(lower), value: value})
	t.n++
	return nil
}

// Len is the number of names in t.
func (t *Table[V]) Len() int { return t.n }

// Lookup returns the value stored under name in any ASCII case.
func (t *Table[V]) Lookup(name []byte) (V, bool) {
	if len(name) == 0 || len(name) > NameBytesMax {
		var zero V
		return zero, false
	}
	candidates := t.buckets[len(name)][fold(name[0])%firstLetterBuckets]
	for i := range candidates {
		if equalFold(name, candidates[i].name) {
			return candidates[i].value, true
		}
	}
	var zero V
	return zero, false
}

// equalFold reports whether b folded to lower case equals lower, which has
// the same length.
func equalFold(b []byte, lower string) bool {
	for i := range len(lower) {
		if fold(b[i]) != lower[i] {
			return false
		}
	}
	return true
}
