// Package wal is raftkv's durable storage: the Raft log and hard state
// (consensus.LogStorage and consensus.StateStorage) on github.com/tidwall/wal,
// and snapshot files.
package wal
