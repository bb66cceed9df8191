package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/raftkv/raftkv/consensus"
)

// NetworkOptions are every knob of the simulated network in one place, in the
// manner of TigerBeetle's packet simulator. One step is one millisecond of
// simulated time.
type NetworkOptions struct {
	// DelayMinSteps and DelayMaxSteps bound the one-way latency of a packet;
	// the delay is drawn uniformly, so packets overtake each other.
	DelayMinSteps int64
	DelayMaxSteps int64
	// SpikePercent of packets get an extra delay of up to SpikeMaxSteps:
	// gross reordering (a message from an old term arriving very late).
	SpikePercent  int
	SpikeMaxSteps int64
	// LossPercent of packets vanish; DuplicatePercent are delivered twice
	// (with independent delays).
	LossPercent      int
	DuplicatePercent int
	// PartitionPercentPerMille is the chance, per step while the network is
	// whole and has stayed whole for UnpartitionStabilitySteps, that a
	// partition starts. A partition lasts PartitionStabilityMinSteps to
	// PartitionStabilityMaxSteps, then heals.
	PartitionPerMille          int
	PartitionStabilityMinSteps int64
	PartitionStabilityMaxSteps int64
	UnpartitionStabilitySteps  int64
	// PartitionModes are the shapes a partition may take (drawn uniformly).
	PartitionModes []PartitionMode
	// CapacityPackets bounds the packets in flight; beyond it new packets
	// are dropped, as a full socket buffer would.
	CapacityPackets int
}

// NodeFaultOptions are the faults of the simulated machines.
type NodeFaultOptions struct {
	// CrashPerMille is the chance per step that one live node crashes (it
	// loses everything not yet durable). At most MaxDownNodes are down at
	// once; a crashed node restarts after RestartMinSteps..RestartMaxSteps.
	CrashPerTenThousand int
	MaxDownNodes        int
	RestartMinSteps     int64
	RestartMaxSteps     int64
	// CrashAfterVotePercent is the chance that a node that has just granted
	// a vote (and synced it) crashes right after and restarts quickly:
	// the schedule that exposes a vote that was not made durable.
	CrashAfterVotePercent int
	// CrashLeaderPercent is the chance that, when a crash is due, it hits
	// the current leader rather than a random node.
	CrashLeaderPercent int
	// CrashNewLeaderPercent is the chance that a node that has just become
	// leader crashes within CrashNewLeaderMaxSteps: short reigns that leave
	// entries of different terms at the same indexes on different nodes,
	// the raw material of the Figure 8 scenario (Raft §5.4.2).
	CrashNewLeaderPercent  int
	CrashNewLeaderMaxSteps int64
	// CrashAfterCommitPercent is the chance that a leader whose commit
	// index has just advanced crashes within CrashNewLeaderMaxSteps: the
	// moment a wrongly committed entry is most exposed, since the entries
	// that made the commit safe may not have reached anyone yet.
	CrashAfterCommitPercent int
	// TornSyncPercent is the chance that a node that crashes during a sync
	// keeps a random prefix of that sync's batch (entries in order, then
	// the hard state) rather than none of it.
	TornSyncPercent int
	// TransferPerTenThousand is the chance per step that the leader is asked
	// to hand leadership to a random other node (TimeoutNow).
	TransferPerTenThousand int
	// SyncMinSteps..SyncMaxSteps is how long a node's fsync takes: entries
	// and hard state are durable only after it, and MessagesAfterPersist go
	// out only then.
	SyncMinSteps int64
	SyncMaxSteps int64
	// TickPeriodSteps is the nominal time between two ticks of a node;
	// each node's period is skewed by up to TickSkewPercent either way, so
	// some nodes' clocks run fast.
	TickPeriodSteps int64
	TickSkewPercent int
	// ClockJumpPerTenThousand is the chance per step that one node's wall
	// clock jumps by up to ClockJumpMaxMs either way (an NTP step, a VM
	// resumed): entry stamps must still never go backwards.
	ClockJumpPerTenThousand int
	ClockJumpMaxMs          int64
	// PausePerTenThousand is the chance per step that one live node
	// (the leader with CrashLeaderPercent) is paused, as SIGSTOP or a VM
	// freeze would, for 1..PauseMaxSteps: it takes no input and counts
	// the ticks it misses, which it catches up on when it resumes (and,
	// with lease reads, before it serves a read), as the node loop does.
	PausePerTenThousand int
	PauseMaxSteps       int64
}

