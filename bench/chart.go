package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"unicode"
)

// Chart geometry, in pixels.
const (
	chartWidthPx    = 1100
	panelHeightPx   = 300
	chartMarginPx   = 60
	legendHeightPx  = 30
	barGapPx        = 2
	groupGapPx      = 18
	fontScale       = 2 // glyphs are drawn 2x: 10x14 pixels
	maxChartSystems = 8
)

// systemColors are the bar colours, by position in systemOrder.
var systemColors = []color.RGBA{
	{0xd6, 0x27, 0x28, 0xff}, // redis: red
	{0xff, 0x7f, 0x0e, 0xff}, // redis-aof: orange
	{0x1f, 0x77, 0xb4, 0xff}, // raftkv-1: blue
	{0x2c, 0xa0, 0x2c, 0xff}, // raftkv-3: green
	{0x94, 0x67, 0xbd, 0xff},
	{0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff},
	{0x7f, 0x7f, 0x7f, 0xff},
}

// drawChart writes a PNG of two panels of grouped bars, one group per
// case and one bar per system: median requests/s on top, median p99 below.
func drawChart(w io.Writer, obs Observations) error {
	systems := systemsIn(obs)
	var cases []string
	for _, c := range casesIn(obs) {
		if c != caseLoad {
			cases = append(cases, c)
		}
	}
	if len(systems) > maxChartSystems {
		systems = systems[:maxChartSystems]
	}
	height := 2*panelHeightPx + 3*chartMarginPx + legendHeightPx
	img := image.NewRGBA(image.Rect(0, 0, chartWidthPx, height))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
	median := func(sys, c, metric string) float64 {
		s := spreadOf(mapValues(obs.values(Figure{sys, c, metric})))
		if s.N == 0 {
			return math.NaN() // no bar, as opposed to a bar of height 0
		}
		return s.Median
	}
	top := chartMarginPx + legendHeightPx
	drawPanel(img, image.Rect(chartMarginPx, top, chartWidthPx-chartMarginPx/2, top+panelHeightPx), "REQUESTS/S (MEDIAN)", systems, cases,
		func(sys, c string) float64 { return median(sys, c, metricRPS) })
	top += panelHeightPx + chartMarginPx
	drawPanel(img, image.Rect(chartMarginPx, top, chartWidthPx-chartMarginPx/2, top+panelHeightPx), "P99 LATENCY MS (MEDIAN)", systems, cases,
		func(sys, c string) float64 { return median(sys, c, metricP99Ms) })
	// Legend.
	x := chartMarginPx
	for i, sys := range systems {
		fill(img, image.Rect(x, chartMarginPx/2, x+16, chartMarginPx/2+16), systemColors[i])
		x += 22
		x = drawText(img, x, chartMarginPx/2+1, sys, color.RGBA{0, 0, 0, 0xff}) + 24
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode bench.png: %w", err)
	}
	return nil
}

func drawPanel(img *image.RGBA, r image.Rectangle, title string, systems, cases []string, value func(sys, c string) float64) {
	black := color.RGBA{0, 0, 0, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	drawText(img, r.Min.X, r.Min.Y-glyphHeightPx*fontScale-6, title, black)
	maxV := 0.0
	for _, s := range systems {
		for _, c := range cases {
			if v := value(s, c); !math.IsNaN(v) && v > maxV {
				maxV = v
			}
		}
	}
	if maxV == 0 || len(cases) == 0 {
		return
	}
	plotBottom := r.Max.Y - glyphHeightPx*fontScale - 8 // room for case names
	plotHeight := plotBottom - r.Min.Y
	for q := 0; q <= 4; q++ { // grid lines at quarters of the maximum
		y := plotBottom - plotHeight*q/4
		fill(img, image.Rect(r.Min.X, y, r.Max.X, y+1), grey)
	}
	drawText(img, 2, r.Min.Y, shortNumber(maxV), black)
	groupWidth := (r.Dx() - groupGapPx*len(cases)) / len(cases)
	barWidth := max(1, (groupWidth-barGapPx*len(systems))/max(1, len(systems)))
	for ci, c := range cases {
		gx := r.Min.X + ci*(groupWidth+groupGapPx)
		for si, s := range systems {
			v := value(s, c)
			if math.IsNaN(v) {
				continue
			}
			h := int(float64(plotHeight) * v / maxV)
			x := gx + si*(barWidth+barGapPx)
			fill(img, image.Rect(x, plotBottom-h, x+barWidth, plotBottom), systemColors[si])
		}
		drawText(img, gx, plotBottom+6, c, black)
	}
	fill(img, image.Rect(r.Min.X, plotBottom, r.Max.X, plotBottom+1), black)
}

// shortNumber prints 123456 as 123K, 3.25 as 3.25.
func shortNumber(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fK", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// drawText draws s at (x, y) (top left) and returns the x after it.
// Characters without a glyph are drawn as spaces.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) int {
	for _, ch := range strings.ToUpper(s) {
		g, ok := glyphs[unicode.ToUpper(ch)]
		if ok {
			for row, bits := range strings.Split(g, "|") {
				for col := range min(len(bits), glyphWidthPx) {
					if bits[col] == '#' {
						px, py := x+col*fontScale, y+row*fontScale
						fill(img, image.Rect(px, py, px+fontScale, py+fontScale), c)
					}
				}
			}
		}
		x += glyphAdvance * fontScale
	}
	return x
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}
