//go:build linux

package jepsen

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// logTokensMax bounds how many tokens one log value may hold; a larger
// value is itself reported as a problem.
const logTokensMax = 1 << 20

// logToken is one "worker.seq;" entry of a log key.
type logToken struct{ worker, seq int }

// parseLog splits a log key's value into tokens. The value comes from the
// server, so anything malformed is an error naming the offset.
func parseLog(value string) ([]logToken, error) {
	var out []logToken
	for off := 0; off < len(value); {
		end := strings.IndexByte(value[off:], ';')
		if end < 0 {
			return out, fmt.Errorf("log value: unterminated token at byte %d", off)
		}
		tok := value[off : off+end]
		w, s, ok := strings.Cut(tok, ".")
		worker, err1 := strconv.Atoi(w)
		seq, err2 := strconv.Atoi(s)
		if !ok || err1 != nil || err2 != nil || worker < 0 || seq < 0 {
			return out, fmt.Errorf("log value: malformed token %q at byte %d", tok, off)
		}
		if len(out) >= logTokensMax {
			return out, fmt.Errorf("log value: more than %d tokens", logTokensMax)
		}
		out = append(out, logToken{worker, seq})
		off += end + 1
	}
	return out, nil
}

// checkLogs compares the converged log values with what the workers were
// told. It finds lost acknowledged appends, appends applied twice (a
// proxied command executed twice), appends applied although the client
// got a definite failure (an "aborted read" in Jepsen's words), appends
// nobody sent, and acknowledged appends of one worker out of order.
func checkLogs(values map[string]string, logs []logRecord) []string {
	var problems []string
	sent := map[string]logRecord{}
	for _, r := range logs {
		sent[r.key+"/"+r.token] = r
	}
	seen := map[string]int{}
	for _, key := range logKeys {
		toks, err := parseLog(values[key])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", key, err))
		}
		lastAcked := map[int]int{}
		for _, tk := range toks {
			token := fmt.Sprintf("%d.%d;", tk.worker, tk.seq)
			id := key + "/" + token
			seen[id]++
			r, ok := sent[id]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: token %s was never sent", key, token))
			case seen[id] == 2:
				problems = append(problems, fmt.Sprintf("%s: token %s applied twice (%s)", key, token, r.class))
			case r.class == classFailed:
				problems = append(problems, fmt.Sprintf("%s: token %s applied although the client got a definite failure", key, token))
			}
			if ok && r.class == classOK {
				if prev, has := lastAcked[tk.worker]; has && prev > tk.seq {
					problems = append(problems, fmt.Sprintf("%s: worker %d's acknowledged appends out of order (%d after %d)", key, tk.worker, tk.seq, prev))
				}
				lastAcked[tk.worker] = tk.seq
			}
		}
	}
	for id, r := range sent {
		if r.class == classOK && seen[id] == 0 {
			problems = append(problems, fmt.Sprintf("acknowledged append %s (at %v) lost", id, r.ret.Round(time.Millisecond)))
		}
	}
	sort.Strings(problems)
	return problems
}

// finalState is what every node returns for every key once healed.
type finalState struct {
	values []map[string]*string // per node: key -> value (nil: missing)
	reads  []record             // the reads, for the linearizability check
}

// readFinal reads every workload key and KEYS * from every node, retrying
// errors (a restarted node may need a moment), and reports divergence.
func readFinal(ctx context.Context, c *cluster, start time.Time) (finalState, []string, error) {
	var fs finalState
	var problems []string
	keySets := make([][]string, len(c.Procs))
	for i, n := range c.Procs {
		rc := c.Client(n, 2*time.Second)
		vals := map[string]*string{}
		for _, key := range allKeys() {
			var v string
			var err error
			var call, ret time.Duration
			for attempt := 0; ; attempt++ {
				call = time.Since(start)
				v, err = rc.Get(ctx, key).Result()
				ret = time.Since(start)
				if err == nil || errors.Is(err, redis.Nil) || attempt >= 50 {
					break
				}
				select {
				case <-ctx.Done():
					rc.Close()
					return fs, problems, ctx.Err()
				case <-time.After(200 * time.Millisecond):
				}
			}
			switch {
			case errors.Is(err, redis.Nil):
				vals[key] = nil
			case err != nil:
				rc.Close()
				return fs, problems, fmt.Errorf("final GET %s on node %d: %w", key, n.ID, err)
			default:
				vals[key] = &v
			}
			if !slices.Contains(logKeys, key) {
				out := regOutput{exists: err == nil, value: v}
				fs.reads = append(fs.reads, record{worker: -1 - i, node: n.ID, in: regInput{kind: opGet, key: key}, out: out, call: call, ret: ret})
			}
		}
		keys, err := rc.Keys(ctx, "*").Result()
		rc.Close()
		if err != nil {
			return fs, problems, fmt.Errorf("final KEYS on node %d: %w", n.ID, err)
		}
		sort.Strings(keys)
		keySets[i] = keys
		fs.values = append(fs.values, vals)
	}
	for i := 1; i < len(c.Procs); i++ {
		if !slices.Equal(keySets[0], keySets[i]) {
			problems = append(problems, fmt.Sprintf("diverged: node 1 has keys %v, node %d has %v", keySets[0], c.Procs[i].ID, keySets[i]))
		}
		for _, key := range allKeys() {
			a, b := fs.values[0][key], fs.values[i][key]
			if (a == nil) != (b == nil) || (a != nil && *a != *b) {
				problems = append(problems, fmt.Sprintf("diverged: %s on node 1 = %s, on node %d = %s", key, showValue(a), c.Procs[i].ID, showValue(b)))
			}
		}
	}
	return fs, problems, nil
}

