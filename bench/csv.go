package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// csvRowsMax bounds how many result rows one redis-benchmark run may print;
// the runs here ask for at most two tests, so anything near this is garbage.
const csvRowsMax = 64

// Result is one test row of `redis-benchmark --csv` (redis-benchmark 7):
// throughput and the client-side latency distribution in milliseconds.
type Result struct {
	Test  string  `json:"test"`
	RPS   float64 `json:"rps"`
	AvgMs float64 `json:"avg_ms"`
	MinMs float64 `json:"min_ms"`
	P50Ms float64 `json:"p50_ms"`
	P95Ms float64 `json:"p95_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// errNoRows says redis-benchmark printed a header but no result, which is
// what it does when every request failed or the server went away.
var errNoRows = errors.New("redis-benchmark csv: no result rows")

// parseBenchmarkCSV reads the --csv output of redis-benchmark 7:
//
//	"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
//	"SET","400000.00","1.686","0.480","1.599","2.663","3.807","4.119"
//
// Columns are found by name, so a reordering does not misread figures; the
// test name and rps are required, the latency columns are optional (older
// redis-benchmark prints only test and rps) and read as 0 when absent.
func parseBenchmarkCSV(r io.Reader) ([]Result, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below with a better message
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("redis-benchmark csv: empty output: %w", errNoRows)
		}
		return nil, fmt.Errorf("redis-benchmark csv: header: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, name := range header {
		col[strings.TrimSpace(name)] = i
	}
	testCol, okTest := col["test"]
	rpsCol, okRPS := col["rps"]
	if !okTest || !okRPS {
		return nil, fmt.Errorf("redis-benchmark csv: header %q lacks \"test\" or \"rps\"", strings.Join(header, ","))
	}
	width := len(header)
	latency := []struct {
		name string
		dst  func(*Result) *float64
	}{
		{"avg_latency_ms", func(r *Result) *float64 { return &r.AvgMs }},
		{"min_latency_ms", func(r *Result) *float64 { return &r.MinMs }},
		{"p50_latency_ms", func(r *Result) *float64 { return &r.P50Ms }},
		{"p95_latency_ms", func(r *Result) *float64 { return &r.P95Ms }},
		{"p99_latency_ms", func(r *Result) *float64 { return &r.P99Ms }},
		{"max_latency_ms", func(r *Result) *float64 { return &r.MaxMs }},
	}
	var out []Result
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("redis-benchmark csv: line %d: %w", line, err)
		}
		if len(rec) != width {
			return nil, fmt.Errorf("redis-benchmark csv: line %d: %d fields, header has %d", line, len(rec), width)
		}
		if len(out) == csvRowsMax {
			return nil, fmt.Errorf("redis-benchmark csv: more than %d rows", csvRowsMax)
		}
		res := Result{Test: strings.Clone(rec[testCol])}
		if res.Test == "" {
			return nil, fmt.Errorf("redis-benchmark csv: line %d: empty test name", line)
		}
		if res.RPS, err = parseFigure(rec[rpsCol]); err != nil {
			return nil, fmt.Errorf("redis-benchmark csv: line %d: rps: %w", line, err)
		}
		for _, l := range latency {
			i, ok := col[l.name]
			if !ok {
				continue
			}
			if *l.dst(&res), err = parseFigure(rec[i]); err != nil {
				return nil, fmt.Errorf("redis-benchmark csv: line %d: %s: %w", line, l.name, err)
			}
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return nil, errNoRows
	}
	return out, nil
}

// parseFigure reads one non-negative, finite number.
func parseFigure(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number %q", s)
	}
	if v < 0 || v != v || v > 1e15 {
		return 0, fmt.Errorf("out of range %q", s)
	}
	return v, nil
}
