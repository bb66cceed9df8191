package resp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/internal/cmdname"
	"github.com/raftkv/raftkv/kvsm"
)

// RedisVersion is the Redis version we answer as (HELLO, INFO): the one
// whose replies we reproduce.
const RedisVersion = "7.0.15"

// Defaults for ServerConfig's zero values.
const (
	batchCommandsMaxDefault = 1024
	queryBytesMaxDefault    = 1 << 30 // Redis's client-query-buffer-limit
	runBytesMaxDefault      = 8 << 20
	// outBufBytesRetainMax: a connection keeps its reply buffer between
	// batches up to this size; a larger one (a big MGET) is dropped.
	outBufBytesRetainMax = 1 << 20
	acceptBackoffMax     = time.Second
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("resp: server closed")

// ServerConfig configures a Server.
type ServerConfig struct {
	// Config holds the directives (CONFIG GET/SET show and change it) and
	// the initial values of the live settings (requirepass, maxclients,
	// timeout, proto-max-bulk-len). The Server owns it from NewServer on and
	// serialises access; nil means conf.Default().
	Config *conf.Config
	// LogLevel, when set, follows CONFIG SET loglevel.
	LogLevel *slog.LevelVar
	// Version is raftkv's own version, shown by INFO as raftkv_version.
	Version string
	// BatchCommandsMax bounds the commands taken from one connection's
	// pipeline per round (one Backend call at most per run of keyspace
	// commands). Default 1024.
	BatchCommandsMax int
	// QueryBytesMax bounds one request's bytes (Redis's
	// client-query-buffer-limit). Default 1 GiB.
	QueryBytesMax int
	// RunBytesMax bounds the argument bytes of one Backend call made for a
	// pipeline: a longer run is split into several calls (several log
	// entries), in order. A single larger command still goes alone.
	// Default 8 MiB, well below the peer transport's 64 MiB frame limit.
	RunBytesMax int
}

// Stats are the server's counters, for metrics.
type Stats struct {
	ConnectedClients    int
	TotalConnections    uint64 // accepted since start
	RejectedConnections uint64 // refused by maxclients
	TotalCommands       uint64
	// CommandCalls counts calls by lower-case command name, for the
	// commands in the table that have been called at least once.
	CommandCalls map[string]uint64
}

// command is a commandSpec bound to this server: its handler and counter.
type command struct {
	spec    *commandSpec
	index   int // into Server.calls
	write   bool
	denyOOM bool // Redis's denyoom flag: refused over maxmemory
	noAuth  bool
	// skipSlowlog: Redis's skip_slowlog flag (EXEC, whose commands are
	// logged one by one instead).
	skipSlowlog bool
	fast        bool // Redis's fast flag: LATENCY's fast-command event
	keyspace    bool
	handler     func(c *client, args [][]byte)
}

// Server is a RESP (Redis protocol) server in front of a Backend.
type Server struct {
	backend Backend
	// memGuard, configObserver and readerInto are backend's optional
	// interfaces (nil when it lacks them).
	memGuard       MemoryGuard
	configObserver ConfigObserver
	readerInto     ReaderInto
	log            *slog.Logger
	cfg            ServerConfig

	// ctx is cancelled when the server stops for good; Backend calls use it.
	ctx    context.Context
	cancel context.CancelFunc

	commands cmdname.Table[*command]
	cmdList  []*command // table order, for COMMAND
	// docs holds COMMAND DOCS's answer per command name (read-only).
	docs map[string]kvsm.Reply

	// Live settings, read on every request without a lock.
	requirePass   atomic.Pointer[string]
	maxClients    atomic.Int64
	idleTimeoutNs atomic.Int64
	bulkBytesMax  atomic.Int64

	calls         []atomic.Uint64 // by command index
	totalCommands atomic.Uint64
	totalConns    atomic.Uint64
	rejected      atomic.Uint64
	errors        errorStats     // INFO errorstats (errorstats.go)
	slowlog       slowlog        // SLOWLOG (slowlog.go)
	latency       latencyMonitor // LATENCY (latency.go)
	nextClientID  atomic.Uint64
	closing       atomic.Bool

	startTime time.Time
	runID     string // 40 hex digits, new at every start, as Redis's run_id
	databases int

	monitors monitors // MONITOR connections (monitor.go)

	confMu sync.Mutex // guards cfg.Config

	mu        sync.Mutex // guards what follows
	clients   map[uint64]*client
	listeners map[net.Listener]struct{}
	conns     sync.WaitGroup
}

// NewServer returns a server that answers from backend. logger nil means
// slog.Default().
func NewServer(cfg ServerConfig, backend Backend, logger *slog.Logger) *Server {
	if cfg.Config == nil {
		cfg.Config = conf.Default()
	}
	if cfg.BatchCommandsMax <= 0 {
		cfg.BatchCommandsMax = batchCommandsMaxDefault
	}
	if cfg.QueryBytesMax <= 0 {
		cfg.QueryBytesMax = queryBytesMaxDefault
	}
	if cfg.RunBytesMax <= 0 {
		cfg.RunBytesMax = runBytesMaxDefault
	}
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		backend:   backend,
		log:       logger.With("component", "resp"),
		cfg:       cfg,
		ctx:       ctx,
		cancel:    cancel,
		calls:     make([]atomic.Uint64, len(commandSpecs)),
		startTime: time.Now(),
		runID:     newRunID(),
		databases: cfg.Config.Databases,
		clients:   make(map[uint64]*client),
		listeners: make(map[net.Listener]struct{}),
	}
	if s.databases <= 0 {
		s.databases = 16
	}
	s.memGuard, _ = backend.(MemoryGuard)
	s.configObserver, _ = backend.(ConfigObserver)
	s.readerInto, _ = backend.(ReaderInto)
	s.applyLive(cfg.Config)
	docs, err := commandDocs()
	if err != nil {
		s.log.Error("command docs unavailable; COMMAND DOCS will answer an empty map", "err", err)
	}
	s.docs = docs
	handlers := s.localHandlers()
	for i := range commandSpecs {
		spec := &commandSpecs[i]
		cmd := &command{spec: spec, index: i, keyspace: spec.keyspace, handler: handlers[spec.name]}
		for _, f := range spec.flags {
			switch f {
			case "write":
				cmd.write = true
			case "denyoom":
				cmd.denyOOM = true
			case "no_auth":
				cmd.noAuth = true
			case "skip_slowlog":
				cmd.skipSlowlog = true
			case "fast":
				cmd.fast = true
			}
		}
		if !cmd.keyspace && cmd.handler == nil {
			// A table entry without a handler would be unanswerable.
			continue
		}
		if err := s.commands.Add(spec.name, cmd); err != nil {
			// commandSpecs is a static list: a duplicate or an overlong
			// name is a programming error, met by every test at start.
			panic(err)
		}
		s.cmdList = append(s.cmdList, cmd)
	}
	return s
}

