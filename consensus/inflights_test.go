package consensus

import "testing"

func TestInflights(t *testing.T) {
	type op struct {
		add      bool
		index    uint64
		bytes    uint64
		wantFull bool
		wantN    int
	}
	tests := []struct {
		name     string
		maxCount int
		maxBytes uint64
		ops      []op
	}{
		{"count bound", 3, 0, []op{
			{add: true, index: 1, wantN: 1},
			{add: true, index: 2, wantN: 2},
			{add: true, index: 3, wantN: 3, wantFull: true},
			{add: true, index: 4, wantN: 3, wantFull: true}, // ignored when full
			{index: 1, wantN: 2},
			{add: true, index: 5, wantN: 3, wantFull: true},
			{index: 4, wantN: 1}, // frees 2, 3 (and the wrapped slot order holds)
			{index: 9, wantN: 0},
		}},
		{"byte bound", 10, 100, []op{
			{add: true, index: 1, bytes: 60, wantN: 1},
			{add: true, index: 2, bytes: 39, wantN: 2},
			{add: true, index: 3, bytes: 1, wantN: 3, wantFull: true},
			{index: 1, wantN: 2},
		}},
		{"one oversized message fills the window", 10, 100, []op{
			{add: true, index: 7, bytes: 500, wantN: 1, wantFull: true},
			{index: 6, wantN: 1, wantFull: true}, // stale ack frees nothing
			{index: 7, wantN: 0},
		}},
		{"wrap around", 2, 0, []op{
			{add: true, index: 1, wantN: 1},
			{add: true, index: 2, wantN: 2, wantFull: true},
			{index: 1, wantN: 1},
			{add: true, index: 3, wantN: 2, wantFull: true},
			{index: 2, wantN: 1},
			{add: true, index: 4, wantN: 2, wantFull: true},
			{index: 3, wantN: 1},
			{index: 4, wantN: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInflights(tt.maxCount, tt.maxBytes)
			for i, o := range tt.ops {
				if o.add {
					in.add(o.index, o.bytes)
				} else {
					in.freeLE(o.index)
				}
				if in.count != o.wantN || in.full() != o.wantFull {
					t.Fatalf("op %d: count %d full %v, want %d %v", i, in.count, in.full(), o.wantN, o.wantFull)
				}
			}
			var sum uint64
			for k := 0; k < in.count; k++ {
				sum += in.buf[(in.start+k)%len(in.buf)].bytes
			}
			if sum != in.bytes {
				t.Errorf("bytes %d, sum of window %d", in.bytes, sum)
			}
		})
	}
}

func BenchmarkInflightsAddFree(b *testing.B) {
	b.ReportAllocs()
	in := newInflights(256, 0)
	for i := uint64(1); b.Loop(); i++ {
		in.add(i, 100)
		if i%8 == 0 {
			in.freeLE(i)
		}
	}
}
