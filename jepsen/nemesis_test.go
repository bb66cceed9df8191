//go:build linux

package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// faultKind names one kind of fault the nemesis injects.
type faultKind string

const (
	faultKillLeader      faultKind = "kill-leader"      // SIGKILL the leader, restart it at heal
	faultPartitionLeader faultKind = "partition-leader" // cut the leader off from every peer
	faultSplit           faultKind = "split"            // leader + one peer (5 nodes) vs the rest
	faultOneWay          faultKind = "one-way"          // peers stop hearing the leader; it still hears them
	faultBridge          faultKind = "bridge"           // two halves that only one node sees both of
	faultPauseLeader     faultKind = "pause-leader"     // SIGSTOP the leader, SIGCONT at heal
	faultKillAll         faultKind = "kill-all"         // SIGKILL every node, restart all at heal
	faultTornTail        faultKind = "torn-tail"        // kill a node, zero the end of its WAL tail, restart
	faultKillNode        faultKind = "kill-node"        // SIGKILL any node, restart at heal
)

// needsNet reports whether the fault needs the namespace lab.
func (k faultKind) needsNet() bool {
	switch k {
	case faultPartitionLeader, faultSplit, faultOneWay, faultBridge:
		return true
	}
	return false
}

// fault is one injected fault, as the report shows it.
type fault struct {
	kind   faultKind
	detail string
	begin  time.Duration // since the run's start: the nemesis began to act
	start  time.Duration // the fault has taken effect (all kills reaped, all rules in)
	healed time.Duration
	end    time.Duration // next fault's start, or the end of the workload
}

// nemesisConfig is the schedule: quiet, fault, hold, heal, quiet, ...
type nemesisConfig struct {
	kinds   []faultKind // chosen at random (one kind: always that one)
	quiet   time.Duration
	hold    time.Duration
	seed    uint64
	overlap bool // sometimes inject a second fault before healing the first
}

// nemesis injects faults into a cluster and remembers them.
type nemesis struct {
	c      *cluster
	cfg    nemesisConfig
	rng    *rand.Rand
	start  time.Time
	faults []fault
	// heal undoes the current fault; nil when none is active.
	heal func(context.Context) error
}

func newNemesis(c *cluster, cfg nemesisConfig, start time.Time) *nemesis {
	return &nemesis{c: c, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, 0x6e656d)), start: start}
}

// run injects faults until ctx ends and leaves the last one healed.
func (m *nemesis) run(ctx context.Context) error {
	for {
		if !m.wait(ctx, m.cfg.quiet) {
			return nil
		}
		kind := m.cfg.kinds[m.rng.IntN(len(m.cfg.kinds))]
		begin := time.Since(m.start)
		detail, err := m.inject(ctx, kind)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("inject %s: %w", kind, err)
		}
		if second, ok := m.overlapWith(kind); ok {
			// A second fault on top of the first, healed together: the
			// combinations (a partition while the new leader is killed, a
			// pause during a split) are where lost updates hide.
			firstHeal := m.heal
			m.heal = nil
			more, err := m.inject(ctx, second)
			if err != nil {
				m.heal = firstHeal
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("inject %s on top of %s: %w", second, kind, err)
			}
			secondHeal := m.heal
			m.heal = func(ctx context.Context) error {
				return errors.Join(secondHeal(ctx), firstHeal(ctx))
			}
			kind, detail = kind+"+"+second, detail+"; then "+more
		}
		// The fault starts when it has taken effect (the kill reaped, the
		// rules in place), not when the nemesis began looking for the leader.
		at := time.Since(m.start)
		if n := len(m.faults); n > 0 {
			m.faults[n-1].end = at
		}
		m.faults = append(m.faults, fault{kind: kind, detail: detail, begin: begin, start: at})
		m.c.Mark(fmt.Sprintf("fault %s at +%v: %s", kind, at.Round(time.Millisecond), detail))
		hold := m.cfg.hold
		if kind == faultKillAll || kind == faultTornTail {
			hold = time.Second // the point is the restart, not the outage
		}
		m.wait(ctx, hold)
		if err := m.healNow(context.Background()); err != nil {
			return fmt.Errorf("heal %s: %w", kind, err)
		}
	}
}

// overlapWith picks, when the schedule overlaps faults, a second fault to
// add to first. Torn tails and whole-cluster kills never overlap: both are
// about one clean restart, and a torn tail is only survivable alone.
func (m *nemesis) overlapWith(first faultKind) (faultKind, bool) {
	if !m.cfg.overlap || first == faultTornTail || first == faultKillAll || m.rng.IntN(3) != 0 {
		return "", false
	}
	var pool []faultKind
	for _, k := range m.cfg.kinds {
		if k != faultTornTail && k != faultKillAll && k != first {
			pool = append(pool, k)
		}
	}
	if len(pool) == 0 {
		return "", false
	}
	return pool[m.rng.IntN(len(pool))], true
}

// wait returns false if ctx ended first.
func (m *nemesis) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// healNow undoes the active fault, if any.
func (m *nemesis) healNow(ctx context.Context) error {
	if m.heal == nil {
		return nil
	}
	err := m.heal(ctx)
	m.heal = nil
	m.c.Mark(fmt.Sprintf("healed at +%v", time.Since(m.start).Round(time.Millisecond)))
	if n := len(m.faults); n > 0 {
		m.faults[n-1].healed = time.Since(m.start)
	}
	return err
}

