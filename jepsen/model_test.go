//go:build linux

package jepsen

import (
	"fmt"
	"sort"
	"strconv"
	"testing"

	"github.com/anishathalye/porcupine"
)

// opKind is a Redis command of the workload.
type opKind uint8

const (
	opGet opKind = iota
	opSet
	opDel
	opIncr
	opAppend
)

func (k opKind) String() string {
	switch k {
	case opGet:
		return "GET"
	case opSet:
		return "SET"
	case opDel:
		return "DEL"
	case opIncr:
		return "INCR"
	case opAppend:
		return "APPEND"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// isWrite reports whether the command changes the keyspace.
func (k opKind) isWrite() bool { return k != opGet }

// regInput is one command on one key.
type regInput struct {
	kind opKind
	key  string
	arg  string // SET value, APPEND suffix
}

// regOutput is what the client saw.
type regOutput struct {
	unknown bool   // indeterminate write: may or may not have happened
	exists  bool   // GET: the key existed
	value   string // GET: its value
	n       int64  // DEL: keys removed; INCR: new value; APPEND: new length
	errText string // an error reply that is the command's result (INCR on a non-integer)
}

// regState is one key's value; comparable, so porcupine's default equality
// works and states can be cached.
type regState struct {
	exists bool
	value  string
}

// stepRegister is the sequential specification of one Redis string key
// under GET, SET, DEL, INCR and APPEND.
func stepRegister(st regState, in regInput, out regOutput) (bool, regState) {
	next, want := applyRegister(st, in)
	if out.unknown {
		return true, next
	}
	switch in.kind {
	case opGet:
		return out.errText == "" && out.exists == st.exists && (!st.exists || out.value == st.value), st
	case opSet:
		return out.errText == "", next
	default:
		if want.errText != "" {
			return out.errText != "", next
		}
		return out.errText == "" && out.n == want.n, next
	}
}

// applyRegister returns the state after in and the reply Redis gives.
func applyRegister(st regState, in regInput) (regState, regOutput) {
	switch in.kind {
	case opSet:
		return regState{exists: true, value: in.arg}, regOutput{}
	case opDel:
		if st.exists {
			return regState{}, regOutput{n: 1}
		}
		return regState{}, regOutput{n: 0}
	case opAppend:
		v := st.value + in.arg
		return regState{exists: true, value: v}, regOutput{n: int64(len(v))}
	case opIncr:
		cur := int64(0)
		if st.exists {
			parsed, err := strconv.ParseInt(st.value, 10, 64)
			if err != nil || parsed == 1<<63-1 || strconv.FormatInt(parsed, 10) != st.value {
				return st, regOutput{errText: "ERR value is not an integer or out of range"}
			}
			cur = parsed
		}
		return regState{exists: true, value: strconv.FormatInt(cur+1, 10)}, regOutput{n: cur + 1}
	}
	return st, regOutput{exists: st.exists, value: st.value}
}

// registerModel is the porcupine model: a map of independent keys, checked
// one key at a time (Partition), which keeps the search small.
func registerModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			for _, op := range history {
				k := op.Input.(regInput).key
				byKey[k] = append(byKey[k], op)
			}
			keys := make([]string, 0, len(byKey))
			for k := range byKey {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return regState{} },
		Step: func(state, input, output any) (bool, any) {
			return stepRegister(state.(regState), input.(regInput), output.(regOutput))
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(regInput), output.(regOutput)
			call := in.kind.String() + " " + in.key
			if in.kind == opSet || in.kind == opAppend {
				call += " " + shorten(in.arg)
			}
			switch {
			case out.unknown:
				return call + " -> ? (indeterminate)"
			case out.errText != "":
				return call + " -> " + out.errText
			case in.kind == opGet && !out.exists:
				return call + " -> nil"
			case in.kind == opGet:
				return call + " -> " + shorten(out.value)
			case in.kind == opSet:
				return call + " -> OK"
			}
			return fmt.Sprintf("%s -> %d", call, out.n)
		},
		DescribeState: func(state any) string {
			st := state.(regState)
			if !st.exists {
				return "(nil)"
			}
			return shorten(st.value)
		},
	}
}

