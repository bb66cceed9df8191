// Command raftkvpprof is raftkv with net/http/pprof on a side address, for
// the bench harness's profiles (go run ./bench -profile DIR). It takes the
// same arguments as raftkv plus "--pprof-addr host:port", which it removes
// before handing the rest to conf.Load. It is not for production: the
// profile endpoints have no authentication.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/server"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	pprofAddr, rest, err := cutFlag(args, "--pprof-addr")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, err := conf.Load(rest)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", cfg.NodeID)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if pprofAddr != "" {
		l, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			logger.Error("raftkvpprof: pprof listener", "err", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("raftkvpprof: pprof server", "err", err)
			}
		}()
		defer hs.Close()
	}
	srv, err := server.New(cfg, logger, level)
	if err != nil {
		logger.Error("raftkvpprof: cannot start", "err", err)
		return 1
	}
	if err := srv.Run(ctx); err != nil {
		logger.Error("raftkvpprof: stopped", "err", err)
		return 1
	}
	return 0
}

// cutFlag removes "name value" from args and returns the value.
func cutFlag(args []string, name string) (string, []string, error) {
	var value string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] != name {
			rest = append(rest, args[i])
			continue
		}
		if i+1 == len(args) {
			return "", nil, fmt.Errorf("%s needs a host:port", name)
		}
		value = args[i+1]
		i++
	}
	return value, rest, nil
}