// finish heals everything and closes the last fault's window at end.
func (m *nemesis) finish(end time.Duration) error {
	err := m.healNow(context.Background())
	if n := len(m.faults); n > 0 && m.faults[n-1].end == 0 {
		m.faults[n-1].end = end
	}
	// Belt and braces: whatever the last fault was, every process runs
	// and every link is up.
	for _, n := range m.c.Procs {
		if n.Running() {
			n.Resume()
		} else {
			m.c.start(n)
		}
	}
	if m.c.lab != nil {
		err = errors.Join(err, m.c.lab.heal(context.Background()))
	}
	return err
}

// leaderOrAny returns the leader, or a random responsive node when there is
// none (a fault still happens, and says so).
func (m *nemesis) leaderOrAny(ctx context.Context) (*node, string) {
	if l := m.c.Leader(ctx); l != nil {
		return l, "leader"
	}
	return m.c.Procs[m.rng.IntN(len(m.c.Procs))], "no leader; random"
}

// inject starts one fault and sets m.heal.
func (m *nemesis) inject(ctx context.Context, kind faultKind) (string, error) {
	c := m.c
	if kind.needsNet() && c.lab == nil {
		return "", fmt.Errorf("%s needs network namespaces", kind)
	}
	switch kind {
	case faultReplaceNode:
		return m.replaceNode(ctx)
	case faultKillLeader, faultKillNode:
		var n *node
		what := "random"
		if kind == faultKillLeader {
			n, what = m.leaderOrAny(ctx)
		} else {
			n = c.Procs[m.rng.IntN(len(c.Procs))]
		}
		n.Kill()
		m.heal = func(context.Context) error { c.restart(n); return nil }
		return fmt.Sprintf("node %d (%s)", n.ID, what), nil
	case faultPauseLeader:
		n, what := m.leaderOrAny(ctx)
		n.Pause()
		m.heal = func(context.Context) error { n.Resume(); return nil }
		return fmt.Sprintf("node %d (%s)", n.ID, what), nil
	case faultKillAll:
		for _, n := range c.Procs {
			n.Kill()
		}
		m.heal = func(context.Context) error {
			for _, n := range c.Procs {
				c.restart(n)
			}
			return nil
		}
		return "all nodes", nil
	case faultTornTail:
		// One node at a time, with every other node intact: tearing the
		// tail of fsynced entries is only survivable while a majority of
		// intact logs holds every acknowledged entry.
		n := c.Procs[m.rng.IntN(len(c.Procs))]
		n.Kill()
		cut := int64(1 + m.rng.IntN(48))
		seg, err := lastSegment(n)
		if err != nil {
			c.start(n)
			return "", err
		}
		// The segment is preallocated: a torn write leaves zeros where
		// the last record's bytes should be.
		if _, err := testproc.TearWALTail(seg, cut); err != nil {
			c.start(n)
			return "", fmt.Errorf("torn tail: %w", err)
		}
		m.heal = func(context.Context) error { c.restart(n); return nil }
		return fmt.Sprintf("node %d: last %d bytes of %s zeroed", n.ID, cut, seg), nil
	}
	// Network faults.
	l, what := m.leaderOrAny(ctx)
	var cuts [][2]int // directed links: from, to
	both := func(a, b *node) { cuts = append(cuts, [2]int{a.ID, b.ID}, [2]int{b.ID, a.ID}) }
	var detail string
	switch kind {
	case faultPartitionLeader:
		for _, o := range c.Others(l) {
			both(l, o)
		}
		detail = fmt.Sprintf("node %d (%s) isolated", l.ID, what)
	case faultOneWay:
		for _, o := range c.Others(l) {
			cuts = append(cuts, [2]int{l.ID, o.ID})
		}
		detail = fmt.Sprintf("node %d (%s) unheard by its peers", l.ID, what)
	case faultSplit:
		others := c.Others(l)
		m.rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		minority := []*node{l}
		if len(c.Procs) >= 5 {
			minority = append(minority, others[0])
			others = others[1:]
		}
		for _, a := range minority {
			for _, b := range others {
				both(a, b)
			}
		}
		detail = fmt.Sprintf("minority %v (with %s node %d) | majority %v", ids(minority), what, l.ID, ids(others))
	case faultBridge:
		nodes := append([]*node(nil), c.Procs...)
		m.rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		half := (len(nodes) - 1) / 2
		left, bridge, right := nodes[:half], nodes[half], nodes[half+1:]
		for _, a := range left {
			for _, b := range right {
				both(a, b)
			}
		}
		detail = fmt.Sprintf("%v <- node %d -> %v (leader was %d)", ids(left), bridge.ID, ids(right), l.ID)
	default:
		return "", fmt.Errorf("unknown fault %q", kind)
	}
	for _, cut := range cuts {
		if err := c.lab.drop(ctx, cut[0], cut[1]); err != nil {
			return "", errors.Join(err, c.lab.heal(context.Background()))
		}
	}
	m.heal = c.lab.heal
	return detail, nil
}

func ids(nodes []*node) []int {
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}
