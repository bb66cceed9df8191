package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"strings"
	"testing"
)

func TestParseBenchmarkCSV(t *testing.T) {
	const header = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n"
	tests := []struct {
		name    string
		in      string
		want    []Result
		wantErr string
	}{
		{
			name: "redis-benchmark 7 two tests",
			in: header + `"SET","400000.00","1.686","0.480","1.599","2.663","3.807","4.119"` + "\n" +
				`"GET","434782.59","1.464","0.528","1.255","2.863","3.455","3.807"` + "\n",
			want: []Result{
				{Test: "SET", RPS: 400000, AvgMs: 1.686, MinMs: 0.48, P50Ms: 1.599, P95Ms: 2.663, P99Ms: 3.807, MaxMs: 4.119},
				{Test: "GET", RPS: 434782.59, AvgMs: 1.464, MinMs: 0.528, P50Ms: 1.255, P95Ms: 2.863, P99Ms: 3.455, MaxMs: 3.807},
			},
		},
		{
			name: "columns found by name, not position",
			in:   `"p99_latency_ms","test","rps"` + "\n" + `"9.5","SET","1000"` + "\n",
			want: []Result{{Test: "SET", RPS: 1000, P99Ms: 9.5}},
		},
		{
			name: "old format without latency",
			in:   `"test","rps"` + "\n" + `"PING_INLINE","123.5"` + "\n",
			want: []Result{{Test: "PING_INLINE", RPS: 123.5}},
		},
		{name: "empty", in: "", wantErr: "empty output"},
		{name: "header only", in: header, wantErr: "no result rows"},
		{name: "no rps column", in: `"test","qps"` + "\n" + `"SET","1"` + "\n", wantErr: `lacks "test" or "rps"`},
		{name: "short row", in: header + `"SET","1"` + "\n", wantErr: "line 2: 2 fields, header has 8"},
		{name: "rps not a number", in: `"test","rps"` + "\n" + `"SET","fast"` + "\n", wantErr: `line 2: rps: not a number "fast"`},
		{name: "negative latency", in: `"test","rps","p99_latency_ms"` + "\n" + `"SET","1","-3"` + "\n", wantErr: "p99_latency_ms: out of range"},
		{name: "NaN rps", in: `"test","rps"` + "\n" + `"SET","NaN"` + "\n", wantErr: "out of range"},
		{name: "empty test name", in: `"test","rps"` + "\n" + `"","5"` + "\n", wantErr: "empty test name"},
		{name: "bad quoting", in: `"test","rps"` + "\n" + `"SET,"5"` + "\n", wantErr: "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBenchmarkCSV(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseBenchmarkCSVNoRowsIsSentinel(t *testing.T) {
	_, err := parseBenchmarkCSV(strings.NewReader(`"test","rps"` + "\n"))
	if !errors.Is(err, errNoRows) {
		t.Fatalf("err = %v, want errNoRows", err)
	}
}

func TestParseBenchmarkCSVRowBound(t *testing.T) {
	var b strings.Builder
	b.WriteString(`"test","rps"` + "\n")
	for range csvRowsMax + 1 {
		b.WriteString(`"SET","1"` + "\n")
	}
	if _, err := parseBenchmarkCSV(strings.NewReader(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v, want the row bound", err)
	}
}

func FuzzParseBenchmarkCSV(f *testing.F) {
	f.Add(`"test","rps","p99_latency_ms"` + "\n" + `"SET","1","2"` + "\n")
	f.Add(`"test","rps"` + "\n" + `"GET","1e3"` + "\n")
	f.Add("\"\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := parseBenchmarkCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(rows) == 0 || len(rows) > csvRowsMax {
			t.Fatalf("%d rows without an error", len(rows))
		}
		for _, r := range rows {
			if r.Test == "" || r.RPS < 0 || math.IsNaN(r.RPS) || r.P99Ms < 0 {
				t.Fatalf("accepted a bad row %+v", r)
			}
		}
	})
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr string
	}{
		{
			name: "plain",
			in:   "1234 (redis-server) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 5 0 100 1000000 2000 18446744073709551615\n",
			want: 325,
		},
		{
			name: "command with spaces and parens",
			in:   "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 1 1 1\n",
			want: 15,
		},
		{name: "no paren", in: "77 raftkv R 1", wantErr: "no ')'"},
		{name: "truncated", in: "77 (x) R 1 2 3", wantErr: "fields after the command name"},
		{name: "utime not a number", in: "77 (x) R 1 77 77 0 -1 0 0 0 0 0 x 8 0", wantErr: "utime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr string
	}{
		{name: "status file", in: "Name:\traftkv\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n", want: 12345 << 10},
		{name: "missing", in: "Name:\tkthreadd\nState:\tS\n", wantErr: "no VmRSS"},
		{name: "wrong unit", in: "VmRSS:\t12 MB\n", wantErr: `want "<n> kB"`},
		{name: "not a number", in: "VmRSS:\t1x kB\n", wantErr: "not a size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		in   []float64
		want Spread
	}{
		{in: []float64{3, 1, 2}, want: Spread{Median: 2, Min: 1, Max: 3, N: 3}},
		{in: []float64{4, 1, 2, 10}, want: Spread{Median: 3, Min: 1, Max: 10, N: 4}},
		{in: []float64{5}, want: Spread{Median: 5, Min: 5, Max: 5, N: 1}},
	}
	for _, tc := range tests {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if s := spreadOf(nil); s != (Spread{}) {
		t.Errorf("spreadOf(nil) = %+v, want the zero Spread", s)
	}
}

func TestTargetEvaluate(t *testing.T) {
	num := Figure{sysRaftKV3, caseSetP1, metricRPS}
	den := Figure{sysRedisAOF, caseSetP1, metricRPS}
	o := func(round int, f Figure, v float64) Observation {
		return Observation{Round: round, System: f.System, Case: f.Case, Metric: f.Metric, Value: v}
	}
	tests := []struct {
		name      string
		target    Target
		obs       []Observation
		wantRatio Spread
		wantMet   bool
		wantKnown bool
	}{
		{
			name:   "ratios per round, median judged",
			target: Target{Num: num, Den: den, AtLeast: true, Bound: 1.0},
			// Round ratios 2.0, 0.5, 1.5: the median 1.5 meets >= 1.0. The
			// ratio of medians (1000/1000 = 1.0) would be a different figure.
			obs:       []Observation{o(0, num, 2000), o(0, den, 1000), o(1, num, 500), o(1, den, 1000), o(2, num, 1500), o(2, den, 1000)},
			wantRatio: Spread{Median: 1.5, Min: 0.5, Max: 2.0, N: 3},
			wantMet:   true, wantKnown: true,
		},
		{
			name:      "at least, below",
			target:    Target{Num: num, Den: den, AtLeast: true, Bound: 1.0},
			obs:       []Observation{o(0, num, 900), o(0, den, 1000)},
			wantRatio: Spread{Median: 0.9, Min: 0.9, Max: 0.9, N: 1},
			wantMet:   false, wantKnown: true,
		},
		{
			name:      "at most, equal is met",
			target:    Target{Num: num, Den: den, AtLeast: false, Bound: 3.0},
			obs:       []Observation{o(0, num, 300), o(0, den, 100)},
			wantRatio: Spread{Median: 3, Min: 3, Max: 3, N: 1},
			wantMet:   true, wantKnown: true,
		},
		{
			name:      "absolute bound without denominator",
			target:    Target{Num: num, AtLeast: false, Bound: 2.0},
			obs:       []Observation{o(0, num, 2.5), o(1, num, 1.5), o(2, num, 1.9)},
			wantRatio: Spread{Median: 1.9, Min: 1.5, Max: 2.5, N: 3},
			wantMet:   true, wantKnown: true,
		},
		{
			name:      "rounds missing one side and zero denominators are skipped",
			target:    Target{Num: num, Den: den, AtLeast: true, Bound: 1.0},
			obs:       []Observation{o(0, num, 100), o(1, den, 100), o(2, num, 100), o(2, den, 0)},
			wantRatio: spreadOf(nil),
			wantKnown: false,
		},
		{
			name:      "other systems and metrics do not leak in",
			target:    Target{Num: num, Den: den, AtLeast: true, Bound: 1.0},
			obs:       []Observation{o(0, num, 100), o(0, den, 200), o(0, Figure{sysRaftKV1, caseSetP1, metricRPS}, 1e6), o(0, Figure{sysRaftKV3, caseSetP1, metricP99Ms}, 1e6)},
			wantRatio: Spread{Median: 0.5, Min: 0.5, Max: 0.5, N: 1},
			wantMet:   false, wantKnown: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.target.evaluate(Observations(tc.obs))
			if v.Known != tc.wantKnown || v.Met != tc.wantMet {
				t.Fatalf("known=%v met=%v, want known=%v met=%v (ratio %+v)", v.Known, v.Met, tc.wantKnown, tc.wantMet, v.Ratio)
			}
			if !sameSpread(v.Ratio, tc.wantRatio) {
				t.Fatalf("ratio = %+v, want %+v", v.Ratio, tc.wantRatio)
			}
		})
	}
}

func sameSpread(a, b Spread) bool {
	eq := func(x, y float64) bool { return (math.IsNaN(x) && math.IsNaN(y)) || math.Abs(x-y) < 1e-9 }
	return a.N == b.N && eq(a.Median, b.Median) && eq(a.Min, b.Min) && eq(a.Max, b.Max)
}

func TestIssue6TargetsAreWellFormed(t *testing.T) {
	targets := issue6Targets()
	if len(targets) != 10 {
		t.Fatalf("%d targets, issue 6 lists 10", len(targets))
	}
	names := map[string]bool{}
	for _, tg := range targets {
		if names[tg.Name] {
			t.Errorf("duplicate target %q", tg.Name)
		}
		names[tg.Name] = true
		if tg.Bound <= 0 || tg.Num.System == "" {
			t.Errorf("target %q: bound %v, num %v", tg.Name, tg.Bound, tg.Num)
		}
		if (tg.Den == Figure{}) != (tg.Unit != "x") {
			t.Errorf("target %q: unit %q does not match having a denominator", tg.Name, tg.Unit)
		}
	}
}

func TestWriteTablesMarksVerdicts(t *testing.T) {
	obs := Observations{
		{Round: 0, System: sysRaftKV3, Case: caseSetP1, Metric: metricRPS, Value: 500},
		{Round: 0, System: sysRedisAOF, Case: caseSetP1, Metric: metricRPS, Value: 1000},
		{Round: 0, System: sysRaftKV3, Case: caseGetP1, Metric: metricRPS, Value: 950},
		{Round: 0, System: sysRedis, Case: caseGetP1, Metric: metricRPS, Value: 1000},
	}
	var b bytes.Buffer
	if err := writeTables(&b, obs, issue6Targets()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"3-node SET -P1 vs aof-always            >= 1.0x  0.50x",
		"3-node GET -P1 vs plain",
		"not measured",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	verdictOf := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				f := strings.Fields(l)
				return strings.Join(f[len(f)-2:], " ")
			}
		}
		return ""
	}
	if v := verdictOf("3-node SET -P1 vs aof-always"); !strings.HasSuffix(v, "NOT MET") {
		t.Errorf("SET -P1 verdict %q, want NOT MET", v)
	}
	if v := verdictOf("3-node GET -P1 vs plain"); !strings.HasSuffix(v, " met") {
		t.Errorf("GET -P1 verdict %q, want met", v)
	}
}

