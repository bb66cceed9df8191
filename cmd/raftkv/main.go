// Command raftkv is a Redis-protocol cache server whose writes are
// replicated by Raft. With no arguments it is a single-node server on
// 127.0.0.1:6379 keeping its data under ./raftkv-data.
//
//	raftkv [config-file] [--directive value ...]
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
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
