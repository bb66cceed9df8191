package consensus

import "testing"

func TestCommittedIndex(t *testing.T) {
	tests := []struct {
		name    string
		matches []uint64
		want    uint64
	}{
		{"no voters", nil, 0},
		{"one voter", []uint64{5}, 5},
		{"two voters need both", []uint64{5, 3}, 3},
		{"three voters, median", []uint64{1, 9, 4}, 4},
		{"three voters, two ahead", []uint64{7, 7, 2}, 7},
		{"four voters need three", []uint64{10, 8, 6, 4}, 6},
		{"five voters need three", []uint64{1, 2, 3, 4, 5}, 3},
		{"five voters all zero", []uint64{0, 0, 0, 0, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := committedIndex(append([]uint64(nil), tt.matches...)); got != tt.want {
				t.Errorf("committedIndex(%v) = %d, want %d", tt.matches, got, tt.want)
			}
		})
	}
}

func TestTallyVotes(t *testing.T) {
	tests := []struct {
		n, granted, rejected int
		want                 voteResult
	}{
		{1, 1, 0, voteWon},
		{3, 1, 0, votePending},
		{3, 2, 0, voteWon},
		{3, 1, 1, votePending},
		{3, 1, 2, voteLost},
		{4, 2, 1, votePending},
		{4, 2, 2, voteLost},
		{4, 3, 1, voteWon},
		{5, 2, 2, votePending},
		{5, 2, 3, voteLost},
	}
	for _, tt := range tests {
		if got := tallyVotes(tt.n, tt.granted, tt.rejected); got != tt.want {
			t.Errorf("tallyVotes(n=%d, granted=%d, rejected=%d) = %d, want %d", tt.n, tt.granted, tt.rejected, got, tt.want)
		}
	}
}

func BenchmarkCommittedIndex5(b *testing.B) {
	b.ReportAllocs()
	m := make([]uint64, 5)
	for i := 0; b.Loop(); i++ {
		m[0], m[1], m[2], m[3], m[4] = uint64(i), uint64(i+3), uint64(i+1), uint64(i+4), uint64(i+2)
		if committedIndex(m) != uint64(i+2) {
			b.Fatal("wrong index")
		}
	}
}
