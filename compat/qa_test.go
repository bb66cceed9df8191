package compat

import (
	"testing"
)

// TestDifferentialConfigSetErrors compares CONFIG SET's error replies with
// redis-server's byte for byte: scripts and client libraries match on them,
// and a new user trying a bad value should read what Redis would say. Redis
// checks every name (unknown, immutable, given twice) before it parses any
// value, so the order of the checks is compared too. Every step leaves
// both servers' configuration as it was.
func TestDifferentialConfigSetErrors(t *testing.T) {
	redisAddr, raftkvAddr := startRedis(t), startRaftkv(t)
	ref, sut := dialPair(t, redisAddr, raftkvAddr)
	sameReplies(t, ref, sut,
		// Values that do not parse.
		"CONFIG SET maxmemory bogus",
		"CONFIG SET maxmemory -1",
		"CONFIG SET maxmemory 1.5mb",
		"CONFIG SET maxmemory 1tb",
		"CONFIG SET proto-max-bulk-len 1tb",
		"CONFIG SET maxmemory-policy bogus",
		"CONFIG SET loglevel bogus",
		"CONFIG SET maxmemory-samples x",
		"CONFIG SET lfu-log-factor x",
		"CONFIG SET lfu-decay-time 1.5",
		"CONFIG SET timeout x",
		"CONFIG SET maxclients x",
		// Values out of range (where both servers have the same bounds).
		"CONFIG SET lfu-log-factor -1",
		"CONFIG SET timeout -1",
		"CONFIG SET timeout 99999999999",
		"CONFIG SET timeout 99999999999999999999",
		"CONFIG SET proto-max-bulk-len 1",
		// Names before values, in argument order; the first bad pair wins.
		"CONFIG SET maxmemory x nosuch 1",
		"CONFIG SET maxmemory x databases 1",
		"CONFIG SET databases 3 nosuch 1",
		"CONFIG SET maxmemory 1mb MAXMEMORY 2mb",
		"CONFIG SET maxmemory x maxmemory-policy y",
		"CONFIG SET maxmemory 0 maxmemory-samples x",
		// All or nothing: the good first pair did not stick.
		"CONFIG GET maxmemory",
		// Case-insensitive values still parse.
		"CONFIG SET maxmemory-policy ALLKEYS-LRU",
		"CONFIG GET maxmemory-policy",
		"CONFIG SET maxmemory-policy noeviction",
	)
}