// WorkloadOptions shape the simulated clients.
type WorkloadOptions struct {
	Clients int
	Keys    uint64
	// OpPercentPerStep is the chance per step that an idle client starts an
	// operation; ReadPercent of operations are reads.
	OpPercentPerStep int
	ReadPercent      int
	// LeaderPercent of operations go to the node the client believes leads;
	// the rest go to a random node (followers forward).
	LeaderPercent int
	// TimeoutSteps is how long a client waits before it gives up: a write
	// then has an unknown outcome.
	TimeoutSteps int64
}

// Options is one simulation's complete configuration. RandomOptions derives
// one from a seed; tests may adjust it before calling Run.
type Options struct {
	Seed  uint64
	Nodes int
	// SafetySteps is the length of the fault phase. The liveness phase that
	// follows heals everything and must elect a leader and commit a write
	// within LivenessElectionTimeouts election timeouts.
	SafetySteps              int64
	LivenessElectionTimeouts int64

	ElectionTicks  int
	HeartbeatTicks int
	PreVote        bool
	CheckQuorum    bool
	MaxMsgBytes    uint64
	MaxInflight    int
	// SnapshotEveryEntries makes a node snapshot its state machine and
	// drop its log through the applied index once that many entries were
	// applied since its last snapshot (0: never), so that lagging and
	// restarted followers need InstallSnapshot.
	SnapshotEveryEntries uint64

	Network  NetworkOptions
	Faults   NodeFaultOptions
	Workload WorkloadOptions

	// SpareNodes are extra machines, ids Nodes+1..Nodes+SpareNodes, that
	// start as no member; with MembershipPerTenThousand > 0 the simulator
	// adds them as learners, promotes them and removes voters (one server
	// at a time, thesis §4.1). Each id joins at most once: a removed node
	// is decommissioned for good once its removal commits (a server that
	// came back under the same id with a wiped disk could vote twice).
	SpareNodes int
	// MembershipPerTenThousand is the chance per step of the fault phase
	// that the leader is asked for the next membership change.
	MembershipPerTenThousand int

	// ReadLeaseTicks turns on lease reads in every node's core
	// (consensus.Config.ReadLeaseTicks; needs CheckQuorum). The clock
	// model then follows the assumption the lease rests on: tick periods
	// are drawn from nominal to nominal + LeaseDriftPercent (one machine
	// at each end, so the bound is exercised at its edge) rather than
	// from TickSkewPercent, and a node catches up on the ticks due before
	// it takes a read, as the node loop does.
	ReadLeaseTicks int
	// AsyncStorageWrites runs the nodes as the node loop does: a node
	// goes on taking input while its syncs are in flight, one after the
	// other (consensus.Config.AsyncStorageWrites). Off: the node waits for
	// each Ready's sync before it takes anything else (the synchronous
	// model the loop used before).
	AsyncStorageWrites bool
	// LeaseDriftPercent is how much faster the slowest clock's tick period
	// is than the fastest's under ReadLeaseTicks; the documented bound is
	// leaseDriftPercentMax (conf/doc.go).
	LeaseDriftPercent int

	// Bugs plants known bugs in every node's core (nil: none).
	Bugs *consensus.BugHooks
	// SkipCommitRuleCheck turns off the direct check of the leader commit
	// rule, so that a test can show the end-to-end properties catch its
	// breach on their own.
	SkipCommitRuleCheck bool
	// SkipStampCheck turns off the check that entry stamps (TimeMs) never
	// go backwards along a log; the tests set it while the core loses the
	// last stamp across log compaction (see TestSimRegressionSeeds).
	SkipStampCheck bool
	// TraceEvents is how many recent events the trace ring keeps for the
	// failure report.
	TraceEvents int
}

// PartitionMode is a shape of network partition.
type PartitionMode uint8

const (
	// PartitionSymmetric splits the nodes in two random groups.
	PartitionSymmetric PartitionMode = iota
	// PartitionOneWay cuts random directed links only.
	PartitionOneWay
	// PartitionIsolateLeader cuts the current leader off from everyone.
	PartitionIsolateLeader
	// PartitionLeaderMinority puts the leader in a minority group.
	PartitionLeaderMinority
	// PartitionBridge splits the nodes in two groups that only one node
	// (the bridge) can talk to both of.
	PartitionBridge
	partitionModeCount
)

