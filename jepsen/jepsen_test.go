//go:build linux

package jepsen

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/raftkv/raftkv/internal/testproc"
)

var (
	flagScenarios    = flag.String("jepsen.scenarios", "default", `scenarios to run: "default", "all", or a comma-separated list of names`)
	flagRun          = flag.Duration("jepsen.run", 20*time.Second, "workload duration of one scenario run")
	flagDuration     = flag.Duration("jepsen.duration", 0, "campaign length: repeat the scenarios until it has passed (0: one pass)")
	flagSeed         = flag.Uint64("jepsen.seed", 0, "seed of the first run (0: from the clock); run i uses seed+i")
	flagOut          = flag.String("jepsen.out", os.Getenv("JEPSEN_OUT"), "directory for failure artefacts (default: the system temp dir)")
	flagKeep         = flag.Bool("jepsen.keep", false, "keep node data and logs of passing runs too")
	flagPace         = flag.Duration("jepsen.pace", 10*time.Millisecond, "pause between a client's round trips")
	flagCheckTimeout = flag.Duration("jepsen.check-timeout", 60*time.Second, "porcupine's time budget per run (Unknown when exceeded)")
)

// scenario is a named fault schedule against a cluster.
type scenario struct {
	name    string
	size    int
	extra   []string // node flags
	kinds   []faultKind
	quiet   time.Duration
	hold    time.Duration
	overlap bool
}

// scenarios are the named failure hunts; doc.go says what each looks for.
var scenarios = []scenario{
	{name: "leader-kill", size: 3, kinds: []faultKind{faultKillLeader}},
	{name: "leader-partition", size: 3, kinds: []faultKind{faultPartitionLeader}},
	{name: "majority-minority", size: 5, kinds: []faultKind{faultSplit}},
	{name: "one-way", size: 3, kinds: []faultKind{faultOneWay}},
	{name: "bridge", size: 5, kinds: []faultKind{faultBridge}},
	{name: "pause", size: 3, kinds: []faultKind{faultPauseLeader}},
	{name: "kill-restart-all", size: 3, kinds: []faultKind{faultKillAll}},
	{name: "torn-tail", size: 3, kinds: []faultKind{faultTornTail}},
	{name: "snapshot-restart", size: 3, extra: []string{"--snapshot-threshold", "200"}, kinds: []faultKind{faultKillNode, faultKillAll}},
	{name: "membership", size: 3, extra: []string{"--snapshot-threshold", "200"}, kinds: []faultKind{faultReplaceNode}},
	{name: "lease-partition", size: 3, extra: []string{"--read-mode", "lease"}, kinds: []faultKind{faultPartitionLeader}},
	{name: "lease-pause", size: 3, extra: []string{"--read-mode", "lease"}, kinds: []faultKind{faultPauseLeader, faultKillNode}},
	{name: "mixed", size: 5, extra: []string{"--snapshot-threshold", "200"}, kinds: []faultKind{
		faultKillLeader, faultPartitionLeader, faultSplit, faultOneWay, faultBridge,
		faultPauseLeader, faultKillAll, faultTornTail, faultKillNode}, overlap: true},
}

// defaultScenarios is the bounded run of plain `go test ./jepsen/`.
var defaultScenarios = []string{"leader-kill", "leader-partition", "pause", "torn-tail", "membership", "mixed"}

// selectScenarios resolves the -jepsen.scenarios value.
func selectScenarios(spec string) ([]scenario, error) {
	var names []string
	switch spec {
	case "default":
		names = defaultScenarios
	case "all":
		for _, s := range scenarios {
			names = append(names, s.name)
		}
	default:
		names = strings.Split(spec, ",")
	}
	var out []scenario
	for _, name := range names {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
		out = append(out, scenarios[i])
	}
	return out, nil
}

func (s scenario) needsNet() bool {
	return slices.ContainsFunc(s.kinds, faultKind.needsNet)
}

