package sim

import (
	"math/rand/v2"
	"slices"

	"github.com/raftkv/raftkv/consensus"
)

// packet is one message in flight.
type packet struct {
	deliverStep int64
	seq         uint64 // tie-break: equal delivery steps keep send order
	msg         consensus.Message
}

// packetKey is what the heap orders: small, so that sifting moves 24 bytes
// rather than a whole Message.
type packetKey struct {
	deliverStep int64
	seq         uint64
	slot        int32 // index into packetQueue.msgs
}

func (p *packetKey) before(q *packetKey) bool {
	if p.deliverStep != q.deliverStep {
		return p.deliverStep < q.deliverStep
	}
	return p.seq < q.seq
}

// packetQueue is a binary min-heap of packets ordered by delivery step. It is
// written out by hand rather than with container/heap so that pushing and
// popping does not box a packet in an interface (one allocation each), and
// messages sit still in slots while only their keys move.
type packetQueue struct {
	keys []packetKey
	msgs []consensus.Message
	free []int32
}

func (q *packetQueue) len() int { return len(q.keys) }

func (q *packetQueue) push(p packet) {
	var slot int32
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
		q.msgs[slot] = p.msg
	} else {
		slot = int32(len(q.msgs))
		q.msgs = append(q.msgs, p.msg)
	}
	q.keys = append(q.keys, packetKey{deliverStep: p.deliverStep, seq: p.seq, slot: slot})
	i := len(q.keys) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.keys[i].before(&q.keys[parent]) {
			break
		}
		q.keys[i], q.keys[parent] = q.keys[parent], q.keys[i]
		i = parent
	}
}

// peekStep returns the earliest delivery step; the queue must not be empty.
func (q *packetQueue) peekStep() int64 { return q.keys[0].deliverStep }

func (q *packetQueue) pop() packet {
	top := q.keys[0]
	last := len(q.keys) - 1
	q.keys[0] = q.keys[last]
	q.keys = q.keys[:last]
	i := 0
	for {
		l, r, least := 2*i+1, 2*i+2, i
		if l < last && q.keys[l].before(&q.keys[least]) {
			least = l
		}
		if r < last && q.keys[r].before(&q.keys[least]) {
			least = r
		}
		if least == i {
			break
		}
		q.keys[i], q.keys[least] = q.keys[least], q.keys[i]
		i = least
	}
	p := packet{deliverStep: top.deliverStep, seq: top.seq, msg: q.msgs[top.slot]}
	q.msgs[top.slot] = consensus.Message{} // drop references for the collector
	q.free = append(q.free, top.slot)
	return p
}

// network decides the fate of every message: delay, loss, duplication and
// partitions. Nodes are numbered 1..n (their NodeID); index 0 is unused.
type network struct {
	opts  *NetworkOptions
	rng   *rand.Rand
	queue packetQueue
	seq   uint64
	n     int
	// cut[from][to] is true while packets from → to are dropped.
	cut [][]bool
	// partitioned is true while a partition is in force; changeStep is the
	// step at which the current state (whole or partitioned) may end.
	partitioned bool
	changeStep  int64
	mode        PartitionMode
}

func newNetwork(opts *NetworkOptions, rng *rand.Rand, n int) *network {
	cut := make([][]bool, n+1)
	for i := range cut {
		cut[i] = make([]bool, n+1)
	}
	return &network{opts: opts, rng: rng, n: n, cut: cut, changeStep: opts.UnpartitionStabilitySteps}
}

// sendVerdict says what became of a sent message, for the trace.
type sendVerdict uint8

const (
	verdictQueued sendVerdict = iota
	verdictLost
	verdictCut
	verdictFull
	verdictDuplicated
)

// send puts m in flight at step now and reports its fate. Duplicates get a
// copy of the Entries slice so that a core that keeps what it is given can
// never see another delivery change it.
func (nw *network) send(now int64, m consensus.Message) sendVerdict {
	if int(m.From) > nw.n || int(m.To) > nw.n || m.To == consensus.None {
		return verdictLost
	}
	if nw.cut[m.From][m.To] {
		return verdictCut
	}
	if nw.rng.IntN(100) < nw.opts.LossPercent {
		return verdictLost
	}
	if nw.queue.len() >= nw.opts.CapacityPackets {
		return verdictFull
	}
	nw.enqueue(now, m)
	// A forwarded proposal is the one message that is not idempotent: two
	// copies make two log entries for one client request (Raft leaves
	// deduplication to client sessions, thesis §6.3), and TCP never
	// duplicates, so the network does not either.
	if m.Type != consensus.MsgProp && nw.rng.IntN(100) < nw.opts.DuplicatePercent && nw.queue.len() < nw.opts.CapacityPackets {
		dup := m
		dup.Entries = slices.Clone(m.Entries)
		nw.enqueue(now, dup)
		return verdictDuplicated
	}
	return verdictQueued
}