func (m PartitionMode) String() string {
	switch m {
	case PartitionSymmetric:
		return "symmetric"
	case PartitionOneWay:
		return "one-way"
	case PartitionIsolateLeader:
		return "isolate-leader"
	case PartitionLeaderMinority:
		return "leader-minority"
	case PartitionBridge:
		return "bridge"
	}
	return "unknown"
}

// RandomOptions draws a configuration from seed, as VOPR does: every seed
// explores a different corner (a lossy network, a crash-heavy cluster, slow
// disks, fast-ticking nodes), and the same seed always gives the same run.
func RandomOptions(seed uint64) Options {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	between := func(lo, hi int64) int64 { return lo + rng.Int64N(hi-lo+1) }
	percent := func(hi int) int { return rng.IntN(hi + 1) }

	nodes := 3
	if rng.IntN(2) == 1 {
		nodes = 5
	}
	tickPeriod := between(5, 10)
	delayMin := between(1, 3)
	opts := Options{
		Seed:                     seed,
		Nodes:                    nodes,
		SafetySteps:              between(2500, 4000),
		LivenessElectionTimeouts: 10,
		ElectionTicks:            10,
		HeartbeatTicks:           int(between(1, 3)),
		PreVote:                  rng.IntN(4) != 0,
		CheckQuorum:              rng.IntN(4) != 0,
		MaxMsgBytes:              uint64(between(16, 4096)),
		MaxInflight:              int(between(1, 16)),
		Network: NetworkOptions{
			DelayMinSteps:              delayMin,
			DelayMaxSteps:              delayMin + between(0, 3*tickPeriod),
			SpikePercent:               percent(5),
			SpikeMaxSteps:              between(10, 40*tickPeriod),
			LossPercent:                percent(20),
			DuplicatePercent:           percent(10),
			PartitionPerMille:          percent(8),
			PartitionStabilityMinSteps: between(20, 200),
			PartitionStabilityMaxSteps: between(200, 1500),
			UnpartitionStabilitySteps:  between(50, 600),
			CapacityPackets:            4096,
		},
		Faults: NodeFaultOptions{
			CrashPerTenThousand:     percent(30),
			MaxDownNodes:            nodes / 2,
			RestartMinSteps:         between(0, 20),
			RestartMaxSteps:         between(20, 600),
			CrashAfterVotePercent:   percent(30),
			CrashLeaderPercent:      percent(60),
			CrashNewLeaderPercent:   percent(10),
			CrashNewLeaderMaxSteps:  between(1, 10*tickPeriod),
			CrashAfterCommitPercent: percent(10),
			TransferPerTenThousand:  percent(20),
			TornSyncPercent:         percent(80),
			SyncMinSteps:            0,
			SyncMaxSteps:            between(0, 2*tickPeriod),
			TickPeriodSteps:         tickPeriod,
			TickSkewPercent:         percent(50),
			ClockJumpPerTenThousand: percent(10),
			ClockJumpMaxMs:          between(1, 60_000),
		},
		Workload: WorkloadOptions{
			Clients:          int(between(2, 6)),
			Keys:             uint64(between(1, 4)),
			OpPercentPerStep: int(between(2, 20)),
			ReadPercent:      int(between(20, 70)),
			LeaderPercent:    int(between(30, 95)),
			TimeoutSteps:     between(30, 80) * tickPeriod,
		},
		TraceEvents: 200,
	}
	if rng.IntN(2) == 0 {
		opts.SnapshotEveryEntries = uint64(between(3, 40))
	}
	if rng.IntN(4) == 0 {
		// A minority of seeds may lose up to all but one node at once:
		// long unavailability, restarts from a lone survivor.
		opts.Faults.MaxDownNodes = nodes - 1
	}
	for m := PartitionMode(0); m < partitionModeCount; m++ {
		if rng.IntN(3) != 0 {
			opts.Network.PartitionModes = append(opts.Network.PartitionModes, m)
		}
	}
	if len(opts.Network.PartitionModes) == 0 {
		opts.Network.PartitionModes = []PartitionMode{PartitionIsolateLeader}
	}
	// Drawn last, so that the other options of a seed stay what they were
	// before membership changes existed.
	if rng.IntN(2) == 0 {
		opts.SpareNodes = int(between(1, 3))
		opts.MembershipPerTenThousand = int(between(10, 80))
	}
	opts.AsyncStorageWrites = asyncSeed(seed)
	if leaseSeed(seed) {
		opts.ReadLeaseTicks = leaseTicks(opts.ElectionTicks)
		opts.LeaseDriftPercent = leaseDriftPercentMax
		opts.CheckQuorum = true // the lease rests on it (Config refuses it without)
		opts.Faults.PausePerTenThousand = percent(20)
		opts.Faults.PauseMaxSteps = between(1, 3*int64(opts.ElectionTicks)*tickPeriod)
	}
	return opts
}

