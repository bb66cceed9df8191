//go:build linux

package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// outcomeClass is what a client may conclude from one reply.
type outcomeClass uint8

const (
	classOK      outcomeClass = iota // the command ran; its reply is the output
	classFailed                      // it certainly did not run (or, for reads, tells nothing)
	classUnknown                     // a write that may or may not have run
)

func (c outcomeClass) String() string {
	switch c {
	case classOK:
		return "ok"
	case classFailed:
		return "failed"
	}
	return "indeterminate"
}

// notIntegerPrefix starts the error reply that is INCR's result on a
// non-integer value: the command ran (and changed nothing).
const notIntegerPrefix = "ERR value is not an integer"

// classify maps a go-redis result error to an outcome. It is the crux of
// the harness: calling "failed" a write that in fact committed would hide
// exactly the "aborted read" bug we hunt, so only what raftkv promises to
// be definite is (resp/doc.go, consensus.Node.Propose):
//
//	CLUSTERDOWN (no leader: nothing proposed)   failed
//	TRYAGAIN    (proposal dropped, never logged) failed
//	a dial error (the command was never sent)    failed
//	TIMEOUT, MASTERDOWN, other ERR, I/O errors   indeterminate for writes
//
// For reads every error is "failed": a read that did not answer tells
// nothing and is dropped from the history.
func classify(kind opKind, err error) (class outcomeClass, errText string) {
	if err == nil || errors.Is(err, redis.Nil) {
		return classOK, ""
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		text := rerr.Error()
		switch {
		case strings.HasPrefix(text, notIntegerPrefix):
			return classOK, text
		case strings.HasPrefix(text, "CLUSTERDOWN "), strings.HasPrefix(text, "TRYAGAIN "):
			return classFailed, text
		}
		if kind.isWrite() {
			return classUnknown, text
		}
		return classFailed, text
	}
	var operr *net.OpError
	if errors.As(err, &operr) && operr.Op == "dial" {
		return classFailed, err.Error()
	}
	if kind.isWrite() {
		return classUnknown, err.Error()
	}
	return classFailed, err.Error()
}

// Key families. Registers take strings (SET/APPEND of unique values),
// counters take integers (SET of numbers, INCR), logs take unique tokens
// appended by every client and are checked for loss and duplication.
var (
	registerKeys = []string{"r0", "r1", "r2", "r3", "r4", "r5"}
	counterKeys  = []string{"c0", "c1", "c2"}
	logKeys      = []string{"l0", "l1"}
)

// allKeys lists every key the workload touches.
func allKeys() []string {
	out := append(append(append([]string{}, registerKeys...), counterKeys...), logKeys...)
	return out
}

// record is one completed operation on a register or counter key.
type record struct {
	worker  int
	proc    int // porcupine client: bumped after an indeterminate op
	node    int
	in      regInput
	out     regOutput
	class   outcomeClass
	failure string // error text when class != classOK
	call    time.Duration
	ret     time.Duration
}

// logRecord is one APPEND of a unique token to a log key.
type logRecord struct {
	worker int
	seq    int
	key    string
	token  string
	class  outcomeClass
	call   time.Duration
	ret    time.Duration
}

// history is everything the workers saw, merged after they stop.
type history struct {
	ops  []record
	logs []logRecord
}

// workerConfig sets one client's behaviour.
type workerConfig struct {
	id        int
	node      *node
	pipeline  int           // >1: send this many commands per round trip
	pace      time.Duration // pause between round trips (bounds history size)
	opTimeout time.Duration // client-side timeout of one round trip
	seed      uint64
}

// worker is one client: sequential round trips to one node.
type worker struct {
	cfg   workerConfig
	rc    *redis.Client
	rng   *rand.Rand
	start time.Time
	seq   int
	proc  int
	hist  history
}

// pending is one command of a round trip before its reply.
type pending struct {
	in    regInput
	log   bool
	seq   int
	token string
	cmd   redis.Cmder
}

func newWorker(c *cluster, cfg workerConfig, start time.Time) *worker {
	return &worker{
		cfg:   cfg,
		rc:    c.Client(cfg.node, cfg.opTimeout),
		rng:   rand.New(rand.NewPCG(cfg.seed, uint64(cfg.id))),
		start: start,
	}
}

// run issues round trips until ctx ends. Each round trip gets its own
// timeout, not ctx, so stopping the run does not turn the last writes into
// indeterminate ones.
func (w *worker) run(ctx context.Context) {
	defer w.rc.Close()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		w.roundTrip()
		timer.Reset(w.cfg.pace)
	}
}

