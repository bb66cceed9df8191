package wal

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		e        consensus.Entry
		batchPos uint64
	}{
		{"noop", consensus.Entry{Term: 1, Index: 1, Type: consensus.EntryNoop}, 0},
		{"normal", consensus.Entry{Term: 7, Index: 300, Type: consensus.EntryNormal, TimeMs: 1700000000000, Data: []byte("set k v")}, 5},
		{"conf change", consensus.Entry{Term: 2, Index: 9, Type: consensus.EntryConfChange, TimeMs: -5, Data: []byte{0, 1, 2}}, 8},
		{"extremes", consensus.Entry{Term: math.MaxUint64, Index: math.MaxUint64, TimeMs: math.MinInt64, Data: bytes.Repeat([]byte{0xff}, 1000)}, math.MaxUint64 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := appendRecord([]byte("prefix"), &tt.e, tt.batchPos)[len("prefix"):]
			got, pos, err := decodeRecord(rec)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !entryEqual(got, tt.e) || pos != tt.batchPos {
				t.Fatalf("decoded %+v pos %d, want %+v pos %d", got, pos, tt.e, tt.batchPos)
			}
			// Every single-bit flip and every truncation must be caught.
			for i := range rec {
				for bit := 0; bit < 8; bit++ {
					bad := append([]byte{}, rec...)
					bad[i] ^= 1 << bit
					if _, _, err := decodeRecord(bad); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("bit %d of byte %d flipped: %v, want ErrCorrupt", bit, i, err)
					}
				}
				if _, _, err := decodeRecord(rec[:i]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("cut at %d: %v, want ErrCorrupt", i, err)
				}
			}
		})
	}
}

func TestRecordRejectsBadFields(t *testing.T) {
	tests := []struct {
		name     string
		e        consensus.Entry
		batchPos uint64
	}{
		{"index zero", consensus.Entry{Term: 1, Index: 0}, 0},
		{"batch position past index", consensus.Entry{Term: 1, Index: 3}, 3},
		{"unknown type", consensus.Entry{Term: 1, Index: 3, Type: 9}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := appendRecord(nil, &tt.e, tt.batchPos) // valid CRC, bad content
			if _, _, err := decodeRecord(rec); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode: %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, e := range []consensus.Entry{
		{Term: 1, Index: 1, Type: consensus.EntryNoop},
		{Term: 3, Index: 1000, TimeMs: 1700000000000, Data: []byte("hello")},
	} {
		f.Add(appendRecord(nil, &e, 0))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 9))
	f.Fuzz(func(t *testing.T, rec []byte) {
		e, pos, err := decodeRecord(rec)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// A record that decodes must survive a round trip unchanged.
		re := appendRecord(nil, &e, pos)
		e2, pos2, err := decodeRecord(re)
		if err != nil || !entryEqual(e, e2) || pos != pos2 {
			t.Fatalf("round trip: %+v pos %d -> %+v pos %d, %v", e, pos, e2, pos2, err)
		}
		if e.Index == 0 || pos >= e.Index {
			t.Fatalf("accepted index %d with batch position %d", e.Index, pos)
		}
	})
}
