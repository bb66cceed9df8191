// Command bench measures raftkv against Redis on this machine and judges the
// targets of issue 6. It is a program, not a test: timings are never
// asserted in `go test`; `go test ./bench` checks only its parsing and
// target logic.
//
// Usage, from the module root:
//
//	go run ./bench -quick                  # CI smoke run, about a minute
//	go run ./bench -out /tmp/b             # 3 rounds; writes bench.json and bench.png
//	go run ./bench -rounds 5 -n 200000     # longer, steadier
//	go run ./bench -skip-memory -profile /tmp/prof   # add CPU profiles
//	go run ./bench -raftkv ./old-raftkv    # measure a prebuilt binary (version A/B)
//
// What it runs. It builds ./cmd/raftkv and starts four systems, each on
// free loopback ports with fresh data directories under one work directory
// (so on the same disk): redis-server without persistence ("redis"),
// redis-server with appendfsync always ("redis-aof"), one raftkv node
// ("raftkv-1") and three raftkv nodes ("raftkv-3", clients on the leader).
// Each is prefilled with the 100,000 keys the GETs read, then redis-benchmark
// (-c 50 -r 100000 --csv) runs SET and GET at -P 1 (-n N) and -P 16 (-n 4N)
// with 16-byte values, and SET,GET with 1 KiB values (-n N/2 each).
//
// Why interleaved. The machine is shared and noisy, so absolute figures
// move by tens of percent between minutes. Every round runs each case
// against all four systems back to back (the order rotating each round),
// and each target is a ratio of two figures from the same round; the table
// gives the median of those per-round ratios with their min–max. Read the
// ratios, not the absolute numbers, and distrust a ratio whose range
// straddles the goal.
//
// What it measures:
//   - throughput and p50/p99 latency: redis-benchmark 7's --csv columns
//     (test, rps, avg/min/p50/p95/p99/max_latency_ms), found by name;
//   - server CPU per request: utime+stime from /proc/<pid>/stat before and
//     after each run, summed over every process of the system (all three
//     raftkv nodes), divided by the requests sent; it includes the idle
//     cost (heartbeats) during the run, which is small at these rates;
//   - memory per key: a fresh redis, a fresh raftkv-1 and a fresh
//     raftkv-3 (through its leader) are loaded with -keys keys (16-byte
//     "key:%012d", 32-byte values) by a pipelined loader (8 connections,
//     1,000 SETs per pipeline, so one raftkv log entry per pipeline); the
//     figure is VmRSS 2 s after loading minus VmRSS at start, per process
//     (raftkv-3: the median and range of its three nodes);
//   - restart: raftkv-1 with that key set is stopped (SIGTERM) and started
//     again, once per round, timed from exec until it answers PING and a
//     GET of the last key loaded with the right value.
//
// Output: one table of medians (min–max) per system and case, a memory and
// restart table, and the issue 6 targets with "met" / "NOT MET"; with -out,
// bench.json (every raw observation, so any figure can be recomputed) and
// bench.png (median requests/s and p99 per case and system; drawn with
// image/png and a built-in 5x7 font, to keep plotting libraries out of
// go.mod).
//
// Profiles. With -profile DIR it also builds bench/raftkvpprof (raftkv
// with net/http/pprof on a side port, --pprof-addr), starts a 3-node
// cluster of it, and while redis-benchmark drives SET -P 1 and then GET -P 1
// at the leader, takes -profile-seconds CPU profiles of the leader and of a
// follower: DIR/<case>-<role>.pprof and a -top summary next to each.
//
// Results and the profile analysis of the first full run: RESULTS.md.
//
// Limits: servers and redis-benchmark share the machine's cores, so the
// client takes CPU from the servers (equally for all systems); redis-server
// and redis-benchmark must be on PATH; ports are picked free and released
// before the servers bind them, so a rare start failure can be a port race.
package main
