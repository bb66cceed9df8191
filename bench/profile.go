package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// profileTopNodes is how many functions the printed -top lists keep.
const profileTopNodes = 25

// profilePhase builds the pprof wrapper (bench/raftkvpprof), starts a
// 3-node cluster of it, and takes CPU profiles of the leader and of one
// follower while redis-benchmark drives SET -P 1, then GET -P 1, at the
// leader. Profiles land in o.profileDir with a -top summary of each.
func profilePhase(ctx context.Context, l *launcher, o options, modRoot string, logger *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return fmt.Errorf("profile dir: %w", err)
	}
	bin := filepath.Join(o.profileDir, "raftkvpprof")
	if err := goBuild(ctx, modRoot, bin, "./bench/raftkvpprof"); err != nil {
		return err
	}
	pl := &launcher{root: l.root, raftkvBin: bin, redisBin: l.redisBin, pprofPorts: true, raftkvExtra: l.raftkvExtra, logger: logger, seq: l.seq + 100}
	sys, err := pl.startRaftKV(ctx, "profiled-3", 3)
	if err != nil {
		return err
	}
	defer sys.stop()
	if _, err := loadKeys(ctx, sys.target.addr(), keyspaceKeys, 16); err != nil {
		return fmt.Errorf("profile prefill: %w", err)
	}
	var follower *process
	for _, p := range sys.procs {
		if p != sys.target {
			follower = p
			break
		}
	}
	for _, c := range []benchCase{
		{tests: "set", pipeline: 1, valueBytes: 16, requests: requestsMax, rows: map[string]string{"SET": caseSetP1}},
		{tests: "get", pipeline: 1, valueBytes: 16, requests: requestsMax, rows: map[string]string{"GET": caseGetP1}},
	} {
		name := c.rows[strings.ToUpper(c.tests)]
		loadCtx, stopLoad := context.WithCancel(ctx)
		load := exec.CommandContext(loadCtx, "redis-benchmark", c.args(sys.target)...)
		if err := load.Start(); err != nil {
			stopLoad()
			return fmt.Errorf("redis-benchmark: %w", err)
		}
		time.Sleep(time.Second) // let the load reach steady state before sampling
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, p := range []*process{sys.target, follower} {
			role := []string{"leader", "follower"}[i]
			wg.Go(func() {
				errs[i] = fetchProfile(ctx, p.pprof, o.profileSeconds, filepath.Join(o.profileDir, name+"-"+role+".pprof"))
			})
		}
		wg.Wait()
		stopLoad()
		_ = load.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		for _, role := range []string{"leader", "follower"} {
			prof := filepath.Join(o.profileDir, name+"-"+role+".pprof")
			top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", profileTopNodes), bin, prof).CombinedOutput()
			if err != nil {
				return fmt.Errorf("go tool pprof %s: %w: %s", prof, err, tail(top))
			}
			if err := os.WriteFile(strings.TrimSuffix(prof, ".pprof")+".top.txt", top, 0o644); err != nil {
				return fmt.Errorf("write profile summary: %w", err)
			}
			fmt.Fprintf(stdout, "\n== %s %s ==\n%s", name, role, top)
		}
		logger.Info("bench: profiled", "case", name, "dir", o.profileDir)
	}
	return nil
}

// fetchProfile saves /debug/pprof/profile?seconds=s of addr to path.
func fetchProfile(ctx context.Context, addr string, seconds int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", url, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := io.Copy(f, io.LimitReader(res.Body, 256<<20)); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}
