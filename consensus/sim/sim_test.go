package sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

var (
	seedFlag     = flag.Uint64("seed", 0, "run only this seed (0: sweep -seeds seeds from -seedbase)")
	seedsFlag    = flag.Int("seeds", 1000, "how many seeds TestSim sweeps")
	seedBaseFlag = flag.Uint64("seedbase", 1, "first seed of the sweep")
	traceFlag    = flag.Bool("simtrace", false, "print every event of a -seed run as it happens (also -args -trace)")
	bugSeedsFlag = flag.Int("bugseeds", 300, "seed budget per planted bug in TestSimCatchesPlantedBugs")
	controlFlag  = flag.Bool("control", false, "with -seed, run TestSimCatchesPlantedBugs' schedule without the bug")
	stopFlag     = flag.Int("stopafter", 1, "TestSim stops a sweep after this many failing seeds (0: never)")
)

// relaxKnownCoreBugs turns off the checks that known, reported and not yet
// fixed core bugs break, so that sweeps keep hunting for new ones. Each is
// kept, strict, in TestSimRegressionSeeds.
//
// None is open now. The last one: the core recovered the last entry stamp
// only from its log, so after compaction a new leader could stamp entries
// earlier than the previous one (found 15:12 UTC, seed 35; fixed by
// SnapshotMeta.TimeMs and followers remembering the newest stamp).
func relaxKnownCoreBugs(o *Options) {}

func init() {
	// go test claims -trace for its execution tracer; after -args the name
	// reaches this binary, so it is accepted as an alias of -simtrace.
	flag.BoolVar(traceFlag, "trace", false, "alias of -simtrace (pass after -args)")
}

// reproducer is the one line that reruns a failing seed.
func reproducer(test string, seed uint64, extra string) string {
	return fmt.Sprintf("go test ./consensus/sim -run '%s$' -seed=%d%s -v", test, seed, extra)
}

// sweepResult is what a sweep learned.
type sweepResult struct {
	runs     int
	failures []*Failure // sorted by seed
	totals   Result
	linUnk   int
	other    error // a non-property error (setup, cancellation)
}

