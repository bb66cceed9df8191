//go:build !race

package kvsm

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = false
