//go:build linux

package jepsen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// replyError is a Redis error reply as go-redis returns it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestClassify(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		kind opKind
		err  error
		want outcomeClass
	}{
		{"success", opSet, nil, classOK},
		{"nil reply is a result", opGet, redis.Nil, classOK},
		{"not an integer is INCR's result", opIncr, replyError("ERR value is not an integer or out of range"), classOK},
		{"no leader: nothing proposed", opSet, replyError("CLUSTERDOWN No leader elected yet (Raft election in progress), try again later"), classFailed},
		{"dropped proposal", opAppend, replyError("TRYAGAIN Proposal dropped (leadership change or overload), try again"), classFailed},
		{"write timeout is unknown", opSet, replyError("TIMEOUT Outcome unknown: the write may have been applied; check before retrying"), classUnknown},
		{"shutting down is unknown for a write", opDel, replyError("MASTERDOWN Node is shutting down"), classUnknown},
		{"other ERR on a write is unknown", opIncr, replyError("ERR something else"), classUnknown},
		{"read error is dropped", opGet, replyError("TRYAGAIN Read timed out waiting for a linearizable point, try again"), classFailed},
		{"dial error: never sent", opSet, fmt.Errorf("pool: %w", dialErr), classFailed},
		{"read timeout on a write is unknown", opSet, readErr, classUnknown},
		{"read timeout on a read is dropped", opGet, readErr, classFailed},
		{"context deadline on a write is unknown", opAppend, context.DeadlineExceeded, classUnknown},
		{"CLUSTERDOWN needs its space", opSet, replyError("CLUSTERDOWNX"), classUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := classify(tt.kind, tt.err)
			if got != tt.want {
				t.Fatalf("classify(%v, %v) = %v, want %v", tt.kind, tt.err, got, tt.want)
			}
		})
	}
}

func TestMarkPipelineFailure(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		execErr error
		preset  error // error go-redis already set on the first command
		want    []bool
	}{
		{"dial error reaches every command", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, nil, []bool{true, true}},
		{"reply errors are per command", replyError("ERR value is not an integer or out of range"), replyError("ERR value is not an integer or out of range"), []bool{true, false}},
		{"success changes nothing", nil, nil, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := redis.NewIntCmd(ctx, "incr", "x"), redis.NewStatusCmd(ctx, "set", "y", "1")
			if tt.preset != nil {
				a.SetErr(tt.preset)
			}
			ops := []pending{{cmd: a}, {cmd: b}}
			markPipelineFailure(ops, tt.execErr)
			for i, p := range ops {
				if got := p.cmd.Err() != nil; got != tt.want[i] {
					t.Errorf("command %d has error %v, want error: %v", i, p.cmd.Err(), tt.want[i])
				}
			}
		})
	}
}

