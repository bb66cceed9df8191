package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// options are the command-line flags.
type options struct {
	quick          bool
	rounds         int
	requests       int
	outDir         string
	workDir        string
	keep           bool
	loadKeys       int
	raftkvBin      string
	raftkvArgs     string
	profileDir     string
	profileSeconds int
	skipMemory     bool
	skipThroughput bool
}

// Bounds on flags: a mistyped -n must not run for a day.
const (
	roundsMax     = 50
	requestsMax   = 50_000_000
	loadKeysMax   = 20_000_000
	profileSecMax = 300
	clients       = 50     // redis-benchmark -c
	keyspaceKeys  = 100000 // redis-benchmark -r, and the keys prefilled for GETs
	runTimeout    = 10 * time.Minute
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "CI smoke run (under a minute): 1 round, -n 4000, 50k keys for memory")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds of every run against every system")
	fs.IntVar(&o.requests, "n", 100000, "requests per -P 1 run (-P 16 runs send 4x, the 1 KiB run n/2 of each test)")
	fs.StringVar(&o.outDir, "out", "", "directory for bench.json and bench.png (default: none written)")
	fs.StringVar(&o.workDir, "work", "", "directory for data dirs and logs, on the disk to measure (default: a new temp dir)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (data and server logs) at the end")
	fs.IntVar(&o.loadKeys, "keys", 1_000_000, "keys loaded for the memory and restart figures")
	fs.StringVar(&o.raftkvBin, "raftkv", "", "raftkv binary to measure (default: build ./cmd/raftkv)")
	fs.StringVar(&o.raftkvArgs, "raftkv-args", "", "extra raftkv flags for every node, e.g. \"--read-mode lease\"")
	fs.StringVar(&o.profileDir, "profile", "", "also profile a 3-node cluster under SET and GET -P 1 into this directory")
	fs.IntVar(&o.profileSeconds, "profile-seconds", 15, "CPU profile duration per case")
	fs.BoolVar(&o.skipMemory, "skip-memory", false, "skip the memory and restart phase")
	fs.BoolVar(&o.skipThroughput, "skip-throughput", false, "skip the redis-benchmark rounds")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.quick {
		o.rounds, o.requests, o.loadKeys = 1, 4000, 50000
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// go-redis logs every refused dial while a server restarts, which the
	// restart probe does on purpose; keep those lines at debug level.
	redis.SetLogger(goRedisLogger{logger})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, o, stdout, logger); err != nil {
		logger.Error("bench failed", "err", err)
		return 1
	}
	return 0
}

func (o *options) validate() error {
	switch {
	case o.rounds < 1 || o.rounds > roundsMax:
		return fmt.Errorf("-rounds %d: want 1..%d", o.rounds, roundsMax)
	case o.requests < 1000 || o.requests > requestsMax:
		return fmt.Errorf("-n %d: want 1000..%d", o.requests, requestsMax)
	case o.loadKeys < 1000 || o.loadKeys > loadKeysMax:
		return fmt.Errorf("-keys %d: want 1000..%d", o.loadKeys, loadKeysMax)
	case o.profileSeconds < 1 || o.profileSeconds > profileSecMax:
		return fmt.Errorf("-profile-seconds %d: want 1..%d", o.profileSeconds, profileSecMax)
	}
	return nil
}

// report is what bench.json holds.
type report struct {
	Started   time.Time `json:"started"`
	GoVersion string    `json:"go_version"`
	GitCommit string    `json:"git_commit"`
	// RaftkvBinary is the -raftkv binary measured, when given: then
	// GitCommit is only the tree the harness ran from, not what was measured.
	RaftkvBinary string       `json:"raftkv_binary,omitempty"`
	RedisVersion string       `json:"redis_version"`
	Rounds       int          `json:"rounds"`
	Requests     int          `json:"requests"`
	LoadKeys     int          `json:"load_keys"`
	Observations Observations `json:"observations"`
	Verdicts     []Verdict    `json:"verdicts"`
}