// sweep runs seeds [base, base+count) on workers goroutines; each seed is an
// independent simulator, so the sweep is deterministic whatever the
// interleaving. It stops early once stopAfter failures are found (0: never),
// but always finishes every seed below the smallest failure, so the failing
// seed it reports is the same on every run.
func sweep(ctx context.Context, base uint64, count int, stopAfter int, configure func(*Options)) sweepResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := min(runtime.GOMAXPROCS(0), 4)
	seeds := make(chan uint64)
	var mu sync.Mutex
	var out sweepResult
	minFail := ^uint64(0)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				opts := RandomOptions(seed)
				relaxKnownCoreBugs(&opts)
				if configure != nil {
					configure(&opts)
				}
				res, err := Run(ctx, opts, nil)
				mu.Lock()
				out.runs++
				var f *Failure
				switch {
				case errors.As(err, &f) && errors.Is(err, ErrViolation):
					out.failures = append(out.failures, f)
					minFail = min(minFail, seed)
				case err != nil && ctx.Err() == nil:
					if out.other == nil {
						out.other = fmt.Errorf("seed %d: %w", seed, err)
					}
				case err == nil:
					out.totals.Steps += res.Steps
					out.totals.Elections += res.Elections
					out.totals.Crashes += res.Crashes
					out.totals.Partitions += res.Partitions
					out.totals.Messages += res.Messages
					out.totals.SnapshotsTaken += res.SnapshotsTaken
					out.totals.SnapshotsInstalled += res.SnapshotsInstalled
					out.totals.OpsOK += res.OpsOK
					out.totals.OpsFailed += res.OpsFailed
					out.totals.WritesUnknown += res.WritesUnknown
					out.totals.MembershipChanges += res.MembershipChanges
					out.totals.Decommissioned += res.Decommissioned
					out.totals.ReadsAtOnce += res.ReadsAtOnce
					if res.LinearizabilityUnknown {
						out.linUnk++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < count; i++ {
		seed := base + uint64(i)
		mu.Lock()
		stop := stopAfter > 0 && len(out.failures) >= stopAfter && seed > minFail
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
	sortFailures(out.failures)
	return out
}

func sortFailures(fs []*Failure) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Seed < fs[j-1].Seed; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// TestSim sweeps seeds (or runs the one given by -seed) against the real
// core: every safety property after every step, liveness after healing,
// linearizability at the end.
func TestSim(t *testing.T) {
	if *seedFlag != 0 {
		runOneSeed(t, *seedFlag, nil)
		return
	}
	count := *seedsFlag
	if testing.Short() {
		count = min(count, 100)
	}
	start := time.Now()
	out := sweep(context.Background(), *seedBaseFlag, count, *stopFlag, nil)
	if out.other != nil {
		t.Fatal(out.other)
	}
	t.Logf("%d seeds in %v: %d steps, %d elections, %d crashes, %d partitions, %d messages, %d snapshots taken, %d installed, %d ops ok, %d failed, %d unknown, %d membership changes, %d nodes decommissioned, %d lease reads; linearizability undecided in %d",
		out.runs, time.Since(start).Round(time.Millisecond), out.totals.Steps, out.totals.Elections, out.totals.Crashes,
		out.totals.Partitions, out.totals.Messages, out.totals.SnapshotsTaken, out.totals.SnapshotsInstalled,
		out.totals.OpsOK, out.totals.OpsFailed, out.totals.WritesUnknown, out.totals.MembershipChanges, out.totals.Decommissioned, out.totals.ReadsAtOnce, out.linUnk)
	for _, f := range out.failures[min(1, len(out.failures)):] {
		first, _, _ := strings.Cut(f.Err.Error(), "\n")
		t.Errorf("also failing: seed %d: %s", f.Seed, first)
	}
	if len(out.failures) > 0 {
		f := out.failures[0]
		t.Fatalf("%v\nreproduce with: %s\nlast events:\n%s", f, reproducer("TestSim", f.Seed, ""), f.Trace)
	}
}

// runOneSeed runs one seed with its trace printed live under -trace.
func runOneSeed(t *testing.T, seed uint64, configure func(*Options)) {
	t.Helper()
	opts := RandomOptions(seed)
	relaxKnownCoreBugs(&opts)
	if configure != nil {
		configure(&opts)
	}
	var live io.Writer
	if *traceFlag {
		live = os.Stdout
	}
	res, err := Run(context.Background(), opts, live)
	if err != nil {
		var f *Failure
		if errors.As(err, &f) {
			t.Fatalf("%v\nreproduce with: %s\nlast events:\n%s", f, reproducer(t.Name(), seed, ""), f.Trace)
		}
		t.Fatal(err)
	}
	t.Logf("seed %d passed: %+v", seed, res)
}

// plantedBugs are the hooks of consensus.BugHooks, each with the fault
// schedule that exposes it fastest. The schedule only sharpens the random
// options; any seed would do in the end.
var plantedBugs = []struct {
	name      string
	hooks     consensus.BugHooks
	configure func(*Options)
}{
	{"CommitOldTermByCount", consensus.BugHooks{CommitOldTermByCount: true}, sharpenFigure8},
	{"CommitOldTermByCount_EndToEnd", consensus.BugHooks{CommitOldTermByCount: true}, func(o *Options) {
		// Without the direct commit-rule check: the damage itself (a
		// committed entry missing from a later leader, or overwritten)
		// must show.
		sharpenFigure8(o)
		o.SkipCommitRuleCheck = true
	}},
	{"ForgetVotePersist", consensus.BugHooks{ForgetVotePersist: true}, func(o *Options) {
		// A voter that forgets its vote must crash after voting and come
		// back while another candidate of the same term still asks.
		o.Faults.CrashAfterVotePercent = 100
		o.Faults.MaxDownNodes = max(o.Faults.MaxDownNodes, 1)
		o.PreVote = false
	}},
	{"SkipLogMatching", consensus.BugHooks{SkipLogMatching: true}, func(o *Options) {
		o.Faults.CrashPerTenThousand = max(o.Faults.CrashPerTenThousand, 20)
		o.Network.SpikePercent = max(o.Network.SpikePercent, 3)
	}},
	{"ReadWithoutQuorum", consensus.BugHooks{ReadWithoutQuorum: true}, func(o *Options) {
		// A stale leader must keep serving reads after a new one commits:
		// isolate leaders, read mostly from whoever was last seen leading.
		o.Network.PartitionModes = []PartitionMode{PartitionIsolateLeader, PartitionLeaderMinority}
		o.Network.PartitionPerMille = max(o.Network.PartitionPerMille, 10)
		o.Workload.ReadPercent = max(o.Workload.ReadPercent, 50)
		o.Workload.LeaderPercent = 90
	}},
	{"LeaseOutlivesElection", consensus.BugHooks{LeaseOutlivesElection: true}, sharpenStaleLease},
	{"LeaderCountsUnsynced", consensus.BugHooks{LeaderCountsUnsynced: true}, func(o *Options) {
		// A leader that counts its own unsynced entries commits with one
		// follower's ack; it must then crash before its sync, and the
		// follower that had the entry too (or the entry's only other copy
		// be overwritten by a leader elected without it).
		o.AsyncStorageWrites = true
		o.Nodes = 3
		o.Faults.SyncMinSteps = max(o.Faults.SyncMinSteps, 10)
		o.Faults.SyncMaxSteps = max(o.Faults.SyncMaxSteps, 30)
		o.Faults.TornSyncPercent = 0
		o.Faults.MaxDownNodes = 2
		o.Faults.CrashPerTenThousand = max(o.Faults.CrashPerTenThousand, 40)
		o.Faults.CrashLeaderPercent = 90
		o.Faults.CrashAfterCommitPercent = 80
		o.Faults.CrashNewLeaderMaxSteps = 10
		o.Faults.RestartMinSteps = 0
		o.Faults.RestartMaxSteps = min(o.Faults.RestartMaxSteps, 100)
		o.Workload.LeaderPercent = 90
	}},
	{"LearnerCountsForCommit", consensus.BugHooks{LearnerCountsForCommit: true}, func(o *Options) {
		// A leader and a learner on one side of a partition commit alone;
		// the voters on the other side elect a leader without the entry.
		o.Nodes = 3
		o.SpareNodes = 2
		o.MembershipPerTenThousand = 30
		o.Network.PartitionModes = []PartitionMode{PartitionSymmetric, PartitionLeaderMinority}
		o.Network.PartitionPerMille = max(o.Network.PartitionPerMille, 8)
		o.Workload.LeaderPercent = 90
	}},
}

// sharpenStaleLease is the schedule of a stale lease read: lease mode, the
// leader cut off from the others (who elect another and commit writes
// while the old leader's lease still runs), and clients that mostly read,
// half of them from random nodes (writes sent to the cut-off leader hold a
// client until it steps down, by which time the stale window has closed).
// The window is the few ticks by which the bad lease outlives the
// followers' promise, minus an election and two commits: the network and
// the disk must be fast, or no seed opens it (with the random delays of
// RandomOptions, 3000 seeds found nothing).
func sharpenStaleLease(o *Options) {
	o.ReadLeaseTicks = leaseTicks(o.ElectionTicks)
	o.LeaseDriftPercent = leaseDriftPercentMax
	o.CheckQuorum = true
	o.Network.PartitionModes = []PartitionMode{PartitionIsolateLeader, PartitionLeaderMinority}
	o.Network.PartitionPerMille = max(o.Network.PartitionPerMille, 10)
	o.Workload.Keys = 1
	o.Workload.Clients = 6
	o.Workload.OpPercentPerStep = max(o.Workload.OpPercentPerStep, 15)
	o.Workload.ReadPercent = 85
	o.Workload.LeaderPercent = 50
	o.Network.DelayMaxSteps = o.Network.DelayMinSteps + 1
	o.Network.SpikePercent = 0
	o.Faults.SyncMaxSteps = 0
	o.HeartbeatTicks = 1
}

// sharpenFigure8 is the schedule of Raft's Figure 8: short reigns that leave
// entries of different terms at one index, one entry per AppendEntries so a
// lagging follower holds an old-term entry without the new leader's no-op,
// and leaders that crash right after their commit index moves, before the
// entries that would have made the commit safe have spread.
func sharpenFigure8(o *Options) {
	o.Nodes = 3
	o.Faults.MaxDownNodes = 1
	o.Faults.CrashPerTenThousand = max(o.Faults.CrashPerTenThousand, 40)
	o.Faults.CrashLeaderPercent = 90
	o.Faults.CrashNewLeaderPercent = 80
	o.Faults.CrashAfterCommitPercent = 50
	o.Faults.CrashNewLeaderMaxSteps = 40
	o.Faults.RestartMinSteps = 0
	o.Faults.RestartMaxSteps = min(o.Faults.RestartMaxSteps, 200)
	o.MaxMsgBytes = 1
	o.MaxInflight = 1
}

// TestSimCatchesPlantedBugs proves the checkers have teeth: with each planted
// bug on, some seed within the budget must break a property.
func TestSimCatchesPlantedBugs(t *testing.T) {
	for _, bug := range plantedBugs {
		t.Run(bug.name, func(t *testing.T) {
			hooks := bug.hooks
			configure := func(o *Options) {
				bug.configure(o)
				o.Bugs = &hooks
			}
			if *seedFlag != 0 {
				if *controlFlag {
					configure = bug.configure
				}
				runOneSeed(t, *seedFlag, configure)
				return
			}
			out := sweep(context.Background(), 1, *bugSeedsFlag, 1, configure)
			if out.other != nil {
				t.Fatal(out.other)
			}
			if len(out.failures) == 0 {
				t.Fatalf("planted bug %s survived %d seeds: the simulator does not catch it", bug.name, out.runs)
			}
			f := out.failures[0]
			first, _, _ := strings.Cut(f.Err.Error(), "\n")
			t.Logf("caught at seed %d after %d seeds: %s\nreproduce with: %s", f.Seed, out.runs, first,
				reproducer("TestSimCatchesPlantedBugs/"+bug.name, f.Seed, ""))
			// Control: the same seed and schedule without the bug must
			// pass, or what was caught is something else.
			opts := RandomOptions(f.Seed)
			relaxKnownCoreBugs(&opts)
			bug.configure(&opts)
			if _, err := Run(context.Background(), opts, nil); err != nil {
				t.Errorf("seed %d also fails without %s, so the catch proves nothing: %v", f.Seed, bug.name, err)
			}
		})
	}
}

// regressionSeeds are seeds that once failed against the real core, kept so
// that the fix stays fixed. Add a line per failure found, with what it was.
var regressionSeeds = []struct {
	seed uint64
	why  string
	skip string // non-empty: still failing, and why it is not fixed yet
	// strict: run with every check, known core bugs included.
	strict bool
}{
	// Found 14:46 UTC on an early core: a leader in replicate state whose
	// MsgApp was lost with a full inflight window never sent again; the
	// cluster stalled after healing (liveness).
	{seed: 4, why: "replication stalled after a lost MsgApp"},
	// Found 21:20 UTC (session 3) in a 5000-seed sweep at seedbase 100000,
	// synchronous model, pre-vote and check-quorum off: a learner that
	// granted a vote in a later term ignored the older term's leader, which
	// never learned the term (a learner never campaigns); now a node that
	// cannot campaign answers a stale leader with its term.
	{seed: 102819, why: "a learner in a later term and a stale leader ignored each other (liveness)"},
	{seed: 91, why: "no write committed after healing (same stall)"},
	{seed: 99, why: "a follower never caught up after healing (same stall)"},
	// Found 14:49 UTC: a duplicated MsgProp made two entries for one
	// request, acked at two indexes; fixed in the simulator (the network
	// no longer duplicates MsgProp, see network.send) and now a checked
	// violation should a core ever ack one request twice.
	{seed: 124, why: "one request, two entries (duplicated MsgProp)"},
	// Found 14:49 UTC: the core ranges over a map to build heartbeats, so
	// a seed did not replay; the simulator now fixes the message order.
	{seed: 192, why: "irreproducible run from map-ordered messages"},
	// Found 15:12 UTC: with log compaction on, a new leader stamps
	// entries earlier than the last one (Entry.TimeMs goes backwards), as
	// the core reads the last stamp only from its log. Run strict with
	// strict.
	{seed: 35, why: "entry stamps go backwards after log compaction", strict: true},
	{seed: 151, why: "entry stamps go backwards when the last entry is in the snapshot", strict: true},
	// Found 15:43 UTC in a 20000-seed sweep: a node restarted, then
	// snapshotted through its last entry before it led; becomeLeader read
	// the last stamp only from the (compacted) log.
	// Found 16:01 UTC in a 20000-seed sweep: the schedule added a node
	// back as learner while its removal was appended but not yet acked,
	// then decommissioned it when the removal committed (a member down
	// for good); the simulator now marks a node removing at the request.
	{seed: 7367, why: "a removed node added back before its removal committed (simulator schedule)"},
	// Found 18:48 UTC (session 2) in a 20000-seed sweep: two removal
	// requests for one node; the second was refused (change pending) and
	// its refusal cleared the mark the first one had set, so the node was
	// added back while the first removal was appended, then decommissioned
	// while a member. One removal request per node at a time now.
	{seed: 7609, why: "a refused duplicate removal request cleared the node's removing mark (simulator schedule)"},
	{seed: 1019763, why: "entry stamps go backwards when a snapshot taken after restart covers the last entry", strict: true},
}

func TestSimRegressionSeeds(t *testing.T) {
	if len(regressionSeeds) == 0 {
		t.Skip("no regression seeds recorded")
	}
	for _, rs := range regressionSeeds {
		t.Run(fmt.Sprint(rs.seed), func(t *testing.T) {
			if rs.skip != "" {
				t.Skipf("seed %d (%s): %s", rs.seed, rs.why, rs.skip)
			}
			var strict func(*Options)
			if rs.strict {
				strict = func(o *Options) { o.SkipStampCheck = false }
			}
			runOneSeed(t, rs.seed, strict)
		})
	}
}

// TestSimDeterministic: the same seed gives the same run, event for event.
func TestSimDeterministic(t *testing.T) {
	for _, seed := range []uint64{7, 8, 9, 10, 11, 12} {
		var traces [2]string
		var results [2]Result
		for i := range traces {
			var b strings.Builder
			opts := RandomOptions(seed)
			relaxKnownCoreBugs(&opts)
			res, err := Run(context.Background(), opts, &b)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			traces[i], results[i] = b.String(), res
		}
		if results[0] != results[1] {
			t.Fatalf("seed %d: results differ:\n%+v\n%+v", seed, results[0], results[1])
		}
		if traces[0] != traces[1] {
			t.Fatalf("seed %d: traces differ (%d vs %d bytes)", seed, len(traces[0]), len(traces[1]))
		}
		if len(traces[0]) == 0 {
			t.Fatalf("seed %d: empty trace", seed)
		}
	}
}

func BenchmarkSimSeed(b *testing.B) {
	b.ReportAllocs()
	seed := uint64(1)
	for b.Loop() {
		opts := RandomOptions(seed)
		relaxKnownCoreBugs(&opts)
		if _, err := Run(context.Background(), opts, nil); err != nil {
			b.Fatal(err)
		}
		seed++
	}
}

// TestFailureReport: a failing seed yields the seed, the property, and a
// bounded trace of what led there, and replays to the same failure.
func TestFailureReport(t *testing.T) {
	bug := plantedBugs[0]
	for _, b := range plantedBugs {
		if b.name == "ForgetVotePersist" { // caught within a few seeds
			bug = b
		}
	}
	hooks := bug.hooks
	configure := func(o *Options) {
		bug.configure(o)
		o.Bugs = &hooks
		o.TraceEvents = 50
	}
	out := sweep(context.Background(), 1, 100, 1, configure)
	if len(out.failures) == 0 {
		t.Fatalf("no failure within 100 seeds with %s", bug.name)
	}
	f := out.failures[0]
	if !errors.Is(f, ErrViolation) || !strings.Contains(f.Error(), fmt.Sprint("seed ", f.Seed)) {
		t.Fatalf("failure %q does not wrap ErrViolation or name seed %d", f.Error(), f.Seed)
	}
	if lines := strings.Count(f.Trace, "\n"); lines != 50 {
		t.Fatalf("trace has %d lines, want the last 50 events", lines)
	}
	opts := RandomOptions(f.Seed)
	relaxKnownCoreBugs(&opts)
	configure(&opts)
	_, err := Run(context.Background(), opts, nil)
	var again *Failure
	if !errors.As(err, &again) || again.Error() != f.Error() || again.Trace != f.Trace {
		t.Fatalf("seed %d does not replay: first %v, then %v", f.Seed, f, err)
	}
}

// TestSimMembershipExercised: with membership changes on, the schedule
// really adds, promotes and removes (decommissions) nodes, and the safety
// and liveness checks hold over the changing membership. A schedule that
// silently proposed nothing would make the sweep prove nothing about §4.
func TestSimMembershipExercised(t *testing.T) {
	tests := []struct {
		nodes, spares int
	}{
		{3, 2},
		{5, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d", tt.nodes, tt.spares), func(t *testing.T) {
			var changes, decommissioned int
			for seed := uint64(1); seed <= 8; seed++ {
				opts := RandomOptions(seed)
				relaxKnownCoreBugs(&opts)
				opts.Nodes, opts.SpareNodes = tt.nodes, tt.spares
				opts.Faults.MaxDownNodes = min(opts.Faults.MaxDownNodes, tt.nodes/2)
				opts.MembershipPerTenThousand = 100
				res, err := Run(context.Background(), opts, nil)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				changes += res.MembershipChanges
				decommissioned += res.Decommissioned
			}
			if changes == 0 || decommissioned == 0 {
				t.Fatalf("8 seeds made %d membership changes and decommissioned %d nodes; want some of both", changes, decommissioned)
			}
			t.Logf("%d membership changes, %d nodes decommissioned", changes, decommissioned)
		})
	}
}

// TestSimLeaseExercised: the lease seeds of the default sweep really answer
// reads from the lease (in the step they were invoked, which a heartbeat
// round cannot), and the other seeds never do. A lease mode that silently
// fell back to ReadIndex rounds would make the sweep prove nothing about it.
func TestSimLeaseExercised(t *testing.T) {
	var leaseReads int
	for seed := uint64(1); seed <= 12; seed++ {
		opts := RandomOptions(seed)
		relaxKnownCoreBugs(&opts)
		if got, want := opts.ReadLeaseTicks > 0, leaseSeed(seed); got != want {
			t.Fatalf("seed %d: lease mode %v, want %v", seed, got, want)
		}
		res, err := Run(context.Background(), opts, nil)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if opts.ReadLeaseTicks == 0 && res.ReadsAtOnce != 0 {
			t.Fatalf("seed %d without lease answered %d reads with no heartbeat round", seed, res.ReadsAtOnce)
		}
		leaseReads += res.ReadsAtOnce
	}
	if leaseReads == 0 {
		t.Fatal("the lease seeds among 1..12 answered no read from a lease")
	}
	t.Logf("%d reads answered from a lease", leaseReads)
}
