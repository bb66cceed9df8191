// Command raftkv is a Redis-protocol cache server whose writes are
// replicated by Raft. With no arguments it is a single-node server on
// 127.0.0.1:6379 keeping its data under ./raftkv-data.
//
//	raftkv [config-file] [--directive value ...]   run a node
//	raftkv status ADDR [--json]                    show the cluster as ADDR's node sees it
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/admin"
	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "status" {
		return status(args[1:], os.Stdout, stderr)
	}
	cfg, err := conf.Load(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
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
