// Command raftkv is a Redis-protocol cache server whose writes are
// replicated by Raft. With no arguments it is a single-node server on
// 127.0.0.1:6379 keeping its data under ./raftkv-data.
//
//	raftkv [config-file] [--directive value ...]   run a node
//	raftkv status ADDR [--json]                    show the cluster as ADDR's node sees it
//	raftkv join ADDR ID RAFT-ADDR CLIENT-ADDR      add node ID as a learner, promote it once caught up
//	raftkv remove ADDR ID                          remove node ID (a leader steps down)
//	raftkv transfer ADDR [ID]                      hand leadership to ID, or the most up-to-date voter
//	raftkv snapshot ADDR                           make the node at ADDR take a snapshot now
//	raftkv --help | --version
//
// The membership subcommands may be pointed at any node: a follower's
// "not the leader" answer names the leader, which they ask instead. Each
// takes --json and --timeout (the whole operation's limit).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/admin"
	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/resp"
	"github.com/raftkv/raftkv/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usage is what --help prints: every form of the command line.
const usage = `usage:
  raftkv [CONFIG-FILE] [--DIRECTIVE VALUE ...]    run a node (default: one node on
                                                 127.0.0.1:6379, data in ./raftkv-data)
  raftkv status HOST:PORT [--json] [--timeout 2s]
                                                 the cluster as the node at HOST:PORT sees it
  raftkv join HOST:PORT ID RAFT-HOST:PORT CLIENT-HOST:PORT [--json] [--timeout 2m]
                                                 add node ID as a learner, promote it once caught up
  raftkv remove HOST:PORT ID [--json] [--timeout 2m]
                                                 remove node ID (a leader hands over first)
  raftkv transfer HOST:PORT [ID] [--json] [--timeout 2m]
                                                 leadership to ID, or to the most up-to-date voter
  raftkv snapshot HOST:PORT [--json] [--timeout 2m]
                                                 the node at HOST:PORT takes a snapshot now (SAVE)
  raftkv --help | --version

Directives are redis.conf's (port, bind, dir, maxmemory, maxmemory-policy...)
and raftkv's (node-id, raft-addr, cluster, join, read-mode...): see README.md
and conf/doc.go. A flag overrides the file: raftkv node.conf --port 7005.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 {
		switch args[0] {
		case "--help", "-h", "help":
			fmt.Fprint(stdout, usage)
			return 0
		case "--version", "-v", "version":
			fmt.Fprintf(stdout, "raftkv %s (redis_version %s, %s)\n", server.Version, resp.RedisVersion, runtime.Version())
			return 0
		}
	}
	if len(args) > 0 && args[0] == "status" {
		return status(args[1:], stdout, stderr)
	}
	if len(args) > 0 {
		if sub, ok := membershipCommands[args[0]]; ok {
			return membershipCommand(args[0], sub, args[1:], stdout, stderr)
		}
	}
	cfg, err := conf.Load(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, conf.ErrUnknownDirective) {
			fmt.Fprintln(stderr, "raftkv --help lists the command line's forms")
		}
		return 1
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.LogLevel))
	out := stderr
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "conf: \"logfile\": %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})).With("node", cfg.NodeID)

	srv, err := server.New(cfg, logger, level)
	if err != nil {
		logger.Error("raftkv: cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		logger.Error("raftkv: stopped", "err", err)
		return 1
	}
	logger.Info("raftkv: stopped cleanly")
	return 0
}

// logLevel maps Redis's loglevel names to slog levels.
func logLevel(name string) slog.Level {
	switch name {
	case "debug":
		return slog.LevelDebug
	case "verbose":
		return slog.LevelDebug + 2
	case "warning":
		return slog.LevelWarn
	default: // notice
		return slog.LevelInfo
	}
}

// status runs `raftkv status ADDR [--json]`.
func status(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 2*time.Second, "per-node timeout")
	var addr string
	// ADDR may come before or after the flags.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		addr, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if addr == "" && fs.NArg() == 1 {
		addr = fs.Arg(0)
	}
	if addr == "" {
		fmt.Fprintln(stderr, "usage: raftkv status HOST:PORT [--json] [--timeout 2s]")
		return 2
	}
	// An unreachable member is a row of the table, not a log line.
	redis.SetLogger(quietLogger{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*(*timeout))
	defer cancel()
	members, err := admin.Status(ctx, addr, *timeout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		err = admin.WriteJSON(stdout, members)
	} else {
		err = admin.WriteTable(stdout, members)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// quietLogger drops go-redis's internal log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}

// membershipSub is one membership subcommand: its usage, its positional
// argument count (min, max) and what it does with them.
type membershipSub struct {
	usage            string
	argsMin, argsMax int
	run              func(ctx context.Context, addr string, args []string) (admin.Result, error)
}

var membershipCommands = map[string]membershipSub{
	"join": {usage: "raftkv join HOST:PORT ID RAFT-HOST:PORT CLIENT-HOST:PORT [--json] [--timeout 2m]", argsMin: 3, argsMax: 3,
		run: func(ctx context.Context, addr string, args []string) (admin.Result, error) {
			id, err := admin.ParseNodeID(args[0])
			if err != nil {
				return admin.Result{}, err
			}
			return admin.Join(ctx, addr, id, args[1], args[2], 2*time.Second)
		}},
	"remove": {usage: "raftkv remove HOST:PORT ID [--json] [--timeout 2m]", argsMin: 1, argsMax: 1,
		run: func(ctx context.Context, addr string, args []string) (admin.Result, error) {
			id, err := admin.ParseNodeID(args[0])
			if err != nil {
				return admin.Result{}, err
			}
			return admin.Remove(ctx, addr, id, 2*time.Second)
		}},
	"transfer": {usage: "raftkv transfer HOST:PORT [ID] [--json] [--timeout 2m]", argsMin: 0, argsMax: 1,
		run: func(ctx context.Context, addr string, args []string) (admin.Result, error) {
			var id uint64
			if len(args) == 1 {
				var err error
				if id, err = admin.ParseNodeID(args[0]); err != nil {
					return admin.Result{}, err
				}
			}
			return admin.Transfer(ctx, addr, id, 2*time.Second)
		}},
	"snapshot": {usage: "raftkv snapshot HOST:PORT [--json] [--timeout 2m]", argsMin: 0, argsMax: 0,
		run: func(ctx context.Context, addr string, args []string) (admin.Result, error) {
			return admin.Snapshot(ctx, addr, 2*time.Second)
		}},
}

// membershipCommand parses and runs one membership subcommand.
func membershipCommand(name string, sub membershipSub, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a line of text")
	timeout := fs.Duration("timeout", 2*time.Minute, "limit for the whole operation (joining waits for the node to catch up)")
	// Positional arguments and flags may be mixed.
	var positional []string
	for len(args) > 0 {
		if strings.HasPrefix(args[0], "-") {
			if err := fs.Parse(args); err != nil {
				return 2
			}
			args = fs.Args()
			continue
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if len(positional) < 1+sub.argsMin || len(positional) > 1+sub.argsMax {
		fmt.Fprintln(stderr, "usage: "+sub.usage)
		return 2
	}
	redis.SetLogger(quietLogger{})
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := sub.run(ctx, positional[0], positional[1:])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(stdout, admin.WriteResult(res))
	return 0
}