// shorten keeps visualisations readable with long APPEND values.
func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote("…" + s[len(s)-max:])
}

func TestStepRegister(t *testing.T) {
	missing := regState{}
	val := func(v string) regState { return regState{exists: true, value: v} }
	tests := []struct {
		name string
		st   regState
		in   regInput
		out  regOutput
		ok   bool
		next regState
	}{
		{"get missing", missing, regInput{kind: opGet}, regOutput{}, true, missing},
		{"get missing sees a value", missing, regInput{kind: opGet}, regOutput{exists: true, value: "a"}, false, missing},
		{"get stale value", val("b"), regInput{kind: opGet}, regOutput{exists: true, value: "a"}, false, val("b")},
		{"get empty string is not nil", val(""), regInput{kind: opGet}, regOutput{}, false, val("")},
		{"set", missing, regInput{kind: opSet, arg: "x"}, regOutput{}, true, val("x")},
		{"del existing", val("x"), regInput{kind: opDel}, regOutput{n: 1}, true, missing},
		{"del missing says 1", missing, regInput{kind: opDel}, regOutput{n: 1}, false, missing},
		{"append length", val("ab"), regInput{kind: opAppend, arg: "cd"}, regOutput{n: 4}, true, val("abcd")},
		{"append wrong length", val("ab"), regInput{kind: opAppend, arg: "cd"}, regOutput{n: 2}, false, val("abcd")},
		{"incr missing", missing, regInput{kind: opIncr}, regOutput{n: 1}, true, val("1")},
		{"incr counts", val("41"), regInput{kind: opIncr}, regOutput{n: 42}, true, val("42")},
		{"incr lost update", val("41"), regInput{kind: opIncr}, regOutput{n: 41}, false, val("42")},
		{"incr non-integer errs", val("x"), regInput{kind: opIncr}, regOutput{errText: "ERR value is not an integer or out of range"}, true, val("x")},
		{"incr non-integer must err", val("x"), regInput{kind: opIncr}, regOutput{n: 1}, false, val("x")},
		{"incr leading zero errs", val("01"), regInput{kind: opIncr}, regOutput{n: 2}, false, val("01")},
		{"indeterminate set applies", val("a"), regInput{kind: opSet, arg: "b"}, regOutput{unknown: true}, true, val("b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, next := stepRegister(tt.st, tt.in, tt.out)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && next != tt.next {
				t.Fatalf("next = %+v, want %+v", next, tt.next)
			}
		})
	}
}

// TestModelCatchesStaleRead: the checker itself must reject a textbook
// stale read and accept its linearizable twin, or a green run means nothing.
func TestModelCatchesStaleRead(t *testing.T) {
	op := func(client int, in regInput, out regOutput, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
	}
	setA := op(0, regInput{kind: opSet, key: "k", arg: "a"}, regOutput{}, 0, 10)
	setB := op(0, regInput{kind: opSet, key: "k", arg: "b"}, regOutput{}, 20, 30)
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{"read after write sees it", []porcupine.Operation{setA, setB, op(1, regInput{kind: opGet, key: "k"}, regOutput{exists: true, value: "b"}, 40, 50)}, true},
		{"stale read", []porcupine.Operation{setA, setB, op(1, regInput{kind: opGet, key: "k"}, regOutput{exists: true, value: "a"}, 40, 50)}, false},
		{"concurrent read may see either", []porcupine.Operation{setA, setB, op(1, regInput{kind: opGet, key: "k"}, regOutput{exists: true, value: "a"}, 25, 50)}, true},
		{"indeterminate write may show later", []porcupine.Operation{setA, op(0, regInput{kind: opSet, key: "k", arg: "c"}, regOutput{unknown: true}, 20, 1000), op(1, regInput{kind: opGet, key: "k"}, regOutput{exists: true, value: "c"}, 40, 50)}, true},
		{"other keys are independent", []porcupine.Operation{setA, op(1, regInput{kind: opGet, key: "j"}, regOutput{}, 40, 50)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(registerModel(), tt.history); got != tt.want {
				t.Fatalf("linearizable = %v, want %v", got, tt.want)
			}
		})
	}
}
