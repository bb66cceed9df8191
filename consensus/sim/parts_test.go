package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/consensus"
)

func TestPacketQueueOrdersByStepThenSendOrder(t *testing.T) {
	tests := []struct {
		name  string
		steps []int64 // delivery step of each pushed packet, in push order
		want  []uint64
	}{
		{"sorted", []int64{1, 2, 3}, []uint64{1, 2, 3}},
		{"reversed", []int64{3, 2, 1}, []uint64{3, 2, 1}},
		{"ties keep send order", []int64{5, 5, 1, 5}, []uint64{3, 1, 2, 4}},
		{"mixed", []int64{9, 1, 4, 1, 7, 4}, []uint64{2, 4, 3, 6, 5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q packetQueue
			for i, st := range tt.steps {
				q.push(packet{deliverStep: st, seq: uint64(i + 1)})
			}
			var got []uint64
			for q.len() > 0 {
				got = append(got, q.pop().seq)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("popped %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("popped %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestNetworkPartitionShapes(t *testing.T) {
	tests := []struct {
		name   string
		mode   PartitionMode
		nodes  int
		leader consensus.NodeID
		check  func(t *testing.T, nw *network)
	}{
		{"isolate leader cuts it both ways and nobody else", PartitionIsolateLeader, 5, 3, func(t *testing.T, nw *network) {
			t.Helper()
			for i := 1; i <= 5; i++ {
				for j := 1; j <= 5; j++ {
					want := i != j && (i == 3 || j == 3)
					if nw.cut[i][j] != want {
						t.Errorf("cut[%d][%d] = %v, want %v", i, j, nw.cut[i][j], want)
					}
				}
			}
		}},
		{"leader minority keeps the leader with fewer than half", PartitionLeaderMinority, 5, 2, func(t *testing.T, nw *network) {
			t.Helper()
			reach := 1
			for j := 1; j <= 5; j++ {
				if j != 2 && !nw.cut[2][j] {
					reach++
				}
			}
			if reach > 2 {
				t.Errorf("leader's side has %d nodes, want a minority of 5", reach)
			}
		}},
		{"bridge talks to everyone", PartitionBridge, 5, 1, func(t *testing.T, nw *network) {
			t.Helper()
			for b := 1; b <= 5; b++ {
				all := true
				for j := 1; j <= 5; j++ {
					if nw.cut[b][j] || nw.cut[j][b] {
						all = false
					}
				}
				if all {
					return
				}
			}
			t.Errorf("no node can reach every other: %s", nw.describe())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := NetworkOptions{CapacityPackets: 16}
			nw := newNetwork(&opts, rand.New(rand.NewPCG(1, 2)), tt.nodes)
			nw.partition(tt.mode, tt.leader)
			tt.check(t, nw)
			nw.heal()
			if d := nw.describe(); d != "none" {
				t.Errorf("after heal cuts remain: %s", d)
			}
		})
	}
}

func TestNetworkDropsCutAndLostPackets(t *testing.T) {
	tests := []struct {
		name    string
		loss    int
		cut     bool
		want    sendVerdict
		queued  int
		capPkts int
	}{
		{"delivers", 0, false, verdictQueued, 1, 8},
		{"cut link", 0, true, verdictCut, 0, 8},
		{"total loss", 100, false, verdictLost, 0, 8},
		{"full queue", 0, false, verdictFull, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := NetworkOptions{LossPercent: tt.loss, CapacityPackets: tt.capPkts, DelayMinSteps: 2, DelayMaxSteps: 2}
			nw := newNetwork(&opts, rand.New(rand.NewPCG(1, 2)), 3)
			nw.cut[1][2] = tt.cut
			got := nw.send(10, consensus.Message{Type: consensus.MsgApp, From: 1, To: 2})
			if got != tt.want || nw.queue.len() != tt.queued {
				t.Fatalf("verdict %d with %d queued, want %d with %d", got, nw.queue.len(), tt.want, tt.queued)
			}
			if tt.queued == 1 {
				if _, ok := nw.due(11); ok {
					t.Fatal("packet delivered before its delay")
				}
				if p, ok := nw.due(12); !ok || p.msg.To != 2 {
					t.Fatalf("packet not delivered at step 12: %v %+v", ok, p)
				}
			}
		})
	}
}

func entries(from uint64, terms ...uint64) []consensus.Entry {
	out := make([]consensus.Entry, len(terms))
	for i, term := range terms {
		out[i] = consensus.Entry{Index: from + uint64(i), Term: term, Data: []byte{byte(i), byte(term)}}
	}
	return out
}

func TestCheckerCatchesViolations(t *testing.T) {
	type action func(c *checker) error
	appendTo := func(id consensus.NodeID, es []consensus.Entry) action {
		return func(c *checker) error { return c.appendEntries(id, es) }
	}
	lead := func(id consensus.NodeID, term uint64) action {
		return func(c *checker) error { return c.becameLeader(id, term) }
	}
	apply := func(id consensus.NodeID, nodeTerm uint64, e consensus.Entry) action {
		return func(c *checker) error { return c.applied(id, nodeTerm, &e) }
	}
	tests := []struct {
		name    string
		actions []action
		wantErr bool
	}{
		{"healthy replication", []action{
			lead(1, 1), appendTo(1, entries(1, 1, 1)), appendTo(2, entries(1, 1, 1)),
			apply(1, 1, entries(1, 1)[0]), apply(2, 1, entries(1, 1)[0]), lead(2, 2),
		}, false},
		{"two leaders in one term", []action{lead(1, 3), lead(2, 3)}, true},
		{"a second node sends AppendEntries in a led term", []action{
			lead(1, 3), func(c *checker) error {
				return c.leaderMessage(&consensus.Message{Type: consensus.MsgApp, From: 2, To: 1, Term: 3})
			},
		}, true},
		{"votes are not leader messages", []action{
			lead(1, 3), func(c *checker) error {
				return c.leaderMessage(&consensus.Message{Type: consensus.MsgVote, From: 2, To: 1, Term: 3})
			},
		}, false},
		{"same leader reported twice", []action{lead(1, 3), lead(1, 3)}, false},
		{"log matching: same index and term, different content", []action{
			appendTo(1, entries(1, 1)),
			appendTo(2, []consensus.Entry{{Index: 1, Term: 1, Data: []byte("other")}}),
		}, true},
		{"log matching: same entry, different prefix", []action{
			appendTo(1, entries(1, 1, 2)),
			appendTo(2, []consensus.Entry{{Index: 1, Term: 1, Data: []byte("x")}}),
		}, true},
		{"gap in the log", []action{appendTo(1, entries(3, 1))}, true},
		{"conflicting suffix replaced (legal)", []action{
			appendTo(1, entries(1, 1, 1)), appendTo(1, []consensus.Entry{{Index: 2, Term: 2}}),
		}, false},
		{"committed entry overwritten", []action{
			appendTo(1, entries(1, 1, 1)), apply(1, 1, entries(1, 1)[0]),
			appendTo(1, []consensus.Entry{{Index: 1, Term: 2}}),
		}, true},
		{"committed entry truncated away", []action{
			appendTo(1, entries(1, 1, 1)), apply(1, 1, entries(1, 1)[0]), apply(1, 1, entries(1, 1, 1)[1]),
			appendTo(1, entries(1, 1)),
		}, true},
		{"stale entry at a committed index is replaced (legal)", []action{
			appendTo(1, entries(1, 1)), apply(1, 1, entries(1, 1)[0]),
			appendTo(2, []consensus.Entry{{Index: 1, Term: 2}}), appendTo(2, entries(1, 1)),
		}, false},
		{"two nodes apply different entries at one index", []action{
			appendTo(1, entries(1, 1)), appendTo(2, []consensus.Entry{{Index: 1, Term: 2}}),
			apply(1, 1, entries(1, 1)[0]), apply(2, 2, consensus.Entry{Index: 1, Term: 2}),
		}, true},
		{"leader lacks an entry committed in an earlier term", []action{
			appendTo(1, entries(1, 1)), apply(1, 1, entries(1, 1)[0]), lead(2, 2),
		}, true},
		{"leader of an older term need not hold later commits", []action{
			appendTo(1, entries(1, 5)), apply(1, 5, entries(1, 5)[0]), lead(2, 4),
		}, false},
		{"entry stamps go backwards", []action{
			appendTo(1, []consensus.Entry{{Index: 1, Term: 1, TimeMs: 500}, {Index: 2, Term: 1, TimeMs: 499}}),
		}, true},
		{"entry stamps stay equal (legal)", []action{
			appendTo(1, []consensus.Entry{{Index: 1, Term: 1, TimeMs: 500}, {Index: 2, Term: 2, TimeMs: 500}}),
		}, false},
		{"apply of an entry not in the log", []action{apply(1, 1, consensus.Entry{Index: 1, Term: 1})}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(3, false)
			var err error
			for _, a := range tt.actions {
				if err = a(c); err != nil {
					break
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrViolation) {
				t.Fatalf("err %v does not wrap ErrViolation", err)
			}
		})
	}
}

func TestSetCommandRoundTrip(t *testing.T) {
	tests := []struct{ key, value uint64 }{{0, 0}, {1, 2}, {3, math.MaxUint64}, {math.MaxUint64, 7}}
	for _, tt := range tests {
		data := appendSetCommand(nil, tt.key, tt.value)
		k, v, err := decodeSetCommand(data)
		if err != nil || k != tt.key || v != tt.value {
			t.Errorf("decode(encode(%d, %d)) = %d, %d, %v", tt.key, tt.value, k, v, err)
		}
	}
}

func TestDecodeSetCommandRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad version", []byte{9, 1, 1}},
		{"truncated key", []byte{commandVersion, 0x80}},
		{"missing value", []byte{commandVersion, 1}},
		{"trailing bytes", []byte{commandVersion, 1, 1, 0}},
		{"too long", make([]byte, commandBytesMax+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeSetCommand(tt.data); !errors.Is(err, errBadCommand) {
				t.Fatalf("err = %v, want errBadCommand", err)
			}
		})
	}
}

func FuzzDecodeSetCommand(f *testing.F) {
	f.Add(appendSetCommand(nil, 1, 2))
	f.Add([]byte{commandVersion, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, v, err := decodeSetCommand(data)
		if err != nil {
			return
		}
		again := appendSetCommand(nil, k, v)
		if string(again) != string(data) {
			t.Fatalf("decoded %x as (%d, %d), which encodes as %x", data, k, v, again)
		}
	})
}

func TestRegisterModel(t *testing.T) {
	w := func(key, value uint64, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: registerInput{write: true, key: key, value: value}, Output: uint64(0), Call: call, Return: ret}
	}
	r := func(key, got uint64, call, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: registerInput{key: key}, Output: got, Call: call, Return: ret}
	}
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"read after write", []porcupine.Operation{w(0, 1, 1, 2), r(0, 1, 3, 4)}, porcupine.Ok},
		{"stale read after write", []porcupine.Operation{w(0, 1, 1, 2), r(0, 0, 3, 4)}, porcupine.Illegal},
		{"concurrent read may see either", []porcupine.Operation{w(0, 1, 1, 4), r(0, 0, 2, 3)}, porcupine.Ok},
		{"keys are independent", []porcupine.Operation{w(0, 1, 1, 2), r(1, 0, 3, 4), r(0, 1, 5, 6)}, porcupine.Ok},
		{"unknown write may take effect late", []porcupine.Operation{w(0, 1, 1, math.MaxInt64), r(0, 0, 2, 3), r(0, 1, 4, 5)}, porcupine.Ok},
		{"value read back goes back in time", []porcupine.Operation{w(0, 1, 1, 2), w(0, 2, 3, 4), r(0, 2, 5, 6), r(0, 1, 7, 8)}, porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkLinearizable(tt.history, 0); got != tt.want {
				t.Fatalf("check = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTracerKeepsTheLastEvents(t *testing.T) {
	tr := newTracer(3, nil)
	for i := int64(1); i <= 5; i++ {
		tr.note(i, 1, "event %d", i)
	}
	got := tr.dump()
	for _, want := range []string{"event 3", "event 4", "event 5"} {
		if !contains(got, want) {
			t.Errorf("dump lacks %q:\n%s", want, got)
		}
	}
	if contains(got, "event 2") {
		t.Errorf("dump keeps an evicted event:\n%s", got)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestRandomOptionsValid(t *testing.T) {
	for seed := uint64(0); seed < 500; seed++ {
		o := RandomOptions(seed)
		if err := o.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

func BenchmarkPacketQueue(b *testing.B) {
	b.ReportAllocs()
	var q packetQueue
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 256; i++ {
		q.push(packet{deliverStep: rng.Int64N(1000), seq: uint64(i)})
	}
	for i := 0; b.Loop(); i++ {
		p := q.pop()
		p.deliverStep += rng.Int64N(1000)
		q.push(p)
	}
}

func BenchmarkEntryHash(b *testing.B) {
	b.ReportAllocs()
	e := consensus.Entry{Index: 1234, Term: 7, Data: appendSetCommand(nil, 3, 99999)}
	var h uint64
	for b.Loop() {
		h = entryHash(h, &e)
	}
	_ = h
}

func FuzzRestoreSnapshot(f *testing.F) {
	r := newRegisters(3)
	r.values[1] = 300
	f.Add(r.snapshot())
	f.Add([]byte{3, 0, 0})
	f.Add([]byte{3, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRegisters(3)
		if err := r.restore(data, 7); err != nil {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("error %v does not wrap errBadCommand", err)
			}
			return
		}
		if again := r.snapshot(); string(again) != string(data) || r.applied != 7 {
			t.Fatalf("restored %x, which snapshots as %x (applied %d)", data, again, r.applied)
		}
	})
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		values []uint64
	}{
		{"empty registers", []uint64{0, 0}},
		{"big values", []uint64{math.MaxUint64, 1, 1 << 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegisters(uint64(len(tt.values)))
			copy(r.values, tt.values)
			got := newRegisters(uint64(len(tt.values)))
			if err := got.restore(r.snapshot(), 9); err != nil {
				t.Fatal(err)
			}
			for i := range tt.values {
				if got.values[i] != tt.values[i] {
					t.Fatalf("register %d = %d, want %d", i, got.values[i], tt.values[i])
				}
			}
			if wrong := newRegisters(uint64(len(tt.values)) + 1); wrong.restore(r.snapshot(), 9) == nil {
				t.Fatal("a snapshot of the wrong register count was accepted")
			}
		})
	}
}