// buildRaftkv builds the server binary (with build tags) into a temp dir.
func buildRaftkv(t *testing.T, tags string) string {
	t.Helper()
	bin, err := testproc.BuildRaftkv(t.TempDir(), tags)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// labOrFallback builds the namespace lab, or says loudly why not. Under
// CI=true a missing lab fails the test.
func labOrFallback(t *testing.T, size int) *netLab {
	t.Helper()
	if err := netnsUnavailable(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: scripts/test must run as root with iproute2 and iptables)", err)
		}
		t.Logf("!!!! JEPSEN WITHOUT NETWORK FAULTS: %v; only kill/pause/torn-tail faults run, partitions are NOT tested !!!!", err)
		return nil
	}
	lab, err := newNetLab(context.Background(), size)
	if err != nil {
		t.Fatalf("network lab: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.close(); err != nil {
			t.Errorf("remove namespaces: %v", err)
		}
	})
	return lab
}

// runReport is what one scenario run found.
type runReport struct {
	scenario   string
	seed       uint64
	ok         int // operations, log appends included
	failed     int
	unknown    int
	faults     []fault
	windows    []faultWindow
	spurious   int // no-leader errors while the cluster was healthy
	checker    porcupine.CheckResult
	violations []string
	artefacts  string
}

// healthySettle is how long after a heal the cluster counts as healthy
// again for the spurious no-leader count: a restarted node needs start-up
// plus about an election timeout to learn the leader.
const healthySettle = 4 * time.Second

// runScenario runs one scenario with one seed and checks everything.
func runScenario(t *testing.T, bin string, sc scenario, seed uint64, runFor time.Duration) runReport {
	t.Helper()
	rep := runReport{scenario: sc.name, seed: seed}
	base := *flagOut
	if base == "" {
		base = os.TempDir()
	}
	outDir, err := os.MkdirTemp(base, fmt.Sprintf("jepsen-%s-%d-", sc.name, seed))
	if err != nil {
		t.Fatal(err)
	}
	rep.artefacts = outDir
	t.Cleanup(func() {
		if !t.Failed() && !*flagKeep {
			os.RemoveAll(outDir)
			return
		}
		t.Logf("artefacts (node logs and data, visualisation) kept in %s", outDir)
	})
	lab := labOrFallback(t, sc.size)
	if lab == nil && sc.needsNet() {
		t.Skipf("SKIPPED LOUDLY: scenario %s needs network namespaces", sc.name)
	}
	kinds := sc.kinds
	if lab == nil {
		kinds = slices.DeleteFunc(slices.Clone(kinds), faultKind.needsNet)
	}
	c := newCluster(t, lab, clusterSpec{bin: bin, size: sc.size, dir: outDir, extra: sc.extra})

	var cfgs []workerConfig
	workers := 6
	for i := 0; i < workers; i++ {
		cfg := workerConfig{id: i, node: c.Procs[i%len(c.Procs)], pace: *flagPace, opTimeout: 1500 * time.Millisecond, seed: seed}
		if i%3 == 2 {
			cfg.pipeline = 3
		}
		cfgs = append(cfgs, cfg)
	}
	quiet, hold := sc.quiet, sc.hold
	if quiet == 0 {
		quiet = 3 * time.Second
	}
	if hold == 0 {
		hold = 4 * time.Second
	}
	start := time.Now()
	nem := newNemesis(c, nemesisConfig{kinds: kinds, quiet: quiet, hold: hold, seed: seed, overlap: sc.overlap}, start)
	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()
	var h history
	var nemErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h = runWorkers(ctx, c, cfgs, start) }()
	go func() {
		defer wg.Done()
		// Faults stop a quiet period before the workload does, so the last
		// fault's recovery is measured and the run ends on a healthy cluster.
		nemCtx, nemCancel := context.WithTimeout(ctx, max(runFor-quiet, 0))
		defer nemCancel()
		nemErr = nem.run(nemCtx)
	}()
	wg.Wait()
	end := time.Since(start)
	if nemErr != nil {
		t.Errorf("nemesis: %v", nemErr)
	}
	if err := nem.finish(end); err != nil {
		t.Errorf("heal: %v", err)
	}
	rep.faults = nem.faults

	// Healed: a leader must serve writes again, and every node must agree.
	checkCtx, checkCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer checkCancel()
	if _, err := c.WaitLeader(checkCtx, 30*time.Second); err != nil {
		t.Fatalf("after healing: %v", err)
	}
	final, diverged, err := readFinal(checkCtx, c, start)
	if err != nil {
		t.Fatalf("after healing: %v", err)
	}
	rep.violations = append(rep.violations, diverged...)
	logValues := map[string]string{}
	for _, k := range logKeys {
		if v := final.values[0][k]; v != nil {
			logValues[k] = *v
		}
	}
	rep.violations = append(rep.violations, checkLogs(logValues, h.logs)...)
	rep.violations = append(rep.violations, c.UnexpectedExits()...)

	for _, r := range h.ops {
		rep.count(r.class)
	}
	for _, r := range h.logs {
		rep.count(r.class)
	}
	acks := ackedWrites(h)
	for _, f := range rep.faults {
		rep.windows = append(rep.windows, measureWindow(acks, f))
	}
	spurious := spuriousNoLeader(h, rep.faults, end)
	rep.spurious = len(spurious)
	for i, r := range spurious {
		if i == 5 {
			break
		}
		t.Logf("no-leader error while healthy: %s %s on node %d at %v (+%v): %s", r.in.kind, r.in.key, r.node,
			r.call.Round(time.Millisecond), (r.ret - r.call).Round(time.Millisecond), r.failure)
	}

	res, vis, err := checkLinearizable(porcupineHistory(h.ops, final.reads), *flagCheckTimeout, outDir, sc.name)
	rep.checker = res
	if err != nil {
		t.Errorf("linearizability check: %v", err)
	}
	if res == porcupine.Illegal {
		rep.violations = append(rep.violations, "porcupine: history not linearizable; visualisation: "+vis)
	}
	return rep
}