func runBench(ctx context.Context, o options, stdout io.Writer, logger *slog.Logger) (err error) {
	rep := &report{Started: time.Now().UTC(), Rounds: o.rounds, Requests: o.requests, LoadKeys: o.loadKeys}
	modRoot, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	rep.GitCommit = commandLine(ctx, modRoot, "git", "rev-parse", "--short", "HEAD")
	rep.RaftkvBinary = o.raftkvBin
	rep.GoVersion = commandLine(ctx, modRoot, "go", "env", "GOVERSION")
	rep.RedisVersion = commandLine(ctx, modRoot, "redis-server", "--version")
	for _, tool := range []string{"redis-server", "redis-benchmark"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed: %w", tool, err)
		}
	}
	work := o.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "raftkv-bench-"); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer func() {
		// A failed run keeps its data and server logs: they are the evidence.
		if err == nil && !o.keep && o.workDir == "" {
			os.RemoveAll(work)
		} else {
			logger.Info("bench: work dir kept", "dir", work)
		}
	}()
	logger.Info("bench: work dir", "dir", work)

	bin := o.raftkvBin
	if bin == "" {
		bin = filepath.Join(work, "raftkv")
		if err := goBuild(ctx, modRoot, bin, "./cmd/raftkv"); err != nil {
			return err
		}
	}
	redisBin, _ := exec.LookPath("redis-server")
	l := &launcher{root: work, raftkvBin: bin, redisBin: redisBin, raftkvExtra: strings.Fields(o.raftkvArgs), logger: logger}
	hz := clockTicksPerSecond()

	if !o.skipThroughput {
		obs, err := throughputPhase(ctx, l, o, hz, logger)
		rep.Observations = append(rep.Observations, obs...)
		if err != nil {
			return err
		}
	}
	if !o.skipMemory {
		obs, err := memoryPhase(ctx, l, o, logger)
		rep.Observations = append(rep.Observations, obs...)
		if err != nil {
			return err
		}
	}
	targets := issue6Targets()
	rep.Verdicts = evaluateAll(rep.Observations, targets)
	measured := rep.GitCommit
	if rep.RaftkvBinary != "" {
		measured = fmt.Sprintf("binary %s (harness at %s)", rep.RaftkvBinary, rep.GitCommit)
	}
	fmt.Fprintf(stdout, "raftkv %s vs %s; %d round(s), -n %d, %d keys for memory/restart\n\n", measured, rep.RedisVersion, o.rounds, o.requests, o.loadKeys)
	if err := writeTables(stdout, rep.Observations, targets); err != nil {
		return err
	}
	if o.outDir != "" {
		if err := writeOutputs(o.outDir, rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(o.outDir, "bench.json"), filepath.Join(o.outDir, "bench.png"))
	}
	if o.profileDir != "" {
		if err := profilePhase(ctx, l, o, modRoot, logger, stdout); err != nil {
			return err
		}
	}
	return nil
}

func writeOutputs(dir string, rep *report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("out dir: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode bench.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), b, 0o644); err != nil {
		return fmt.Errorf("write bench.json: %w", err)
	}
	var png bytes.Buffer
	if err := drawChart(&png, rep.Observations); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.png"), png.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write bench.png: %w", err)
	}
	return nil
}

// moduleRoot is the directory of the go.mod that holds this program.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run bench inside the raftkv module (go run ./bench)")
	}
	return filepath.Dir(gomod), nil
}

func goBuild(ctx context.Context, modRoot, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = modRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// commandLine runs a command for a label in the report; failures give "?".
func commandLine(ctx context.Context, dir, name string, args ...string) string {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "?"
	}
	s := strings.TrimSpace(string(out))
	if i := strings.Index(s, " sha="); i > 0 { // redis-server --version is long
		s = s[:i]
	}
	return s
}

// goRedisLogger sends go-redis's internal log lines to slog at debug level.
type goRedisLogger struct{ logger *slog.Logger }

func (g goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	g.logger.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

func itoa(n int) string { return strconv.Itoa(n) }
