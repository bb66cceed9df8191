package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// Metric names of an Observation.
const (
	metricRPS         = "rps"           // requests per second (client side)
	metricP99Ms       = "p99_ms"        // 99th percentile latency, ms (client side)
	metricP50Ms       = "p50_ms"        // median latency, ms
	metricCPUPerOpUs  = "cpu_us_op"     // server CPU (user+sys, all processes of the system) per request, µs
	metricRSSDeltaMiB = "rss_delta_mib" // VmRSS after loading the key set minus at start, MiB
	metricRSSPerKeyB  = "rss_b_key"     // that delta per key, bytes
	metricRestartS    = "restart_s"     // process start until PING and GET of a known key answer, s
)

// Observation is one measured figure: the unit of the JSON output, so that
// later tooling can recompute anything the table shows.
type Observation struct {
	Round  int     `json:"round"`
	System string  `json:"system"`
	Case   string  `json:"case"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// Figure names one series of observations (one value per round).
type Figure struct {
	System, Case, Metric string
}

func (f Figure) String() string { return f.System + " " + f.Case + " " + f.Metric }

// Observations is the whole run's raw data.
type Observations []Observation

// values returns the series of f by round (rounds without a value are
// absent from the map).
func (obs Observations) values(f Figure) map[int]float64 {
	m := make(map[int]float64)
	for _, o := range obs {
		if o.System == f.System && o.Case == f.Case && o.Metric == f.Metric {
			m[o.Round] = o.Value
		}
	}
	return m
}

// Spread is a median with the range it came from, over N values.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func spreadOf(vs []float64) Spread {
	if len(vs) == 0 {
		return Spread{} // N == 0 marks it; zeros (not NaN) keep it encodable as JSON
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// format prints "median (min–max)", or just the value when there is one.
func (s Spread) format(prec int) string { return s.formatUnit(prec, "") }

// formatUnit is format with a unit after each number ("0.50x (0.40x–0.60x)").
func (s Spread) formatUnit(prec int, unit string) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf("%.*f%s", prec, s.Median, unit)
	}
	return fmt.Sprintf("%.*f%s (%.*f–%.*f%s)", prec, s.Median, unit, prec, s.Min, prec, s.Max, unit)
}

// Target is one goal of issue 6: Num/Den (or Num alone when Den is the zero
// Figure) compared with Bound.
type Target struct {
	Name    string
	Num     Figure
	Den     Figure // zero: Num is compared with Bound as it is
	AtLeast bool   // true: met when the figure >= Bound; false: when <= Bound
	Bound   float64
	Unit    string // "x" for ratios, else the unit of Num
}

// Verdict is a Target evaluated on a run.
type Verdict struct {
	Target
	Ratio Spread // over rounds that have both figures
	Met   bool
	Known bool // false when a figure is missing (the run did not measure it)
}

// evaluate computes the per-round ratio Num/Den (the two measured in the
// same round, close in time, which is what cancels the machine's noise) and
// judges the median of those ratios.
func (t Target) evaluate(obs Observations) Verdict {
	num := obs.values(t.Num)
	var den map[int]float64
	if t.Den != (Figure{}) {
		den = obs.values(t.Den)
	}
	var ratios []float64
	for round, n := range num {
		if den == nil {
			ratios = append(ratios, n)
			continue
		}
		d, ok := den[round]
		if !ok || d == 0 {
			continue
		}
		ratios = append(ratios, n/d)
	}
	v := Verdict{Target: t, Ratio: spreadOf(ratios)}
	if v.Ratio.N == 0 {
		return v
	}
	v.Known = true
	if t.AtLeast {
		v.Met = v.Ratio.Median >= t.Bound
	} else {
		v.Met = v.Ratio.Median <= t.Bound
	}
	return v
}

// The systems under test.
const (
	sysRedis    = "redis"     // redis-server, no persistence
	sysRedisAOF = "redis-aof" // redis-server, appendfsync always
	sysRaftKV1  = "raftkv-1"  // one raftkv node
	sysRaftKV3  = "raftkv-3"  // three raftkv nodes, clients on the leader
)

// Cases: the redis-benchmark runs, named test-pipeline or test-valuesize.
const (
	caseSetP1   = "SET-P1"
	caseGetP1   = "GET-P1"
	caseSetP16  = "SET-P16"
	caseGetP16  = "GET-P16"
	caseSet1KiB = "SET-1KiB"
	caseGet1KiB = "GET-1KiB"
	caseLoad    = "load"
)

// issue6Targets are the goals of issue 6, in the order the table prints them.
func issue6Targets() []Target {
	rps := func(sys, c string) Figure { return Figure{sys, c, metricRPS} }
	return []Target{
		{Name: "3-node SET -P1 vs aof-always", Num: rps(sysRaftKV3, caseSetP1), Den: rps(sysRedisAOF, caseSetP1), AtLeast: true, Bound: 1.0, Unit: "x"},
		{Name: "3-node SET -P16 vs aof-always", Num: rps(sysRaftKV3, caseSetP16), Den: rps(sysRedisAOF, caseSetP16), AtLeast: true, Bound: 0.5, Unit: "x"},
		{Name: "3-node GET -P1 vs plain", Num: rps(sysRaftKV3, caseGetP1), Den: rps(sysRedis, caseGetP1), AtLeast: true, Bound: 0.9, Unit: "x"},
		{Name: "3-node GET -P16 vs plain", Num: rps(sysRaftKV3, caseGetP16), Den: rps(sysRedis, caseGetP16), AtLeast: true, Bound: 0.7, Unit: "x"},
		{Name: "1-node SET -P1 vs aof-always", Num: rps(sysRaftKV1, caseSetP1), Den: rps(sysRedisAOF, caseSetP1), AtLeast: true, Bound: 1.0, Unit: "x"},
		{Name: "1-node SET -P16 vs aof-always", Num: rps(sysRaftKV1, caseSetP16), Den: rps(sysRedisAOF, caseSetP16), AtLeast: true, Bound: 1.0, Unit: "x"},
		{Name: "3-node CPU/SET -P1 (sum) vs aof-always", Num: Figure{sysRaftKV3, caseSetP1, metricCPUPerOpUs}, Den: Figure{sysRedisAOF, caseSetP1, metricCPUPerOpUs}, AtLeast: false, Bound: 3.0, Unit: "x"},
		{Name: "3-node p99 SET -P1 vs aof-always", Num: Figure{sysRaftKV3, caseSetP1, metricP99Ms}, Den: Figure{sysRedisAOF, caseSetP1, metricP99Ms}, AtLeast: false, Bound: 1.0, Unit: "x"},
		{Name: "1-node RSS for the key set vs redis", Num: Figure{sysRaftKV1, caseLoad, metricRSSDeltaMiB}, Den: Figure{sysRedis, caseLoad, metricRSSDeltaMiB}, AtLeast: false, Bound: 1.0, Unit: "x"},
		{Name: "1-node restart with the key set", Num: Figure{sysRaftKV1, caseLoad, metricRestartS}, AtLeast: false, Bound: 2.0, Unit: "s"},
	}
}

// writeTables prints the medians of every measured figure, then the targets.
func writeTables(w io.Writer, obs Observations, targets []Target) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tcase\trequests/s\tp50 ms\tp99 ms\tserver CPU µs/op")
	for _, sys := range systemsIn(obs) {
		for _, c := range casesIn(obs) {
			get := func(m string) Spread {
				var vs []float64
				for _, v := range obs.values(Figure{sys, c, m}) {
					vs = append(vs, v)
				}
				return spreadOf(vs)
			}
			rps := get(metricRPS)
			if rps.N == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sys, c, rps.format(0), get(metricP50Ms).format(2), get(metricP99Ms).format(2), get(metricCPUPerOpUs).format(1))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "memory and restart\tRSS delta MiB\tRSS B/key\trestart s")
	for _, sys := range systemsIn(obs) {
		rss := obs.values(Figure{sys, caseLoad, metricRSSDeltaMiB})
		if len(rss) == 0 {
			continue
		}
		per := obs.values(Figure{sys, caseLoad, metricRSSPerKeyB})
		restart := "-"
		if r := obs.values(Figure{sys, caseLoad, metricRestartS}); len(r) > 0 {
			restart = spreadOf(mapValues(r)).format(2)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", sys, spreadOf(mapValues(rss)).format(1), spreadOf(mapValues(per)).format(0), restart)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "issue 6 target\tgoal\tmeasured: median (min–max)\tverdict")
	for _, v := range evaluateAll(obs, targets) {
		op := "<="
		if v.AtLeast {
			op = ">="
		}
		verdict := "not measured"
		if v.Known {
			verdict = "NOT MET"
			if v.Met {
				verdict = "met"
			}
		}
		fmt.Fprintf(tw, "%s\t%s %.1f%s\t%s\t%s\n", v.Name, op, v.Bound, v.Unit, v.Ratio.formatUnit(2, v.Unit), verdict)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func evaluateAll(obs Observations, targets []Target) []Verdict {
	out := make([]Verdict, len(targets))
	for i, t := range targets {
		out[i] = t.evaluate(obs)
	}
	return out
}

func mapValues(m map[int]float64) []float64 {
	out := make([]float64, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// systemOrder and caseOrder fix the table's row order; names not listed
// come after, sorted.
var (
	systemOrder = []string{sysRedis, sysRedisAOF, sysRaftKV1, sysRaftKV3}
	caseOrder   = []string{caseSetP1, caseGetP1, caseSetP16, caseGetP16, caseSet1KiB, caseGet1KiB}
)

func systemsIn(obs Observations) []string {
	return orderedNames(obs, systemOrder, func(o Observation) string { return o.System })
}

func casesIn(obs Observations) []string {
	return orderedNames(obs, caseOrder, func(o Observation) string { return o.Case })
}

func orderedNames(obs Observations, order []string, key func(Observation) string) []string {
	seen := make(map[string]bool)
	for _, o := range obs {
		seen[key(o)] = true
	}
	var out []string
	for _, n := range order {
		if seen[n] {
			out = append(out, n)
			delete(seen, n)
		}
	}
	var rest []string
	for n := range seen {
		rest = append(rest, n)
	}
	slices.Sort(rest)
	return append(out, rest...)
}
