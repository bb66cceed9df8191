// Package compat holds raftkv's Redis compatibility tests; it has no
// non-test code.
//
// The differential test (TestDifferential) starts a real redis-server (the
// reference: Debian's 7.0, with persistence off) and raftkv from its
// binary, opens one raw TCP connection to each, and sends both the same
// seeded random command stream: every command raftkv implements, with
// wrong types, wrong arity, out-of-range and non-numeric numbers, negative
// and huge TTLs, binary values holding \r\n and \0, empty strings, 1 MiB
// values, pipelines, MULTI/EXEC (with connection commands queued too),
// WATCH with writes to the watched keys in between, COMMAND DOCS, and each
// stream once in RESP2 and once in RESP3 (HELLO 3). At the end the
// contents of the first databases are compared key by key.
// Replies are compared byte for byte. Raw sockets, not a client library,
// because a library would hide exactly what we want to see: the reply
// types, the error texts, and RESP2/RESP3 encodings.
//
// Why random streams and not a list of cases: the interesting bugs come
// from interactions (a key that is a hash when INCR meets it, a TTL that a
// later SET KEEPTTL keeps, a SWAPDB between two commands), and a seeded
// generator explores them far more cheaply than hand-written cases, while
// the seed keeps every failure reproducible: a failing stream prints its
// seed, the protocol, the command index and the first differing command
// with both replies.
//
// Some replies legitimately differ. Each such difference is an entry in ONE
// table, knownDifferences (differences_test.go), with the reason; the
// comparator applies exactly those relaxations (compare as a set, compare
// within a time tolerance, compare only the shape of a random pick) and
// nothing else. README's "Redis compatibility" section links there.
//
// The same stream generator also drives a 3-node raftkv cluster through a
// follower (TestDifferentialFollower), which checks that forwarding writes
// and ReadIndex reads on a follower change no reply.
//
// Real client libraries are exercised by TestClients* (clients_test.go):
// go-redis v9 in process, and redis-py, ioredis and node-redis through the
// scripts under ../clients, each against the leader and a follower of a
// 3-node cluster. Tests that need an outside program (redis-server,
// python3, node) skip loudly when it is missing and fail under CI=true.
//
// Flags (after the package: go test ./compat -compat.seeds=30):
// -compat.seeds=N (default: as many seeds as fit in 40 s, plus 10 s
// through a follower), -compat.seed=S to replay one seed, -compat.cmds=N
// steps per stream.
package compat