// applyLive copies the live directives out of c.
func (s *Server) applyLive(c *conf.Config) {
	pass := c.RequirePass
	s.requirePass.Store(&pass)
	s.maxClients.Store(int64(c.MaxClients))
	s.idleTimeoutNs.Store(int64(c.TimeoutSeconds) * int64(time.Second))
	s.bulkBytesMax.Store(c.ProtoMaxBulkLenBytes)
	s.slowlog.configure(c.SlowlogSlowerThanUs, c.SlowlogMaxLen)
	s.latency.thresholdMs.Store(c.LatencyMonitorThresholdMs)
	if s.configObserver != nil {
		s.configObserver.ConfigChanged(c)
	}
	if s.cfg.LogLevel != nil {
		switch c.LogLevel {
		case "debug":
			s.cfg.LogLevel.Set(slog.LevelDebug)
		case "verbose":
			s.cfg.LogLevel.Set(slog.LevelDebug + 2)
		case "notice":
			s.cfg.LogLevel.Set(slog.LevelInfo)
		case "warning":
			s.cfg.LogLevel.Set(slog.LevelWarn)
		}
	}
}

// ListenAndServe listens on the configured bind:port and serves until ctx
// is cancelled or Shutdown/Close is called. When ctx ends it shuts down
// gracefully and returns ErrServerClosed once every connection has
// finished its in-flight commands.
func (s *Server) ListenAndServe(ctx context.Context) error {
	s.confMu.Lock()
	addr := s.cfg.Config.ClientAddr()
	s.confMu.Unlock()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("resp: listen %s: %w", addr, err)
	}
	shutdownDone := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shutdownDone)
		if err := s.Shutdown(context.Background()); err != nil {
			s.log.Warn("shutdown", "err", err)
		}
	})
	err = s.Serve(ln)
	if !stop() {
		// ctx ended: return only once every connection has finished.
		<-shutdownDone
	}
	return err
}