func showValue(v *string) string {
	if v == nil {
		return "(nil)"
	}
	return shorten(*v)
}

// porcupineHistory turns the records into porcupine operations: definite
// failures are left out (they did not happen), indeterminate writes stay
// open until after the last operation (they may happen at any later time).
func porcupineHistory(ops []record, final []record) []porcupine.Operation {
	var end time.Duration
	for _, r := range ops {
		end = max(end, r.ret)
	}
	for _, r := range final {
		end = max(end, r.ret)
	}
	end += time.Second
	clients := map[[2]int]int{}
	clientOf := func(r record) int {
		k := [2]int{r.worker, r.proc}
		id, ok := clients[k]
		if !ok {
			id = len(clients)
			clients[k] = id
		}
		return id
	}
	out := make([]porcupine.Operation, 0, len(ops)+len(final))
	for _, rs := range [][]record{ops, final} {
		for _, r := range rs {
			if r.class == classFailed {
				continue
			}
			ret := r.ret
			if r.class == classUnknown {
				ret = end
			}
			out = append(out, porcupine.Operation{ClientId: clientOf(r), Input: r.in, Output: r.out, Call: int64(r.call), Return: int64(ret)})
		}
	}
	return out
}

// checkLinearizable checks the history per key; on a violation it writes
// porcupine's HTML visualisation to outDir and returns its path.
func checkLinearizable(history []porcupine.Operation, timeout time.Duration, outDir, name string) (porcupine.CheckResult, string, error) {
	model := registerModel()
	res, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	if res != porcupine.Illegal {
		return res, "", nil
	}
	path := filepath.Join(outDir, name+"-linearizability.html")
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return res, "", fmt.Errorf("write visualisation: %w", err)
	}
	return res, path, nil
}

// faultWindow is the unavailability measured after one fault.
type faultWindow struct {
	firstWrite time.Duration // fault start to the first acknowledged write invoked after it
	longestGap time.Duration // longest time without an acknowledged write in the fault's window
	recovered  bool          // some write invoked after the fault was acknowledged within the window
}

// ackedWrite is a successful write, by invocation and completion time.
type ackedWrite struct{ call, ret time.Duration }

// ackedWrites lists every acknowledged write, by completion time.
func ackedWrites(h history) []ackedWrite {
	var out []ackedWrite
	for _, r := range h.ops {
		if r.class == classOK && r.in.kind.isWrite() {
			out = append(out, ackedWrite{r.call, r.ret})
		}
	}
	for _, r := range h.logs {
		if r.class == classOK {
			out = append(out, ackedWrite{r.call, r.ret})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ret < out[j].ret })
	return out
}

// measureWindow computes the unavailability of one fault from the acked
// writes invoked after the fault started and completed before its window
// ended.
func measureWindow(acks []ackedWrite, f fault) faultWindow {
	var w faultWindow
	prev := f.start
	for _, a := range acks {
		if a.call < f.start || a.ret > f.end {
			continue
		}
		if !w.recovered {
			w.recovered, w.firstWrite = true, a.ret-f.start
		}
		w.longestGap = max(w.longestGap, a.ret-prev)
		prev = a.ret
	}
	w.longestGap = max(w.longestGap, f.end-prev)
	if !w.recovered {
		w.firstWrite = f.end - f.start
	}
	return w
}
