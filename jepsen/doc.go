// Package jepsen is raftkv's Jepsen-style verification harness. It has no
// library code: everything lives in its tests, which start real raftkv
// processes, inject real faults and check what clients were told against
// what the cluster did.
//
// # Running
//
//	go test ./jepsen/                      bounded run (~5 scenarios x 20 s); scripts/test runs it
//	go test -v ./jepsen/ -run TestJepsen   the same, printing per-run reports and the summary table
//	go test -v -timeout 0 -run TestJepsen ./jepsen/ -args \
//	    -jepsen.scenarios=all -jepsen.duration=30m    a campaign: repeat every scenario for 30 minutes
//
// Flags (after -args): -jepsen.scenarios (default | all | name,name),
// -jepsen.run (one run's workload time), -jepsen.duration (campaign length),
// -jepsen.seed, -jepsen.out (where failure artefacts go; also $JEPSEN_OUT),
// -jepsen.keep, -jepsen.pace, -jepsen.check-timeout.
package jepsen
