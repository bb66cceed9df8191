package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are the callbacks read at scrape time. Any may be nil.
type Sources struct {
	// Gauges returns named gauge values (role, term, commit_index, ...).
	Gauges func() map[string]float64
	// Counters returns named monotonically increasing values.
	Counters func() map[string]float64
	// CommandCounts returns calls per command name.
	CommandCounts func() map[string]uint64
}

// Set is one process's metrics.
type Set struct {
	registry        *prometheus.Registry
	persistSeconds  prometheus.Histogram
	persistEntries  prometheus.Histogram
	proposalSeconds *prometheus.HistogramVec
}

// New registers the process's metrics, labelled with the node id.
func New(nodeID uint64, src Sources) *Set {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"node": fmt.Sprint(nodeID)}
	s := &Set{
		registry: reg,
		persistSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "raftkv_fsync_seconds", Help: "Time to make one batch of log entries and hard state durable (one fsync).",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		persistEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "raftkv_fsync_batch_entries", Help: "Log entries made durable per fsync (group commit).",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		proposalSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "raftkv_commit_seconds", Help: "Time from a proposal's submission to its applied result.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16),
		}, []string{"outcome"}),
	}
	reg.MustRegister(s.persistSeconds, s.persistEntries, s.proposalSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&callbackCollector{src: src, labels: labels})
	return s
}

// ObservePersist implements consensus.NodeObserver.
func (s *Set) ObservePersist(d time.Duration, entries int) {
	s.persistSeconds.Observe(d.Seconds())
	s.persistEntries.Observe(float64(entries))
}

// ObserveProposal implements consensus.NodeObserver.
func (s *Set) ObserveProposal(d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	s.proposalSeconds.WithLabelValues(outcome).Observe(d.Seconds())
}

// Handler serves the metrics in Prometheus's text format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})
}

// Serve serves /metrics on l until ctx ends.
func (s *Set) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}

// callbackCollector turns the Sources into metrics at scrape time.
type callbackCollector struct {
	src    Sources
	labels prometheus.Labels
}

func (c *callbackCollector) Describe(chan<- *prometheus.Desc) {} // unchecked collector: names vary

func (c *callbackCollector) Collect(ch chan<- prometheus.Metric) {
	emit := func(values map[string]float64, kind prometheus.ValueType, help string) {
		for name, v := range values {
			d := prometheus.NewDesc("raftkv_"+name, help, nil, c.labels)
			ch <- prometheus.MustNewConstMetric(d, kind, v)
		}
	}
	if c.src.Gauges != nil {
		emit(c.src.Gauges(), prometheus.GaugeValue, "raftkv live figure")
	}
	if c.src.Counters != nil {
		emit(c.src.Counters(), prometheus.CounterValue, "raftkv counter")
	}
	if c.src.CommandCounts != nil {
		d := prometheus.NewDesc("raftkv_commands_total", "Commands received, by name.", []string{"command"}, c.labels)
		for name, n := range c.src.CommandCounts() {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), name)
		}
	}
}
