package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// benchCase is one redis-benchmark invocation; rows maps the test names it
// prints to the case names they are recorded under.
type benchCase struct {
	tests      string // -t
	pipeline   int    // -P
	valueBytes int    // -d
	requests   int    // -n
	rows       map[string]string
}

// benchCases are the runs of one round, SETs before GETs. A mixed run
// counts its CPU once for both of its tests.
func benchCases(n int) []benchCase {
	return []benchCase{
		{tests: "set", pipeline: 1, valueBytes: 16, requests: n, rows: map[string]string{"SET": caseSetP1}},
		{tests: "get", pipeline: 1, valueBytes: 16, requests: n, rows: map[string]string{"GET": caseGetP1}},
		{tests: "set", pipeline: 16, valueBytes: 16, requests: 4 * n, rows: map[string]string{"SET": caseSetP16}},
		{tests: "get", pipeline: 16, valueBytes: 16, requests: 4 * n, rows: map[string]string{"GET": caseGetP16}},
		{tests: "set,get", pipeline: 1, valueBytes: 1024, requests: n / 2, rows: map[string]string{"SET": caseSet1KiB, "GET": caseGet1KiB}},
	}
}

func (c benchCase) args(addr *process) []string {
	return []string{"-h", "127.0.0.1", "-p", itoa(addr.port), "-c", itoa(clients), "-r", itoa(keyspaceKeys),
		"-n", itoa(c.requests), "-P", itoa(c.pipeline), "-d", itoa(c.valueBytes), "-t", c.tests, "--csv"}
}

// runCase runs redis-benchmark once against sys and records throughput,
// latency and the server CPU it cost.
func runCase(ctx context.Context, sys *system, c benchCase, round int, hz float64) (Observations, error) {
	before, err := sys.cpuTicks()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-benchmark", c.args(sys.target)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	after, err := sys.cpuTicks()
	if err != nil {
		return nil, err
	}
	if runErr != nil {
		return nil, fmt.Errorf("redis-benchmark %v on %s: %w: %s", c.args(sys.target), sys.name, runErr, tail(stderr.Bytes()))
	}
	results, err := parseBenchmarkCSV(&stdout)
	if err != nil {
		return nil, fmt.Errorf("%s %s -P %d: %w (stderr: %s)", sys.name, c.tests, c.pipeline, err, tail(stderr.Bytes()))
	}
	cpuUsPerOp := float64(after-before) / hz * 1e6 / float64(c.requests*len(c.rows))
	var obs Observations
	for _, r := range results {
		name, ok := c.rows[r.Test]
		if !ok {
			return nil, fmt.Errorf("%s: redis-benchmark printed test %q, asked for %s", sys.name, r.Test, c.tests)
		}
		add := func(metric string, v float64) {
			obs = append(obs, Observation{Round: round, System: sys.name, Case: name, Metric: metric, Value: v})
		}
		add(metricRPS, r.RPS)
		add(metricP50Ms, r.P50Ms)
		add(metricP99Ms, r.P99Ms)
		add(metricCPUPerOpUs, cpuUsPerOp)
	}
	return obs, nil
}

// tail is the last few hundred bytes of a command's output, for errors.
func tail(b []byte) string {
	const max = 400
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(bytes.TrimSpace(b))
}

// throughputPhase starts the four systems, fills each with the key range
// the GETs read, and runs every case against every system, round after
// round. Within a case the systems run back to back, and the order rotates
// each round, so that a noisy neighbour hurts every system alike and the
// per-round ratios stay fair.
func throughputPhase(ctx context.Context, l *launcher, o options, hz float64, logger *slog.Logger) (Observations, error) {
	var systems []*system
	defer func() {
		for _, s := range systems {
			if err := s.stop(); err != nil {
				logger.Warn("bench: stop", "system", s.name, "err", err)
			}
		}
	}()
	starts := []func() (*system, error){
		func() (*system, error) { return l.startRedis(ctx, sysRedis, false) },
		func() (*system, error) { return l.startRedis(ctx, sysRedisAOF, true) },
		func() (*system, error) { return l.startRaftKV(ctx, sysRaftKV1, 1) },
		func() (*system, error) { return l.startRaftKV(ctx, sysRaftKV3, 3) },
	}
	for _, start := range starts {
		s, err := start()
		if err != nil {
			return nil, err
		}
		systems = append(systems, s)
		if _, err := loadKeys(ctx, s.target.addr(), keyspaceKeys, 16); err != nil {
			return nil, fmt.Errorf("%s: prefill: %w", s.name, err)
		}
		logger.Info("bench: started", "system", s.name, "addr", s.target.addr())
	}
	var obs Observations
	for round := range o.rounds {
		for _, c := range benchCases(o.requests) {
			for i := range systems {
				sys := systems[(i+round)%len(systems)]
				got, err := runCase(ctx, sys, c, round, hz)
				if err != nil {
					return obs, err
				}
				obs = append(obs, got...)
				for _, g := range got {
					if g.Metric == metricRPS {
						logger.Info("bench: run", "round", round, "system", sys.name, "case", g.Case, "rps", int(g.Value))
					}
				}
			}
		}
	}
	return obs, nil
}

// Loader shape: a few connections, each sending pipelines of SETs, which
// for raftkv become one log entry per pipeline.
const (
	loadConns        = 8
	loadPipelineCmds = 1000
	loadValuePrefix  = "v"
)

// keyName and valueOf give key i and its value: 16-byte keys like
// redis-benchmark's "key:000000012345", values of valueBytes bytes that
// encode i so a GET can check what it read.
func keyName(i int) string { return fmt.Sprintf("key:%012d", i) }