func (nw *network) enqueue(now int64, m consensus.Message) {
	delay := nw.opts.DelayMinSteps
	if span := nw.opts.DelayMaxSteps - nw.opts.DelayMinSteps; span > 0 {
		delay += nw.rng.Int64N(span + 1)
	}
	if nw.opts.SpikePercent > 0 && nw.rng.IntN(100) < nw.opts.SpikePercent && nw.opts.SpikeMaxSteps > 0 {
		delay += nw.rng.Int64N(nw.opts.SpikeMaxSteps) + 1
	}
	nw.seq++
	nw.queue.push(packet{deliverStep: now + delay, seq: nw.seq, msg: m})
}

// due pops the next packet whose delivery step is <= now.
func (nw *network) due(now int64) (packet, bool) {
	if nw.queue.len() == 0 || nw.queue.peekStep() > now {
		return packet{}, false
	}
	return nw.queue.pop(), true
}

// heal removes every cut.
func (nw *network) heal() {
	for from := range nw.cut {
		clear(nw.cut[from])
	}
	nw.partitioned = false
}

// maybeChange starts or heals a partition when its time has come. leader is
// the node the simulator currently believes leads (None when unknown). It
// returns true (and the mode) when the topology changed.
func (nw *network) maybeChange(now int64, leader consensus.NodeID) (changed bool) {
	if now < nw.changeStep {
		return false
	}
	if nw.partitioned {
		nw.heal()
		nw.changeStep = now + nw.opts.UnpartitionStabilitySteps
		return true
	}
	if len(nw.opts.PartitionModes) == 0 || nw.rng.IntN(1000) >= nw.opts.PartitionPerMille {
		return false
	}
	nw.mode = nw.opts.PartitionModes[nw.rng.IntN(len(nw.opts.PartitionModes))]
	nw.partition(nw.mode, leader)
	nw.partitioned = true
	span := nw.opts.PartitionStabilityMaxSteps - nw.opts.PartitionStabilityMinSteps
	nw.changeStep = now + nw.opts.PartitionStabilityMinSteps
	if span > 0 {
		nw.changeStep += nw.rng.Int64N(span + 1)
	}
	return true
}

// partition cuts links according to mode. Groups are drawn from the rng so
// that the same seed always cuts the same way.
func (nw *network) partition(mode PartitionMode, leader consensus.NodeID) {
	n := nw.n
	if leader == consensus.None || int(leader) > n {
		leader = consensus.NodeID(1 + nw.rng.IntN(n))
	}
	side := make([]bool, n+1) // true: group A
	switch mode {
	case PartitionSymmetric:
		for i := 1; i <= n; i++ {
			side[i] = nw.rng.IntN(2) == 0
		}
		nw.cutBetweenSides(side)
	case PartitionOneWay:
		for from := 1; from <= n; from++ {
			for to := 1; to <= n; to++ {
				if from != to && nw.rng.IntN(3) == 0 {
					nw.cut[from][to] = true
				}
			}
		}
	case PartitionIsolateLeader:
		side[leader] = true
		nw.cutBetweenSides(side)
	case PartitionLeaderMinority:
		// The leader plus up to (minority-1) others on side A.
		side[leader] = true
		extra := (n-1)/2 - 1
		for _, i := range nw.rng.Perm(n) {
			if extra <= 0 {
				break
			}
			if id := i + 1; id != int(leader) {
				side[id] = true
				extra--
			}
		}
		nw.cutBetweenSides(side)
	case PartitionBridge:
		bridge := 1 + nw.rng.IntN(n)
		for i := 1; i <= n; i++ {
			side[i] = nw.rng.IntN(2) == 0
		}
		nw.cutBetweenSides(side)
		for i := 1; i <= n; i++ {
			nw.cut[bridge][i] = false
			nw.cut[i][bridge] = false
		}
	}
}

func (nw *network) cutBetweenSides(side []bool) {
	for from := 1; from <= nw.n; from++ {
		for to := 1; to <= nw.n; to++ {
			nw.cut[from][to] = side[from] != side[to]
		}
	}
}

// describe renders the cut matrix compactly: "1->2 1->3 ..." (only cuts).
func (nw *network) describe() string {
	var b []byte
	for from := 1; from <= nw.n; from++ {
		for to := 1; to <= nw.n; to++ {
			if nw.cut[from][to] {
				if len(b) > 0 {
					b = append(b, ' ')
				}
				b = append(b, byte('0'+from), '-', 'x', byte('0'+to))
			}
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}