func TestParseLog(t *testing.T) {
	tests := []struct {
		in      string
		want    []logToken
		wantErr string
	}{
		{"", nil, ""},
		{"1.2;", []logToken{{1, 2}}, ""},
		{"1.2;3.40;", []logToken{{1, 2}, {3, 40}}, ""},
		{"1.2", nil, "unterminated token at byte 0"},
		{"1.2;x.3;", []logToken{{1, 2}}, `malformed token "x.3" at byte 4`},
		{"1-2;", nil, "malformed"},
		{"-1.2;", nil, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLog(tt.in)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("tokens = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParseLog: log values come from the server; any bytes give tokens or
// an error, never a panic, and well-formed tokens round-trip.
func FuzzParseLog(f *testing.F) {
	for _, s := range []string{"", "1.2;", "0.0;12.345;", "1.2", ";", "1..2;", "9999999999999999999999.1;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := parseLog(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, tk := range toks {
			fmt.Fprintf(&b, "%d.%d;", tk.worker, tk.seq)
		}
		again, err := parseLog(b.String())
		if err != nil || fmt.Sprint(again) != fmt.Sprint(toks) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}

func TestCheckLogs(t *testing.T) {
	logs := []logRecord{
		{worker: 0, seq: 1, key: "l0", token: "0.1;", class: classOK},
		{worker: 0, seq: 2, key: "l0", token: "0.2;", class: classOK},
		{worker: 1, seq: 1, key: "l0", token: "1.1;", class: classUnknown},
		{worker: 1, seq: 2, key: "l0", token: "1.2;", class: classFailed},
		{worker: 1, seq: 3, key: "l1", token: "1.3;", class: classOK},
	}
	tests := []struct {
		name   string
		values map[string]string
		want   []string // substrings, one per expected problem
	}{
		{"all acked, unknown absent", map[string]string{"l0": "0.1;0.2;", "l1": "1.3;"}, nil},
		{"unknown present is fine", map[string]string{"l0": "0.1;1.1;0.2;", "l1": "1.3;"}, nil},
		{"lost ack", map[string]string{"l0": "0.1;", "l1": "1.3;"}, []string{"l0/0.2; (at 0s) lost"}},
		{"applied twice", map[string]string{"l0": "0.1;0.2;0.2;", "l1": "1.3;"}, []string{"0.2; applied twice"}},
		{"aborted write applied", map[string]string{"l0": "0.1;0.2;1.2;", "l1": "1.3;"}, []string{"1.2; applied although the client got a definite failure"}},
		{"never sent", map[string]string{"l0": "0.1;0.2;7.7;", "l1": "1.3;"}, []string{"7.7; was never sent"}},
		{"out of order", map[string]string{"l0": "0.2;0.1;", "l1": "1.3;"}, []string{"out of order"}},
		{"garbage", map[string]string{"l0": "0.1;0.2;zz", "l1": "1.3;"}, []string{"l0: log value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkLogs(tt.values, logs)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to mention %q", i, got[i], w)
				}
			}
		})
	}
}

func TestMeasureWindow(t *testing.T) {
	s := time.Second
	acks := []ackedWrite{{call: 0, ret: s / 2}, {call: 2 * s, ret: 3 * s}, {call: 3 * s, ret: 4 * s}, {call: 9 * s, ret: 10 * s}}
	tests := []struct {
		name string
		f    fault
		want faultWindow
	}{
		{"recovers after a gap", fault{start: s, end: 5 * s}, faultWindow{firstWrite: 2 * s, longestGap: 2 * s, recovered: true}},
		{"tail gap counts", fault{start: 3 * s, end: 9 * s}, faultWindow{firstWrite: s, longestGap: 5 * s, recovered: true}},
		{"write invoked before the fault does not count", fault{start: 2500 * time.Millisecond, end: 3500 * time.Millisecond}, faultWindow{firstWrite: s, longestGap: s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := measureWindow(acks, tt.f); got != tt.want {
				t.Fatalf("window = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCountSpurious(t *testing.T) {
	s := time.Second
	down := func(call time.Duration) record {
		return record{class: classFailed, failure: "CLUSTERDOWN No leader elected yet", call: call}
	}
	h := history{ops: []record{
		down(s),      // before the first fault: spurious
		down(10 * s), // the nemesis has begun (a kill-all kills one node at a time): expected
		down(11 * s), // during the fault: expected
		down(16 * s), // within the settle time after the heal: expected
		down(30 * s), // healthy again: spurious
		{class: classFailed, failure: "TRYAGAIN x", call: 30 * s},
	}}
	faults := []fault{{begin: 10 * s, start: 11 * s, healed: 14 * s, end: 40 * s}}
	if got := countSpurious(h, faults, 40*s); got != 2 {
		t.Fatalf("spurious = %d, want 2", got)
	}
}

// TestPorcupineHistory: definite failures leave the history, indeterminate
// writes stay open to the end, and a lost acknowledged write is Illegal.
func TestPorcupineHistory(t *testing.T) {
	s := time.Second
	set := func(v string, class outcomeClass, call, ret time.Duration) record {
		return record{in: regInput{kind: opSet, key: "k", arg: v}, class: class, out: regOutput{unknown: class == classUnknown}, call: call, ret: ret}
	}
	get := func(v string, call, ret time.Duration) record {
		return record{worker: 9, in: regInput{kind: opGet, key: "k"}, out: regOutput{exists: true, value: v}, call: call, ret: ret}
	}
	tests := []struct {
		name string
		ops  []record
		want bool
	}{
		{"unknown write seen late", []record{set("a", classOK, 0, s), set("b", classUnknown, 2*s, 3*s), get("a", 4*s, 5*s), get("b", 6*s, 7*s)}, true},
		{"failed write seen is an aborted read", []record{set("a", classOK, 0, s), set("b", classFailed, 2*s, 3*s), get("b", 4*s, 5*s)}, false},
		{"acknowledged write lost", []record{set("a", classOK, 0, s), set("b", classOK, 2*s, 3*s), get("a", 4*s, 5*s)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := porcupine.CheckOperations(registerModel(), porcupineHistory(tt.ops, nil))
			if got != tt.want {
				t.Fatalf("linearizable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelectScenarios(t *testing.T) {
	tests := []struct {
		spec    string
		want    int
		wantErr bool
	}{
		{"default", len(defaultScenarios), false},
		{"all", len(scenarios), false},
		{"pause, torn-tail", 2, false},
		{"nope", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := selectScenarios(tt.spec)
			if (err != nil) != tt.wantErr || len(got) != tt.want {
				t.Fatalf("selectScenarios(%q) = %d scenarios, %v; want %d", tt.spec, len(got), err, tt.want)
			}
		})
	}
}

// TestDialFromHub: the namespace dialer reaches a listener inside the hub
// and leaves the calling thread in its own namespace.
func TestDialFromHub(t *testing.T) {
	if err := netnsUnavailable(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED LOUDLY: %v", err)
	}
	lab, err := newNetLab(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lab.close(); err != nil {
			t.Error(err)
		}
	}()
	before, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens on the node's address yet: a refused connection
	// proves the packet reached the node's namespace (a wrong namespace
	// gives "network is unreachable").
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = lab.dial(ctx, "tcp", net.JoinHostPort(lab.nodeIP(1), "1"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial into the lab: %v, want connection refused", err)
	}
	// Outside the lab the address does not exist.
	var d net.Dialer
	if _, err := d.DialContext(ctx, "tcp", net.JoinHostPort(lab.nodeIP(1), "1")); errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("the lab's address answered from the root namespace: %v", err)
	}
	after, err := os.Readlink("/proc/self/ns/net")
	if err != nil || after != before {
		t.Fatalf("namespace changed: %s -> %s (%v)", before, after, err)
	}
}