func (r *runReport) count(c outcomeClass) {
	switch c {
	case classOK:
		r.ok++
	case classFailed:
		r.failed++
	default:
		r.unknown++
	}
}

// countSpurious counts CLUSTERDOWN replies to commands invoked while the
// cluster was healthy: before the first fault, and from healthySettle
// after each heal to the next fault.
func countSpurious(h history, faults []fault, end time.Duration) int {
	return len(spuriousNoLeader(h, faults, end))
}

// spuriousNoLeader returns the CLUSTERDOWN replies countSpurious counts.
func spuriousNoLeader(h history, faults []fault, end time.Duration) []record {
	type span struct{ from, to time.Duration }
	var healthy []span
	from := time.Duration(0)
	for _, f := range faults {
		healthy = append(healthy, span{from, f.begin})
		from = f.healed + healthySettle
	}
	healthy = append(healthy, span{from, end})
	var out []record
	for _, r := range h.ops {
		if r.class != classFailed || !strings.HasPrefix(r.failure, "CLUSTERDOWN") {
			continue
		}
		for _, s := range healthy {
			if r.call >= s.from && r.call < s.to {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// logReport writes one run's report to the test log.
func logReport(t *testing.T, r runReport) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s seed %d: ops ok %d, failed %d, indeterminate %d; checker %s; spurious no-leader errors %d\n",
		r.scenario, r.seed, r.ok, r.failed, r.unknown, r.checker, r.spurious)
	for i, f := range r.faults {
		w := r.windows[i]
		state := "first write after"
		if !w.recovered {
			state = "NO write acknowledged within"
		}
		fmt.Fprintf(&b, "  %6.1fs %-16s %-60s %s %v, longest gap %v\n", f.start.Seconds(), f.kind, f.detail, state,
			w.firstWrite.Round(time.Millisecond), w.longestGap.Round(time.Millisecond))
	}
	t.Log(b.String())
}

// summary accumulates a campaign.
type summary struct {
	runs       map[string]int
	ops        map[string][3]int
	violations map[string]int
	unknown    map[string]int // checker timeouts
	faults     map[faultKind]int
	firstWrite map[faultKind][]time.Duration
	gaps       map[faultKind][]time.Duration
}

func newSummary() *summary {
	return &summary{runs: map[string]int{}, ops: map[string][3]int{}, violations: map[string]int{}, unknown: map[string]int{},
		faults: map[faultKind]int{}, firstWrite: map[faultKind][]time.Duration{}, gaps: map[faultKind][]time.Duration{}}
}

func (s *summary) add(r runReport) {
	s.runs[r.scenario]++
	o := s.ops[r.scenario]
	o[0], o[1], o[2] = o[0]+r.ok, o[1]+r.failed, o[2]+r.unknown
	s.ops[r.scenario] = o
	s.violations[r.scenario] += len(r.violations)
	if r.checker == porcupine.Unknown {
		s.unknown[r.scenario]++
	}
	for i, f := range r.faults {
		s.faults[f.kind]++
		s.firstWrite[f.kind] = append(s.firstWrite[f.kind], r.windows[i].firstWrite)
		s.gaps[f.kind] = append(s.gaps[f.kind], r.windows[i].longestGap)
	}
}

// medianMax returns the median and the largest of ds.
func medianMax(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

func (s *summary) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\truns\tops ok\tfailed\tindeterminate\tviolations\tchecker timeouts")
	names := make([]string, 0, len(s.runs))
	for n := range s.runs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		o := s.ops[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", n, s.runs[n], o[0], o[1], o[2], s.violations[n], s.unknown[n])
	}
	fmt.Fprintln(tw, "\nfault\tcount\tfirst write median\tworst\tlongest gap median\tworst")
	kinds := make([]string, 0, len(s.faults))
	for k := range s.faults {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fm, fw := medianMax(s.firstWrite[faultKind(k)])
		gm, gw := medianMax(s.gaps[faultKind(k)])
		fmt.Fprintf(tw, "%s\t%d\t%v\t%v\t%v\t%v\n", k, s.faults[faultKind(k)], fm.Round(time.Millisecond), fw.Round(time.Millisecond), gm.Round(time.Millisecond), gw.Round(time.Millisecond))
	}
	tw.Flush()
	return b.String()
}

// TestJepsen runs the selected scenarios against the real binary (one pass
// by default; -jepsen.duration repeats them) and fails on any violation.
func TestJepsen(t *testing.T) {
	chosen, err := selectScenarios(*flagScenarios)
	if err != nil {
		t.Fatal(err)
	}
	runFor := *flagRun
	if testing.Short() && *flagScenarios == "default" {
		chosen, runFor = chosen[:2], min(runFor, 10*time.Second)
	}
	bin := buildRaftkv(t, "")
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano() % 1_000_000)
	}
	sum := newSummary()
	campaignEnd := time.Now().Add(*flagDuration)
	for pass := 0; pass == 0 || time.Now().Before(campaignEnd); pass++ {
		for _, sc := range chosen {
			if pass > 0 && !time.Now().Before(campaignEnd) {
				break
			}
			runSeed := seed
			seed++
			t.Run(fmt.Sprintf("%s/seed=%d", sc.name, runSeed), func(t *testing.T) {
				rep := runScenario(t, bin, sc, runSeed, runFor)
				logReport(t, rep)
				sum.add(rep)
				for _, v := range rep.violations {
					t.Errorf("VIOLATION: %s", v)
				}
				if rep.checker == porcupine.Unknown {
					t.Logf("!!!! porcupine timed out after %v: linearizability NOT decided for this run", *flagCheckTimeout)
				}
				if rep.spurious > 0 {
					t.Errorf("%d no-leader errors while the cluster was healthy", rep.spurious)
				}
				if rep.ok < 100 {
					t.Errorf("only %d operations succeeded: the cluster barely served", rep.ok)
				}
			})
		}
	}
	t.Logf("campaign summary:\n%s", sum)
}