func TestDrawChartIsAPNG(t *testing.T) {
	obs := Observations{
		{System: sysRedis, Case: caseSetP1, Metric: metricRPS, Value: 100000},
		{System: sysRaftKV3, Case: caseSetP1, Metric: metricRPS, Value: 20000},
		{System: sysRedis, Case: caseSetP1, Metric: metricP99Ms, Value: 1.5},
	}
	var b bytes.Buffer
	if err := drawChart(&b, obs); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if img.Bounds().Dx() != chartWidthPx {
		t.Fatalf("width %d, want %d", img.Bounds().Dx(), chartWidthPx)
	}
	// The redis bar (first colour) must be drawn somewhere.
	found := false
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y && !found; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := systemColors[0]
			if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
				found = true
				break
			}
		}
	}
	if !found {
		t.Fatal("no bar in the redis colour")
	}
}

func TestGlyphsAreWellFormed(t *testing.T) {
	for r, g := range glyphs {
		rows := strings.Split(g, "|")
		if len(rows) != glyphHeightPx {
			t.Errorf("glyph %q: %d rows", r, len(rows))
		}
		for _, row := range rows {
			if len(row) != glyphWidthPx || strings.Trim(row, ".#") != "" {
				t.Errorf("glyph %q: bad row %q", r, row)
			}
		}
	}
}

