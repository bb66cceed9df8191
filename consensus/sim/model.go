package sim

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// registerInput is one client operation on one key, as porcupine sees it.
type registerInput struct {
	write bool
	key   uint64
	value uint64 // the value written (writes only)
}

// registerModel is a linearizable register per key. Partitioning by key lets
// porcupine check each key's history alone, which keeps the search small:
// operations on different keys never constrain each other.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[uint64][]porcupine.Operation{}
		var keys []uint64
		for _, op := range history {
			k := op.Input.(registerInput).key
			if _, seen := byKey[k]; !seen {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return uint64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(registerInput)
		if in.write {
			return true, in.value
		}
		return output.(uint64) == state.(uint64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		if in.write {
			return fmt.Sprintf("set(k%d, %d)", in.key, in.value)
		}
		return fmt.Sprintf("get(k%d) -> %v", in.key, output)
	},
}

// checkLinearizable runs porcupine on history. A check that runs out of time
// is not a failure (the history is too concurrent to decide quickly), but it
// is reported so that a sweep can count them.
func checkLinearizable(history []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(registerModel, history, timeout)
}
