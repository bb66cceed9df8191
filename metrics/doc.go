// Package metrics exports a raftkv node's figures to Prometheus on an HTTP
// address (/metrics).
//
// It owns one prometheus.Registry per process (never the global default
// registry: tests start several nodes in one process). Live figures that the
// node and the RESP server already count (role, term, indexes, commands,
// clients, keys) are read at scrape time through callbacks, so the hot paths
// pay nothing for them; only timings that need a distribution (fsync and
// commit latency) are observed into histograms as they happen, through the
// consensus.NodeObserver interface.
package metrics