// Serve accepts connections on ln until the server is shut down; it always
// returns a non-nil error, ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
				s.log.Warn("accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("resp: accept: %w", err)
		}
		backoff = 0
		s.accept(nc)
	}
}

// rejectMaxClients is Redis's reply to a connection over maxclients.
const rejectMaxClients = "-ERR max number of clients reached\r\n"

func (s *Server) accept(nc net.Conn) {
	s.totalConns.Add(1)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if int64(len(s.clients)) >= s.maxClients.Load() {
		s.mu.Unlock()
		s.rejected.Add(1)
		// Best effort, like Redis: the client may not read it.
		_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = nc.Write([]byte(rejectMaxClients))
		nc.Close()
		return
	}
	c := newClient(s, nc)
	s.clients[c.id] = c
	s.conns.Add(1)
	s.mu.Unlock()
	go s.serveClient(c)
}

func (s *Server) serveClient(c *client) {
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		delete(s.clients, c.id)
		s.mu.Unlock()
		s.conns.Done()
	}()
	c.serve()
}

// Addr returns the address of one listener, or nil when none is open.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		return ln.Addr()
	}
	return nil
}

// Shutdown stops accepting, lets every connection finish the commands it is
// executing (their replies are written), closes the connections and waits
// for them. If ctx ends first, it closes everything at once (in-flight
// Backend calls see their context cancelled) and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for _, c := range s.clients {
		c.interruptRead()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.closeAll()
		<-done
		return fmt.Errorf("resp: shutdown: %w", ctx.Err())
	}
}

// Close stops the server at once: listeners and connections are closed and
// in-flight Backend calls are cancelled.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.closeAll()
	s.conns.Wait()
	return nil
}

func (s *Server) closeAll() {
	s.cancel()
	s.mu.Lock()
	for _, c := range s.clients {
		c.nc.Close()
	}
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		TotalConnections:    s.totalConns.Load(),
		RejectedConnections: s.rejected.Load(),
		TotalCommands:       s.totalCommands.Load(),
		CommandCalls:        make(map[string]uint64),
	}
	s.mu.Lock()
	st.ConnectedClients = len(s.clients)
	s.mu.Unlock()
	for _, cmd := range s.cmdList {
		if n := s.calls[cmd.index].Load(); n > 0 {
			st.CommandCalls[cmd.spec.name] = n
		}
	}
	return st
}

// lookup finds a command by name in any case without allocating.
func (s *Server) lookup(name []byte) *command {
	cmd, _ := s.commands.Lookup(name)
	return cmd
}

// configGet runs CONFIG GET for one pattern under the config lock.
func (s *Server) configGet(pattern string) [][2]string {
	s.confMu.Lock()
	defer s.confMu.Unlock()
	return s.cfg.Config.Get(pattern)
}

// configSet runs CONFIG SET for name/value pairs, all or nothing.
func (s *Server) configSet(pairs [][]byte) error {
	s.confMu.Lock()
	defer s.confMu.Unlock()
	// As redis-server: every name is checked (known, live, not given twice)
	// before any value is parsed.
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := conf.Settable(string(pairs[i])); err != nil {
			return &configSetError{name: string(pairs[i]), err: err}
		}
		for j := 0; j < i; j += 2 {
			if bytes.EqualFold(pairs[j], pairs[i]) {
				return &configSetError{name: string(pairs[i]), err: errDuplicateParameter}
			}
		}
	}
	next := *s.cfg.Config
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := next.Set(string(pairs[i]), string(pairs[i+1])); err != nil {
			return &configSetError{name: string(pairs[i]), err: err}
		}
	}
	*s.cfg.Config = next
	s.applyLive(&next)
	return nil
}

// errDuplicateParameter: CONFIG SET names a directive twice.
var errDuplicateParameter = errors.New("duplicate parameter")

type configSetError struct {
	name string
	err  error
}

func (e *configSetError) Error() string { return e.err.Error() }

// redisText renders e as CONFIG SET's error reply.
func (e *configSetError) redisText() string {
	switch {
	case errors.Is(e.err, conf.ErrUnknownDirective):
		return "ERR Unknown option or number of arguments for CONFIG SET - '" + e.name + "'"
	case errors.Is(e.err, conf.ErrNotLive):
		return "ERR CONFIG SET failed (possibly related to argument '" + e.name + "') - can't set immutable config"
	}
	return "ERR CONFIG SET failed (possibly related to argument '" + e.name + "') - " + conf.RedisReason(e.err)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
