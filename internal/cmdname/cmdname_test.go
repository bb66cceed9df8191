package cmdname

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	var tab Table[int]
	names := []string{"get", "set", "getset", "getdel", "hget", "raft.addnode", "__evict", "a", strings.Repeat("x", NameBytesMax)}
	for i, n := range names {
		if err := tab.Add(n, i+1); err != nil {
			t.Fatal(err)
		}
	}
	if tab.Len() != len(names) {
		t.Fatalf("Len = %d, want %d", tab.Len(), len(names))
	}
	tests := []struct {
		name string
		want int // 0: not found
	}{
		{"get", 1},
		{"GET", 1},
		{"gEt", 1},
		{"set", 2},
		{"GETSET", 3},
		{"getDel", 4},
		{"HGET", 5},
		{"RAFT.ADDNODE", 6},
		{"__EVICT", 7},
		{"A", 8},
		{strings.Repeat("X", NameBytesMax), 9},
		{"", 0},
		{"ge", 0},
		{"gets", 0},
		{"gat", 0},
		{"raft,addnode", 0},
		{"get\x00", 0},
		{"g\xc5t", 0}, // not ASCII: never folded
		{"'et", 0},    // same bucket as 'g' (low five bits), other name
		{"GET\r", 0},
		{strings.Repeat("x", NameBytesMax+1), 0},
	}
	for _, tt := range tests {
		got, ok := tab.Lookup([]byte(tt.name))
		if ok != (tt.want != 0) || got != tt.want {
			t.Errorf("Lookup(%q) = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.want != 0)
		}
	}
}

func TestAddRefuses(t *testing.T) {
	var tab Table[int]
	if err := tab.Add("get", 1); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "GET", "get", strings.Repeat("y", NameBytesMax+1)} {
		if err := tab.Add(name, 2); err == nil {
			t.Errorf("Add(%q) succeeded", name)
		}
	}
	if v, _ := tab.Lookup([]byte("get")); v != 1 {
		t.Errorf("a refused Add replaced the value: %d", v)
	}
}

// FuzzLookup: the table agrees with a map of lower-cased names.
func FuzzLookup(f *testing.F) {
	names := []string{"get", "set", "mget", "hincrbyfloat", "client", "config", "raft.status", "@x", "`x"}
	var tab Table[string]
	ref := map[string]string{}
	for _, n := range names {
		if err := tab.Add(n, n); err != nil {
			f.Fatal(err)
		}
		ref[n] = n
	}
	for _, n := range append(names, "GET", "Hincrbyfloat", "@X", "`X", "") {
		f.Add([]byte(n))
	}
	f.Fuzz(func(t *testing.T, name []byte) {
		lower := make([]byte, len(name))
		for i, ch := range name {
			lower[i] = fold(ch)
		}
		want, wantOK := ref[string(lower)]
		got, ok := tab.Lookup(name)
		if got != want || ok != wantOK {
			t.Fatalf("Lookup(%q) = %q, %v; map says %q, %v", name, got, ok, want, wantOK)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	var tab Table[int]
	for i, n := range []string{"get", "set", "getset", "getdel", "hget", "hset", "incr", "del", "mget", "mset", "ping", "exists"} {
		if err := tab.Add(n, i); err != nil {
			b.Fatal(err)
		}
	}
	names := [][]byte{[]byte("GET"), []byte("set"), []byte("HGET"), []byte("incr")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := tab.Lookup(names[i&3]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}
