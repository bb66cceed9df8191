package consensus

import (
	"errors"
	"slices"
	"testing"
)

// newTestLog returns a raftLog whose storage holds entries of storedTerms
// from index 1 (after a compaction to compactedTo) and whose unstable part
// holds unstableTerms from unstableFrom.
func newTestLog(t *testing.T, compactedTo uint64, storedTerms []uint64, unstableFrom uint64, unstableTerms []uint64) *raftLog {
	t.Helper()
	st := storageWith(t, 0, storedTerms...)
	if compactedTo > 0 {
		term, err := st.Term(compactedTo)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.TruncatePrefix(compactedTo, term); err != nil {
			t.Fatal(err)
		}
	}
	l := &raftLog{storage: st, unstableOffset: st.LastIndex() + 1}
	var ents []Entry
	for i, tm := range unstableTerms {
		ents = append(ents, Entry{Index: unstableFrom + uint64(i), Term: tm, Data: []byte("xy")})
	}
	l.append(ents)
	return l
}

func TestLogTermAndBounds(t *testing.T) {
	// Stored 1..5 (terms 1 1 2 2 3) compacted to 2; unstable 5..6 at term 4
	// (overwriting stored 5).
	l := newTestLog(t, 2, []uint64{1, 1, 2, 2, 3}, 5, []uint64{4, 4})
	tests := []struct {
		index   uint64
		want    uint64
		wantErr error
	}{
		{1, 0, ErrCompacted},
		{2, 1, nil}, // the compaction point keeps its term
		{3, 2, nil},
		{4, 2, nil},
		{5, 4, nil}, // unstable wins over the stored entry it replaces
		{6, 4, nil},
		{7, 0, ErrUnavailable},
	}
	for _, tt := range tests {
		got, err := l.term(tt.index)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("term(%d) = %d, %v; want %d, %v", tt.index, got, err, tt.want, tt.wantErr)
		}
	}
	if l.firstIndex() != 3 || l.lastIndex() != 6 || l.lastTerm() != 4 {
		t.Errorf("first %d last %d lastTerm %d, want 3 6 4", l.firstIndex(), l.lastIndex(), l.lastTerm())
	}
}

func TestLogEntriesAcrossStorageAndUnstable(t *testing.T) {
	// Stored 1..3 (no Data), unstable 4..6 (2 bytes of Data each).
	l := newTestLog(t, 0, []uint64{1, 1, 1}, 4, []uint64{2, 2, 2})
	tests := []struct {
		lo, hi, maxBytes uint64
		want             []uint64
		wantErr          error
	}{
		{1, 7, 0, []uint64{1, 2, 3, 4, 5, 6}, nil},
		{2, 5, 0, []uint64{2, 3, 4}, nil},
		{4, 7, 3, []uint64{4}, nil},    // 2+2 > 3
		{4, 7, 4, []uint64{4, 5}, nil}, // exactly 4
		{1, 7, 4, []uint64{1, 2, 3, 4, 5}, nil},
		{5, 7, 1, []uint64{5}, nil}, // at least one
		{0, 2, 0, nil, ErrCompacted},
		{5, 8, 0, nil, ErrUnavailable},
		{3, 3, 0, nil, nil},
	}
	for _, tt := range tests {
		ents, err := l.entries(tt.lo, tt.hi, tt.maxBytes)
		var got []uint64
		for _, e := range ents {
			got = append(got, e.Index)
		}
		if !slices.Equal(got, tt.want) || !errors.Is(err, tt.wantErr) {
			t.Errorf("entries(%d,%d,%d) = %v, %v; want %v, %v", tt.lo, tt.hi, tt.maxBytes, got, err, tt.want, tt.wantErr)
		}
	}
}

// A truncation of the unstable log must not write into arrays that
// messages already handed out still hold.
func TestLogAppendDoesNotClobberHandedOutSlices(t *testing.T) {
	l := newTestLog(t, 0, nil, 1, []uint64{1, 1, 1})
	out, err := l.entries(1, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.append([]Entry{{Index: 2, Term: 5}})
	if out[1].Term != 1 || out[2].Term != 1 {
		t.Fatalf("handed-out entries changed to terms %d %d", out[1].Term, out[2].Term)
	}
	if got, _ := l.term(2); got != 5 || l.lastIndex() != 2 {
		t.Fatalf("after truncation: term(2) %d last %d, want 5 and 2", got, l.lastIndex())
	}
}

func TestLogFindConflict(t *testing.T) {
	l := newTestLog(t, 0, []uint64{1, 2, 3}, 4, nil)
	tests := []struct {
		ents []Entry
		want uint64
	}{
		{nil, 0},
		{[]Entry{{Index: 1, Term: 1}, {Index: 2, Term: 2}}, 0},
		{[]Entry{{Index: 2, Term: 2}, {Index: 3, Term: 3}, {Index: 4, Term: 4}}, 4},
		{[]Entry{{Index: 2, Term: 9}}, 2},
		{[]Entry{{Index: 3, Term: 4}, {Index: 4, Term: 4}}, 3},
	}
	for i, tt := range tests {
		if got := l.findConflict(tt.ents); got != tt.want {
			t.Errorf("#%d: findConflict = %d, want %d", i, got, tt.want)
		}
	}
}

func TestLogFindConflictByTerm(t *testing.T) {
	// Terms 1 1 3 3 5 at indexes 1..5, compacted to 2.
	l := newTestLog(t, 2, []uint64{1, 1, 3, 3, 5}, 6, nil)
	tests := []struct {
		index, term         uint64
		wantIndex, wantTerm uint64
	}{
		{5, 5, 5, 5},
		{5, 4, 4, 3},
		{5, 2, 2, 1},
		{5, 0, 1, 0}, // stops below the compaction point: term unknown
		{3, 3, 3, 3},
	}
	for _, tt := range tests {
		gotI, gotT := l.findConflictByTerm(tt.index, tt.term)
		if gotI != tt.wantIndex || gotT != tt.wantTerm {
			t.Errorf("findConflictByTerm(%d,%d) = %d,%d; want %d,%d", tt.index, tt.term, gotI, gotT, tt.wantIndex, tt.wantTerm)
		}
	}
}

func TestLogStableTo(t *testing.T) {
	tests := []struct {
		name        string
		index, term uint64
		wantOK      bool
		wantOffset  uint64
	}{
		{"all", 3, 1, true, 4},
		{"prefix", 2, 1, true, 3},
		{"wrong term", 3, 2, false, 1},
		{"past the end", 4, 1, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLog(t, 0, nil, 1, []uint64{1, 1, 1})
			if ok := l.stableTo(tt.index, tt.term); ok != tt.wantOK || l.unstableOffset != tt.wantOffset {
				t.Errorf("stableTo = %v offset %d, want %v %d", ok, l.unstableOffset, tt.wantOK, tt.wantOffset)
			}
		})
	}
}