// TestBrokenBuildIsCaught builds raftkv with reads that skip ReadIndex and
// requires the harness to report a linearizability violation: an isolated
// old leader keeps answering reads from its stale state.
func TestBrokenBuildIsCaught(t *testing.T) {
	src, err := os.ReadFile("../server/backend.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "unsafeLocalReads") {
		t.Skip("SKIPPED LOUDLY: server/backend.go does not consult unsafeLocalReads yet (see /work/notes/jepsen-needs.md); the broken build would not be broken")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildRaftkv(t, "raftkv_unsafe_reads")
	sc := scenario{name: "broken-unsafe-reads", size: 3, kinds: []faultKind{faultPartitionLeader}, quiet: 2 * time.Second, hold: 5 * time.Second}
	if netnsUnavailable() != nil {
		// Without partitions a paused leader still serves stale reads once
		// it resumes, until it learns the new term.
		sc.kinds = []faultKind{faultPauseLeader}
	}
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano() % 1_000_000)
	}
	rep := runScenario(t, bin, sc, seed, 15*time.Second)
	logReport(t, rep)
	if rep.checker != porcupine.Illegal {
		t.Fatalf("porcupine said %s for a build whose reads skip ReadIndex; want Illegal. Violations: %v", rep.checker, rep.violations)
	}
	t.Logf("caught as expected: %v", rep.violations)
}
