package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestScrapeShowsSourcesAndHistograms(t *testing.T) {
	s := New(3, Sources{
		Gauges:        func() map[string]float64 { return map[string]float64{"term": 7, "role": 2} },
		Counters:      func() map[string]float64 { return map[string]float64{"proposals_total": 42} },
		CommandCounts: func() map[string]uint64 { return map[string]uint64{"get": 5} },
	})
	s.ObservePersist(2*time.Millisecond, 16)
	s.ObserveProposal(3*time.Millisecond, nil)
	s.ObserveProposal(time.Second, errors.New("x"))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`raftkv_term{node="3"} 7`,
		`raftkv_proposals_total{node="3"} 42`,
		`raftkv_commands_total{command="get",node="3"} 5`,
		`raftkv_fsync_seconds_count{node="3"} 1`,
		`raftkv_fsync_batch_entries_sum{node="3"} 16`,
		`raftkv_commit_seconds_count{node="3",outcome="error"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