func TestKeyAndValueShapes(t *testing.T) {
	tests := []struct {
		i, valueBytes int
		key, value    string
	}{
		{0, 32, "key:000000000000", "v0000000000000000000000000000000"},
		{999999, 16, "key:000000999999", "v000000000999999"},
	}
	for _, tc := range tests {
		if k := keyName(tc.i); k != tc.key || len(k) != 16 {
			t.Errorf("keyName(%d) = %q, want %q (16 bytes)", tc.i, k, tc.key)
		}
		if v := valueOf(tc.i, tc.valueBytes); v != tc.value || len(v) != tc.valueBytes {
			t.Errorf("valueOf(%d, %d) = %q, want %q", tc.i, tc.valueBytes, v, tc.value)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	good := options{rounds: 3, requests: 100000, loadKeys: 1000000, profileSeconds: 10}
	tests := []struct {
		name   string
		change func(*options)
		ok     bool
	}{
		{"defaults", func(*options) {}, true},
		{"zero rounds", func(o *options) { o.rounds = 0 }, false},
		{"huge n", func(o *options) { o.requests = requestsMax + 1 }, false},
		{"few keys", func(o *options) { o.loadKeys = 10 }, false},
		{"long profile", func(o *options) { o.profileSeconds = profileSecMax + 1 }, false},
	}
	for _, tc := range tests {
		o := good
		tc.change(&o)
		if err := o.validate(); (err == nil) != tc.ok {
			t.Errorf("%s: validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestBenchCaseArgs(t *testing.T) {
	c := benchCases(1000)
	if len(c) != 5 || c[2].pipeline != 16 || c[2].requests != 4000 || c[4].valueBytes != 1024 {
		t.Fatalf("unexpected cases %+v", c)
	}
	args := strings.Join(c[0].args(&process{port: 7001}), " ")
	want := "-h 127.0.0.1 -p 7001 -c 50 -r 100000 -n 1000 -P 1 -d 16 -t set --csv"
	if args != want {
		t.Fatalf("args = %q, want %q", args, want)
	}
}

func TestVerdictsEncodeWhenNothingWasMeasured(t *testing.T) {
	// A run with -skip-memory leaves targets without figures; bench.json
	// must still be written.
	b, err := json.Marshal(evaluateAll(nil, issue6Targets()))
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	if !strings.Contains(string(b), `"Known":false`) {
		t.Fatalf("verdicts lack Known=false: %s", b)
	}
}

func TestRSSSteady(t *testing.T) {
	cases := []struct {
		name          string
		before, after []int64
		want          bool
	}{
		{"unchanged", []int64{100 << 20, 50 << 20}, []int64{100 << 20, 50 << 20}, true},
		{"within a MiB", []int64{100 << 20}, []int64{100<<20 + settleRSSBytes}, true},
		{"grew", []int64{100 << 20}, []int64{100<<20 + settleRSSBytes + 1}, false},
		{"shrank (memory returned)", []int64{200 << 20}, []int64{140 << 20}, false},
		{"one of three moved", []int64{1, 1 << 30, 1}, []int64{1, 1<<30 - 2*settleRSSBytes, 1}, false},
	}
	for _, tc := range cases {
		if got := rssSteady(tc.before, tc.after); got != tc.want {
			t.Errorf("%s: rssSteady = %v, want %v", tc.name, got, tc.want)
		}
	}
}