// nextOp chooses the next command.
func (w *worker) nextOp() pending {
	w.seq++
	r := w.rng.IntN(100)
	if r < 15 {
		key := logKeys[w.rng.IntN(len(logKeys))]
		token := fmt.Sprintf("%d.%d;", w.cfg.id, w.seq)
		return pending{in: regInput{kind: opAppend, key: key, arg: token}, log: true, seq: w.seq, token: token}
	}
	if r < 65 {
		key := registerKeys[w.rng.IntN(len(registerKeys))]
		switch p := w.rng.IntN(100); {
		case p < 45:
			return pending{in: regInput{kind: opGet, key: key}}
		case p < 70:
			return pending{in: regInput{kind: opSet, key: key, arg: fmt.Sprintf("s%d-%d", w.cfg.id, w.seq)}}
		case p < 90:
			return pending{in: regInput{kind: opAppend, key: key, arg: fmt.Sprintf("+%d-%d", w.cfg.id, w.seq)}}
		default:
			return pending{in: regInput{kind: opDel, key: key}}
		}
	}
	key := counterKeys[w.rng.IntN(len(counterKeys))]
	switch p := w.rng.IntN(100); {
	case p < 40:
		return pending{in: regInput{kind: opGet, key: key}}
	case p < 80:
		return pending{in: regInput{kind: opIncr, key: key}}
	case p < 90:
		return pending{in: regInput{kind: opSet, key: key, arg: strconv.Itoa(w.rng.IntN(1000))}}
	default:
		return pending{in: regInput{kind: opDel, key: key}}
	}
}

// queue issues in on a client (one round trip) or adds it to a pipeline.
func queue(ctx context.Context, p redis.Cmdable, in regInput) redis.Cmder {
	switch in.kind {
	case opGet:
		return p.Get(ctx, in.key)
	case opSet:
		return p.Set(ctx, in.key, in.arg, 0)
	case opDel:
		return p.Del(ctx, in.key)
	case opIncr:
		return p.Incr(ctx, in.key)
	default:
		return p.Append(ctx, in.key, in.arg)
	}
}

// roundTrip sends one command, or a pipeline of several, and records each.
func (w *worker) roundTrip() {
	n := 1
	if w.cfg.pipeline > 1 {
		n = w.cfg.pipeline
	}
	ops := make([]pending, n)
	for i := range ops {
		ops[i] = w.nextOp()
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.opTimeout)
	defer cancel()
	call := time.Since(w.start)
	if n == 1 {
		ops[0].cmd = queue(ctx, w.rc, ops[0].in)
	} else {
		pipe := w.rc.Pipeline()
		for i := range ops {
			ops[i].cmd = queue(ctx, pipe, ops[i].in)
		}
		_, err := pipe.Exec(ctx)
		markPipelineFailure(ops, err)
	}
	ret := time.Since(w.start)
	indeterminate := false
	for _, p := range ops {
		class, text := classify(p.in.kind, p.cmd.Err())
		if p.log {
			w.hist.logs = append(w.hist.logs, logRecord{worker: w.cfg.id, seq: p.seq, key: p.in.key, token: p.token, class: class, call: call, ret: ret})
		} else {
			rec := record{worker: w.cfg.id, proc: w.proc, node: w.cfg.node.ID, in: p.in, class: class, call: call, ret: ret}
			if class == classOK {
				rec.out = outputOf(p.cmd, text)
			} else {
				rec.failure = text
				rec.out.unknown = class == classUnknown
			}
			w.hist.ops = append(w.hist.ops, rec)
		}
		indeterminate = indeterminate || class == classUnknown
	}
	if indeterminate {
		// The op may still be pending: later ops of this worker belong to
		// a new porcupine client, as Jepsen gives the worker a new process.
		w.proc++
	}
}

// outputOf reads a successful command's reply.
func outputOf(cmd redis.Cmder, errText string) regOutput {
	if errText != "" {
		return regOutput{errText: errText}
	}
	switch c := cmd.(type) {
	case *redis.StringCmd:
		if errors.Is(c.Err(), redis.Nil) {
			return regOutput{}
		}
		return regOutput{exists: true, value: c.Val()}
	case *redis.IntCmd:
		return regOutput{n: c.Val()}
	}
	return regOutput{}
}

// runWorkers runs the workers until ctx ends and merges their histories.
func runWorkers(ctx context.Context, c *cluster, cfgs []workerConfig, start time.Time) history {
	workers := make([]*worker, len(cfgs))
	for i, cfg := range cfgs {
		workers[i] = newWorker(c, cfg, start)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	wg.Wait()
	var h history
	for _, w := range workers {
		h.ops = append(h.ops, w.hist.ops...)
		h.logs = append(h.logs, w.hist.logs...)
	}
	return h
}

// markPipelineFailure gives every command of a failed pipeline the
// pipeline's error. go-redis v9.17 with MaxRetries -1 returns a dial error
// from Exec WITHOUT setting it on the commands (the retry loop ends on a
// retryable error before setCmdsErr), so they look like successes with
// zero replies; found by this harness as "acknowledged appends lost".
// A Redis error reply is per command, and go-redis has set it already.
func markPipelineFailure(ops []pending, err error) {
	var rerr redis.Error
	if err == nil || errors.As(err, &rerr) {
		return
	}
	for _, p := range ops {
		if p.cmd.Err() == nil {
			p.cmd.SetErr(err)
		}
	}
}