func TestMemoryStorage(t *testing.T) {
	st := storageWith(t, 0, 1, 1, 2, 2)
	if err := st.Append([]Entry{{Index: 3, Term: 3}}); err != nil {
		t.Fatal(err)
	}
	if st.LastIndex() != 3 || st.LastTerm() != 3 {
		t.Fatalf("append over a suffix: last %d/%d, want 3/3", st.LastIndex(), st.LastTerm())
	}
	if err := st.Append([]Entry{{Index: 9, Term: 3}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append with a gap: %v", err)
	}
	if err := st.TruncatePrefix(2, 1); err != nil {
		t.Fatal(err)
	}
	if st.FirstIndex() != 3 {
		t.Fatalf("first %d after truncating to 2", st.FirstIndex())
	}
	if tm, err := st.Term(2); tm != 1 || err != nil {
		t.Fatalf("Term(first-1) = %d, %v", tm, err)
	}
	if _, err := st.Entry(2); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entry(compacted): %v", err)
	}
	if err := st.TruncateSuffix(3); err != nil || st.LastIndex() != 2 {
		t.Fatalf("truncate suffix: %v, last %d", err, st.LastIndex())
	}
	st.ApplySnapshot(SnapshotMeta{Index: 10, Term: 4})
	if st.FirstIndex() != 11 || st.LastIndex() != 10 || st.LastTerm() != 4 {
		t.Fatalf("after snapshot: first %d last %d term %d", st.FirstIndex(), st.LastIndex(), st.LastTerm())
	}
	snaps := &MemorySnapshots{}
	snaps.Save(SnapshotMeta{Index: 10}, []byte("abcde"))
	var got []byte
	for off, done := uint64(0), false; !done; {
		chunk, d, err := snaps.ReadChunk(10, off, 2)
		if err != nil {
			t.Fatal(err)
		}
		got, off, done = append(got, chunk...), off+uint64(len(chunk)), d
	}
	if string(got) != "abcde" {
		t.Fatalf("chunks reassemble to %q", got)
	}
	if _, _, err := snaps.ReadChunk(9, 0, 2); err == nil {
		t.Fatal("reading a snapshot not held did not fail")
	}
}

// A learner receives the log but neither votes in elections nor counts
// towards commit.
func TestLearnerDoesNotCount(t *testing.T) {
	st := NewMemoryStorage()
	r, err := NewRaft(Config{ID: 1, Voters: []NodeID{1, 2}, Learners: []NodeID{3}, ElectionTicks: 10, Log: st})
	if err != nil {
		t.Fatal(err)
	}
	tickUntil(t, r, 30, func() bool { return r.role == RoleCandidate })
	step(t, r, Message{From: 3, Type: MsgVoteResp, Term: r.term})
	if r.role == RoleLeader {
		t.Fatal("a learner's vote made a leader")
	}
	step(t, r, Message{From: 2, Type: MsgVoteResp, Term: r.term})
	if r.role != RoleLeader {
		t.Fatalf("role %v with both voters' votes", r.role)
	}
	msgs := drain(t, r)
	if len(msgsOfType(msgs, MsgApp)) != 2 {
		t.Fatalf("MsgApps %+v, want to 2 and the learner 3", msgs)
	}
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 1})
	if r.log.committed != 0 {
		t.Fatalf("committed %d on the learner's ack", r.log.committed)
	}
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
	if r.log.committed != 1 {
		t.Fatalf("committed %d on the voter's ack", r.log.committed)
	}
}

// A snapshot that covers nothing new is not installed; the follower tells
// the leader where it is.
func TestStaleSnapshotIgnored(t *testing.T) {
	st := storageWith(t, 2, 1, 1, 2)
	_ = st.SaveHardState(HardState{Term: 2, Commit: 3})
	r := newTestRaft(t, 2, ids3, st)
	step(t, r, Message{From: 1, Type: MsgSnap, Term: 2, Snapshot: SnapshotMeta{Index: 2, Term: 1}, Data: []byte("s"), SnapDone: true})
	rd := r.Ready()
	if rd.Snapshot != nil {
		t.Fatal("a stale snapshot was installed")
	}
	resp := msgsOfType(rd.MessagesAfterPersist, MsgAppResp)
	if len(resp) != 1 || resp[0].Index != 3 || resp[0].Reject {
		t.Fatalf("responses %+v, want MsgAppResp at 3", resp)
	}
}