func valueOf(i, valueBytes int) string {
	return fmt.Sprintf("%s%0*d", loadValuePrefix, valueBytes-len(loadValuePrefix), i)
}

// loadKeys SETs keys 0..n-1 and returns how long it took.
func loadKeys(ctx context.Context, addr string, n, valueBytes int) (time.Duration, error) {
	begin := time.Now()
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: loadConns, MaxRetries: -1, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	defer c.Close()
	next := make(chan int, loadConns)
	errs := make(chan error, loadConns)
	var wg sync.WaitGroup
	for range loadConns {
		wg.Go(func() {
			for lo := range next {
				hi := min(lo+loadPipelineCmds, n)
				p := c.Pipeline()
				for i := lo; i < hi; i++ {
					p.Set(ctx, keyName(i), valueOf(i, valueBytes), 0)
				}
				if _, err := p.Exec(ctx); err != nil {
					errs <- fmt.Errorf("load keys %d..%d into %s: %w", lo, hi-1, addr, err)
					return
				}
			}
		})
	}
	var err error
feed:
	for lo := 0; lo < n; lo += loadPipelineCmds {
		select {
		case next <- lo:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return time.Since(begin), err
}

// After a load the allocators return memory in the background (Go's
// scavenger and raftkv's quiet-time compaction, jemalloc's purge), so RSS
// is read once it has settled: at least settleTime after the load, then
// as soon as no process's RSS moved by more than settleRSSBytes over
// settleWindow, and at settleTimeMax at the latest.
const (
	settleTime     = 2 * time.Second
	settleWindow   = time.Second
	settleRSSBytes = 1 << 20
	settleTimeMax  = 10 * time.Second
	settlePoll     = 250 * time.Millisecond
)

// settledRSS waits as above and returns each process's RSS.
func settledRSS(ctx context.Context, procs []*process) ([]int64, error) {
	begin := time.Now()
	read := func() ([]int64, error) {
		out := make([]int64, len(procs))
		for i, p := range procs {
			rss, err := rssBytes(p.pid())
			if err != nil {
				return nil, err
			}
			out[i] = rss
		}
		return out, nil
	}
	type reading struct {
		at  time.Time
		rss []int64
	}
	var history []reading // the readings of the last settleWindow
	for {
		rss, err := read()
		if err != nil {
			return nil, err
		}
		now := time.Now()
		history = append(history, reading{now, rss})
		for len(history) > 1 && now.Sub(history[1].at) >= settleWindow {
			history = history[1:]
		}
		if now.Sub(begin) >= settleTimeMax {
			return rss, nil
		}
		steady := now.Sub(begin) >= settleTime && now.Sub(history[0].at) >= settleWindow
		for _, h := range history {
			steady = steady && rssSteady(h.rss, rss)
		}
		if steady {
			return rss, nil
		}
		select {
		case <-time.After(settlePoll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// rssSteady: no process moved by more than settleRSSBytes from before to
// after.
func rssSteady(before, after []int64) bool {
	for i := range before {
		if d := after[i] - before[i]; d > settleRSSBytes || d < -settleRSSBytes {
			return false
		}
	}
	return true
}

// memoryPhase loads the key set into a fresh Redis, a fresh 1-node and a
// fresh 3-node raftkv (through its leader), compares the RSS growth of
// every process (for raftkv-3 one observation per node, its Round being
// the node's position), and times restarts of raftkv-1.
func memoryPhase(ctx context.Context, l *launcher, o options, logger *slog.Logger) (Observations, error) {
	const valueBytes = 32
	var obs Observations
	for _, start := range []func() (*system, error){
		func() (*system, error) { return l.startRedis(ctx, sysRedis, false) },
		func() (*system, error) { return l.startRaftKV(ctx, sysRaftKV1, 1) },
		func() (*system, error) { return l.startRaftKV(ctx, sysRaftKV3, 3) },
	} {
		sys, err := start()
		if err != nil {
			return obs, err
		}
		err = func() error {
			defer sys.stop()
			p := sys.target
			rss0 := make([]int64, len(sys.procs))
			for i, proc := range sys.procs {
				rss, err := rssBytes(proc.pid())
				if err != nil {
					return err
				}
				rss0[i] = rss
			}
			took, err := loadKeys(ctx, p.addr(), o.loadKeys, valueBytes)
			if err != nil {
				return err
			}
			settled := time.Now()
			rss1, err := settledRSS(ctx, sys.procs)
			if err != nil {
				return err
			}
			add := func(round int, metric string, v float64) {
				obs = append(obs, Observation{Round: round, System: sys.name, Case: caseLoad, Metric: metric, Value: v})
			}
			for i, proc := range sys.procs {
				delta := float64(rss1[i] - rss0[i])
				add(i, metricRSSDeltaMiB, delta/(1<<20))
				add(i, metricRSSPerKeyB, delta/float64(o.loadKeys))
				logger.Info("bench: loaded", "system", sys.name, "process", proc.name, "keys", o.loadKeys, "took", took.Round(time.Millisecond), "rss_start_mib", rss0[i]>>20, "rss_mib", rss1[i]>>20, "settled_after", time.Since(settled).Round(time.Millisecond))
			}
			add(0, "load_rps", float64(o.loadKeys)/took.Seconds())
			if sys.name != sysRaftKV1 {
				return nil
			}
			last := o.loadKeys - 1
			for round := range o.rounds {
				d, err := restartTimed(ctx, p, keyName(last), valueOf(last, valueBytes))
				if err != nil {
					return err
				}
				add(round, metricRestartS, d.Seconds())
				logger.Info("bench: restarted", "system", sys.name, "round", round, "took", d.Round(time.Millisecond))
			}
			return nil
		}()
		if err != nil {
			return obs, err
		}
	}
	return obs, nil
}
