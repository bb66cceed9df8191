package consensus

import "testing"

func TestProgressMaybeDecrTo(t *testing.T) {
	tests := []struct {
		name           string
		state          ProgressState
		match, next    uint64
		rejected, hint uint64
		wantOK         bool
		wantNext       uint64
	}{
		{"replicate: stale rejection", StateReplicate, 5, 10, 5, 5, false, 10},
		{"replicate: back to match+1", StateReplicate, 5, 10, 9, 9, true, 6},
		{"probe: not the probe in flight", StateProbe, 0, 10, 5, 5, false, 10},
		{"probe: hint below rejected", StateProbe, 0, 10, 9, 3, true, 4},
		{"probe: hint above rejected is capped", StateProbe, 0, 10, 9, 20, true, 9},
		{"probe: never below match+1", StateProbe, 5, 10, 9, 2, true, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProgress(tt.next, 4, 0, false)
			p.state, p.match, p.probeSent = tt.state, tt.match, true
			if ok := p.maybeDecrTo(tt.rejected, tt.hint); ok != tt.wantOK {
				t.Errorf("maybeDecrTo = %v, want %v", ok, tt.wantOK)
			}
			if p.next != tt.wantNext {
				t.Errorf("next = %d, want %d", p.next, tt.wantNext)
			}
			if tt.wantOK && tt.state == StateProbe && p.probeSent {
				t.Errorf("probe still paused after a rejection")
			}
		})
	}
}

func TestProgressPausedAndUpdate(t *testing.T) {
	p := newProgress(6, 2, 0, false)
	if p.paused() {
		t.Fatal("fresh probe is paused")
	}
	p.probeSent = true
	if !p.paused() {
		t.Fatal("probe with a message in flight is not paused")
	}
	if !p.maybeUpdate(5) || p.match != 5 || p.next != 6 || p.paused() {
		t.Fatalf("after update to 5: match %d next %d paused %v", p.match, p.next, p.paused())
	}
	if p.maybeUpdate(4) {
		t.Fatal("update backwards reported progress")
	}
	p.becomeReplicate()
	p.inflights.add(7, 1)
	p.inflights.add(8, 1)
	if !p.paused() {
		t.Fatal("replicate with a full window is not paused")
	}
	p.becomeSnapshot(SnapshotMeta{Index: 20, Term: 3})
	if !p.paused() {
		t.Fatal("snapshot state is not paused")
	}
	p.becomeProbe()
	if p.next != 21 {
		t.Fatalf("probe after snapshot: next %d, want 21", p.next)
	}
}

// A replicating follower whose match does not move for
// replicateStallHeartbeats heartbeat intervals with answers, with entries
// outstanding, is reported stalled; progress or nothing outstanding resets
// the count, and more answers within one interval (read rounds) add
// nothing.
func TestProgressStallDetection(t *testing.T) {
	const interval = 10
	every := []uint64{0, 10, 20, 30, 40, 50, 60, 70}
	tests := []struct {
		name    string
		matches []uint64 // match at each heartbeat answer
		ticks   []uint64 // tick of each answer
		next    uint64
		want    []bool
	}{
		{"stuck with entries outstanding", []uint64{3, 3, 3, 3}, every, 10, []bool{false, false, false, true}},
		{"moving", []uint64{3, 4, 5, 6}, every, 10, []bool{false, false, false, false}},
		{"nothing outstanding", []uint64{9, 9, 9, 9}, every, 10, []bool{false, false, false, false}},
		{"progress resets the count", []uint64{3, 3, 3, 4, 4, 4}, every, 10, []bool{false, false, false, false, false, false}},
		{"read rounds within one interval", []uint64{3, 3, 3, 3, 3, 3, 3, 3}, []uint64{0, 1, 2, 3, 4, 5, 6, 7}, 10,
			[]bool{false, false, false, false, false, false, false, false}},
		{"stuck across intervals, read rounds between", []uint64{3, 3, 3, 3, 3, 3, 3}, []uint64{0, 1, 2, 10, 11, 20, 30}, 10,
			[]bool{false, false, false, false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProgress(1, 4, 0, false)
			p.becomeReplicate()
			for i, m := range tt.matches {
				p.match, p.next = m, tt.next
				if got := p.heartbeatAnswered(tt.ticks[i], interval); got != tt.want[i] {
					t.Fatalf("answer %d (match %d): stalled %v, want %v", i, m, got, tt.want[i])
				}
			}
		})
	}
}