// leaseDriftPercentMax is the clock drift bound lease reads assume (conf/
// doc.go, server.leaseDriftPercent): tick rates of any two members differ by
// at most this much.
const leaseDriftPercentMax = 10

// leaseTicks is the read lease the server derives from an election timeout
// (server.leaseTicks): shorter by the drift bound, and by one tick for each
// side's ticker phase.
func leaseTicks(electionTicks int) int {
	return (electionTicks-1)*(100-leaseDriftPercentMax)/100 - 1
}

// leaseSeed reports whether RandomOptions runs seed in lease mode: one seed
// in four, decided without the seed's random stream so that the other
// seeds' options stay what they were before lease mode existed.
func leaseSeed(seed uint64) bool { return seed%4 == 0 }

// asyncSeed reports whether RandomOptions runs seed with asynchronous
// storage writes, as the node loop does: three seeds in four; the fourth
// keeps the synchronous model (decided outside the seed's random stream).
func asyncSeed(seed uint64) bool { return seed%4 != 3 }

// machines is the number of simulated machines: members and spares.
func (o *Options) machines() int { return o.Nodes + o.SpareNodes }

// Validate reports a configuration the simulator cannot run.
func (o *Options) Validate() error {
	switch {
	case o.Nodes < 1 || o.Nodes > 9:
		return fmt.Errorf("sim: Nodes=%d, want 1..9", o.Nodes)
	case o.SpareNodes < 0 || o.SpareNodes > 9 || o.MembershipPerTenThousand < 0:
		return fmt.Errorf("sim: SpareNodes=%d MembershipPerTenThousand=%d invalid", o.SpareNodes, o.MembershipPerTenThousand)
	case o.Network.DelayMinSteps < 0 || o.Network.DelayMaxSteps < o.Network.DelayMinSteps:
		return fmt.Errorf("sim: delay range [%d, %d] steps is empty", o.Network.DelayMinSteps, o.Network.DelayMaxSteps)
	case o.Faults.TickPeriodSteps < 1:
		return fmt.Errorf("sim: TickPeriodSteps=%d, want >= 1", o.Faults.TickPeriodSteps)
	case o.Faults.SyncMaxSteps < o.Faults.SyncMinSteps || o.Faults.SyncMinSteps < 0:
		return fmt.Errorf("sim: sync range [%d, %d] steps is empty", o.Faults.SyncMinSteps, o.Faults.SyncMaxSteps)
	case o.Faults.RestartMaxSteps < o.Faults.RestartMinSteps || o.Faults.RestartMinSteps < 0:
		return fmt.Errorf("sim: restart range [%d, %d] steps is empty", o.Faults.RestartMinSteps, o.Faults.RestartMaxSteps)
	case o.Network.PartitionStabilityMaxSteps < o.Network.PartitionStabilityMinSteps:
		return fmt.Errorf("sim: partition stability range [%d, %d] is empty", o.Network.PartitionStabilityMinSteps, o.Network.PartitionStabilityMaxSteps)
	case o.Network.CapacityPackets < 1:
		return fmt.Errorf("sim: CapacityPackets=%d, want >= 1", o.Network.CapacityPackets)
	case o.Workload.Clients < 0 || o.Workload.Keys < 1:
		return fmt.Errorf("sim: workload Clients=%d Keys=%d invalid", o.Workload.Clients, o.Workload.Keys)
	case o.ReadLeaseTicks < 0 || o.LeaseDriftPercent < 0 || o.LeaseDriftPercent > 100:
		return fmt.Errorf("sim: ReadLeaseTicks=%d LeaseDriftPercent=%d invalid", o.ReadLeaseTicks, o.LeaseDriftPercent)
	case o.Faults.PausePerTenThousand < 0 || o.Faults.PauseMaxSteps < 0:
		return fmt.Errorf("sim: PausePerTenThousand=%d PauseMaxSteps=%d invalid", o.Faults.PausePerTenThousand, o.Faults.PauseMaxSteps)
	case o.ElectionTicks < 1 || o.HeartbeatTicks < 1:
		return fmt.Errorf("sim: ElectionTicks=%d HeartbeatTicks=%d, want >= 1", o.ElectionTicks, o.HeartbeatTicks)
	}
	return nil
}
