package sim

import (
	"context"
	"testing"
)

// quietOptions is a fault-free 3-node cluster with slow disks: the
// two-layer disk model can then be watched without other noise.
func quietOptions(syncSteps int64, async bool) Options {
	o := RandomOptions(1)
	o.AsyncStorageWrites = async
	o.Nodes = 3
	o.Network = NetworkOptions{DelayMinSteps: 1, DelayMaxSteps: 1, CapacityPackets: 1024}
	o.Faults = NodeFaultOptions{
		MaxDownNodes: 1, SyncMinSteps: syncSteps, SyncMaxSteps: syncSteps,
		TickPeriodSteps: 5,
	}
	o.Workload = WorkloadOptions{Clients: 2, Keys: 2, OpPercentPerStep: 50, ReadPercent: 30, LeaderPercent: 100, TimeoutSteps: 1000}
	o.PreVote, o.CheckQuorum = true, true
	return o
}

// runUntil steps s until cond holds, or fails the test after maxSteps.
func runUntil(t *testing.T, s *Simulator, maxSteps int64, what string, cond func() bool) {
	t.Helper()
	for end := s.step + maxSteps; s.step < end; s.step++ {
		if err := s.faults(); err != nil {
			t.Fatal(err)
		}
		s.clientsStep()
		if err := s.tick(); err != nil {
			t.Fatal(err)
		}
		if cond() {
			return
		}
	}
	t.Fatalf("no %s within %d steps", what, maxSteps)
}

func TestCrashLosesOnlyUnsyncedWrites(t *testing.T) {
	tests := []struct {
		name      string
		syncSteps int64
		async     bool
		// inFlight is how many syncs the victim must have in flight at
		// once: with asynchronous writes a node takes input, and so
		// Readys, while earlier writes sync.
		inFlight int
	}{
		// Slower than a network hop, well below the election timeout
		// (ElectionTicks*TickPeriodSteps = 50 steps): a disk as slow as
		// the timeout would stop elections from ever finishing.
		{"slow disk", 6, false, 1},
		{"very slow disk", 15, false, 1},
		{"slow disk, async writes", 6, true, 2},
		{"very slow disk, async writes", 15, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(quietOptions(tt.syncSteps, tt.async), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.step = 1
			var victim *simNode
			runUntil(t, s, 5000, "node syncing new entries", func() bool {
				for _, n := range s.nodes[1:] {
					if len(n.syncs) >= tt.inFlight && len(n.syncs[0].rd.Entries) > 0 && len(n.durableEntries) > 0 {
						victim = n
						return true
					}
				}
				return false
			})
			written := s.check.lastIndex(victim.id)
			durable := uint64(len(victim.durableEntries))
			if written <= durable {
				t.Fatalf("n%d: written log ends at %d, durable at %d: nothing unsynced to lose", victim.id, written, durable)
			}
			s.crash(victim, "test")
			if err := s.restart(victim); err != nil {
				t.Fatal(err)
			}
			if got := s.check.lastIndex(victim.id); got != durable {
				t.Fatalf("after restart n%d's log ends at %d, want the durable %d (written was %d)", victim.id, got, durable, written)
			}
			if got := victim.written.LastIndex(); got != durable {
				t.Fatalf("after restart n%d's storage ends at %d, want %d", victim.id, got, durable)
			}
			if victim.sm.applied != 0 {
				t.Fatalf("after restart n%d has applied %d, want 0 (state machine is rebuilt)", victim.id, victim.sm.applied)
			}
		})
	}
}

func TestQuietClusterPasses(t *testing.T) {
	for _, async := range []bool{false, true} {
		res, err := Run(context.Background(), quietOptions(3, async), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.OpsOK == 0 || res.Elections == 0 {
			t.Fatalf("async=%v: a quiet cluster did nothing: %+v", async, res)
		}
		if res.Crashes != 0 || res.Partitions != 0 {
			t.Fatalf("async=%v: a quiet cluster saw faults: %+v", async, res)
		}
	}
}
