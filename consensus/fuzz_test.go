package consensus

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// FuzzStep feeds a core arbitrary message sequences (the network is outside
// bytes: a peer may be buggy or malicious) interleaved with ticks,
// proposals, reads and Ready/Advance cycles. The core must never panic and
// must keep its invariants: applied <= committed <= lastIndex, and the
// term never decreases.
func FuzzStep(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{byte(MsgApp), 2, 1, 0, 0, 1, 0, 0})
	f.Add([]byte{byte(MsgVote), 3, 5, 9, 9, 0, 0, 0, byte(MsgHeartbeat), 2, 5, 0, 0, 3, 0, 0})
	f.Add([]byte{255, 0, 255, 0, byte(MsgAppResp), 2, 1, 1, 1, 1, 0, 0, byte(MsgSnap), 2, 7, 9, 3, 0, 0, 1})
	f.Fuzz(runFuzzOne)
}

func runFuzzOne(t *testing.T, data []byte) {
	// 256 events are plenty to reach every state; longer inputs only slow
	// the fuzzer's minimizer down.
	const eventsMax = 256
	if len(data) > eventsMax*8 {
		data = data[:eventsMax*8]
	}
	{
		st := storageWith(t, 2, 1, 1, 2)
		snaps := &MemorySnapshots{}
		snaps.Save(SnapshotMeta{Index: 2, Term: 1, ConfState: ConfState{Voters: ids3}}, []byte("snap"))
		r, err := NewRaft(Config{ID: 1, Voters: ids3, ElectionTicks: 4, HeartbeatTicks: 1, PreVote: true,
			CheckQuorum: true, Log: st, HardState: HardState{Term: 2}, Snapshots: snaps, MaxMsgBytes: 2})
		if err != nil {
			t.Fatal(err)
		}
		const recBytes = 8
		lastTerm := r.term
		for len(data) >= recBytes {
			rec := data[:recBytes]
			data = data[recBytes:]
			switch typ := MessageType(rec[0]); {
			case typ == 255: // a local event, chosen by rec[1]
				switch rec[1] % 6 {
				case 0:
					r.Tick(int64(rec[2]))
				case 1:
					r.Propose(uint64(rec[3]), rec[4:5])
				case 2:
					r.ReadIndex(uint64(rec[3]))
				case 3:
					r.TransferLeader(NodeID(rec[3] % 4))
				case 5:
					cc := fuzzConfChanges[int(rec[2])%len(fuzzConfChanges)]
					if c, err := DecodeConfChange(cc); err == nil {
						r.ProposeConfChange(uint64(rec[3]), c)
					}
				case 4:
					if r.HasReady() {
						rd := r.Ready()
						if rd.Snapshot != nil {
							st.ApplySnapshot(rd.Snapshot.Meta)
						}
						if err := st.Append(rd.Entries); err != nil {
							t.Fatalf("append Ready entries: %v", err)
						}
						r.Advance(rd)
					}
				}
			default:
				m := Message{Type: typ, From: NodeID(rec[1] % 4), To: 1, Term: uint64(rec[2] % 8),
					LogTerm: uint64(rec[3] % 8), Index: uint64(rec[4] % 8), Commit: uint64(rec[5] % 8),
					Reject: rec[6]&1 != 0, RejectHint: uint64(rec[6] >> 4), Context: uint64(rec[7] & 3),
					SnapOffset: uint64(rec[7]>>2) % 8, SnapDone: rec[7]&0x80 != 0}
				if typ == MsgApp && rec[6]&2 != 0 {
					n := int(rec[6]>>2) % 3
					for i := range n {
						e := Entry{Index: m.Index + 1 + uint64(i), Term: m.Term}
						if k := int(rec[5]>>3) % (len(fuzzConfChanges) + 1); k > 0 {
							e.Type, e.Data = EntryConfChange, fuzzConfChanges[k-1]
						}
						m.Entries = append(m.Entries, e)
					}
				}
				if typ == MsgSnap {
					m.Snapshot = SnapshotMeta{Index: uint64(rec[4] % 8), Term: uint64(rec[3] % 8), ConfState: ConfState{Voters: ids3}}
					m.Data = binary.LittleEndian.AppendUint16(nil, uint16(rec[5]))
				}
				_ = r.Step(m)
			}
			if r.term < lastTerm {
				t.Fatalf("term went back from %d to %d", lastTerm, r.term)
			}
			lastTerm = r.term
			if r.log.applied > r.log.committed || r.log.committed > r.log.lastIndex() {
				t.Fatalf("applied %d committed %d last %d", r.log.applied, r.log.committed, r.log.lastIndex())
			}
		}
	}
}

// fuzzConfChanges are the conf change entries FuzzStep may put in a
// MsgApp or propose: every kind, for members and strangers, and garbage.
var fuzzConfChanges = [][]byte{
	ConfChange{Type: ConfChangeAddLearner, NodeID: 4}.Encode(nil),
	ConfChange{Type: ConfChangePromoteVoter, NodeID: 4}.Encode(nil),
	ConfChange{Type: ConfChangeRemoveNode, NodeID: 1}.Encode(nil),
	ConfChange{Type: ConfChangeRemoveNode, NodeID: 2}.Encode(nil),
	ConfChange{Type: ConfChangeRemoveNode, NodeID: 4}.Encode(nil),
	[]byte("not a conf change"),
}

// byteSource turns fuzz input into choices; zeros once it is used up.
type byteSource struct{ data []byte }

func (b *byteSource) next() byte {
	if len(b.data) == 0 {
		return 0
	}
	c := b.data[0]
	b.data = b.data[1:]
	return c
}

// FuzzCluster lets the fuzzer choose the schedule of a 3-node cluster:
// which message to deliver, drop or duplicate, who ticks, proposes, reads,
// transfers, restarts from durable state, or compacts. Safety (one leader
// per term, one entry per committed index, acks that match what
// committed) is checked after every step.
func FuzzCluster(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 5, 2, 6, 1, 1, 1, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		const stepsMax = 400
		src := &byteSource{data: data}
		c := newChaosCluster(t, 1, 3, nil)
		nw := c.nw
		for range stepsMax {
			if len(src.data) == 0 {
				break
			}
			pick := func() NodeID { return nw.ids[int(src.next())%len(nw.ids)] }
			switch op := src.next() % 10; op {
			case 0:
				nw.tick()
			case 1, 2, 3:
				// Deliver (or drop, or duplicate) one queued message.
				for _, id := range nw.ids {
					nw.process(id)
				}
				if len(nw.queue) == 0 {
					continue
				}
				i := int(src.next()) % len(nw.queue)
				m := nw.queue[i]
				nw.queue = append(nw.queue[:i], nw.queue[i+1:]...)
				switch op {
				case 2:
					// dropped
				case 3:
					nw.deliver(m)
					nw.deliver(m)
				default:
					nw.deliver(m)
				}
			case 4:
				c.nextReq++
				nw.nodes[pick()].r.Propose(c.nextReq, fmt.Append(nil, c.nextReq))
			case 5:
				nw.nodes[pick()].r.ReadIndex(uint64(src.next()))
			case 6:
				c.restart(pick())
			case 7:
				nw.nodes[pick()].r.TransferLeader(pick())
			case 8:
				c.compact(pick())
			case 9:
				nw.stabilize()
			}
			for _, id := range nw.ids {
				nw.process(id)
			}
			if err := c.safetyErr(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
