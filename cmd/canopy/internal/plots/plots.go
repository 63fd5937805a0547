// Package plots draws the diagnostic pictures that canopy fit writes for an
// MCMC run: for each parameter a trace plot (one line per chain) and a
// posterior density plot (a Gaussian kernel density estimate of the pooled
// draws, optionally against an exact density computed on a grid).
//
// Plots are built with gonum.org/v1/plot. Trace and Density return a
// *plot.Plot that callers may adjust further; Save writes a plot as both PNG
// and SVG, and TraceDensity writes a trace and a density plot side by side
// into one PNG and one SVG. FileName turns a parameter name such as "log σ²"
// into a file-name-safe base name.
//
// Draws are given as chains[c][i], the i-th draw of chain c. All chains must
// be non-empty, of equal length and finite; violations are reported as
// errors, never panics.
package plots

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Curve is a density known on a grid, such as an exact posterior density,
// drawn by Density as a reference line. X must be increasing and X and Y of
// equal length (at least two points) with finite values; Y should be a
// normalised density so that it is comparable with the kernel estimate.
type Curve struct {
	X, Y []float64
	// Label is the legend entry; "exact" if empty.
	Label string
}

// chainColors are the line colours of successive chains (and of the density
// estimate, which uses the first). They are the Okabe–Ito colour-blind-safe
// palette; chains beyond its length reuse colours cyclically.
var chainColors = []color.Color{
	color.RGBA{R: 0, G: 114, B: 178, A: 255},   // blue
	color.RGBA{R: 213, G: 94, B: 0, A: 255},    // vermillion
	color.RGBA{R: 0, G: 158, B: 115, A: 255},   // bluish green
	color.RGBA{R: 204, G: 121, B: 167, A: 255}, // reddish purple
	color.RGBA{R: 230, G: 159, B: 0, A: 255},   // orange
	color.RGBA{R: 86, G: 180, B: 233, A: 255},  // sky blue
	color.RGBA{R: 240, G: 228, B: 66, A: 255},  // yellow
	color.RGBA{R: 0, G: 0, B: 0, A: 255},       // black
}

// chainColor returns the colour of chain c (0-based).
func chainColor(c int) color.Color { return chainColors[c%len(chainColors)] }

// exactColor is the colour of the exact density line.
var exactColor = color.RGBA{A: 255}

// legendFontSize is the font size of legend entries, a little smaller than
// the default so that legends take less room from the data.
const legendFontSize = 10

// Legends are drawn in the top right corner of the data area. To keep them
// clear of the data, the y axis is extended above the data by
// headroomBase plus headroomPerEntry per legend entry (at most
// maxHeadroomEntries entries counted), as fractions of the data's y range.
const (
	headroomBase       = 0.04
	headroomPerEntry   = 0.06
	maxHeadroomEntries = 8
)

// addHeadroom raises p.Y.Max above the data range [lo, hi] to make room for a
// legend of n entries.
func addHeadroom(p *plot.Plot, lo, hi float64, n int) {
	r := hi - lo
	if !(r > 0) {
		r = math.Max(math.Abs(hi), 1)
	}
	p.Y.Max = hi + r*(headroomBase+headroomPerEntry*float64(min(n, maxHeadroomEntries)))
}

// newPlot returns an empty plot with the title, axis labels and legend
// placement shared by Trace and Density.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(legendFontSize)
	return p
}

// validate checks that chains is a non-empty set of non-empty chains of
// equal length containing only finite values. what names the plot in errors.
func validate(chains [][]float64, name, what string) error {
	if len(chains) == 0 {
		return fmt.Errorf("plots: %s of %q: no chains", what, name)
	}
	n := len(chains[0])
	for c, ch := range chains {
		if len(ch) == 0 {
			return fmt.Errorf("plots: %s of %q: chain %d (chains[%d]) has no draws", what, name, c+1, c)
		}
		if len(ch) != n {
			return fmt.Errorf("plots: %s of %q: chains of unequal length: chains[0] has %d draws, chains[%d] has %d",
				what, name, n, c, len(ch))
		}
	}
	for c, ch := range chains {
		for i, v := range ch {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("plots: %s of %q: chains[%d][%d] (chain %d, iteration %d) is %v",
					what, name, c, i, c+1, i+1, v)
			}
		}
	}
	return nil
}

// Trace returns a trace plot of the draws of parameter name: iteration
// (1-based) on the x axis, value on the y axis, one line per chain in its own
// colour, and a legend "chain 1" … "chain C". It returns an error if there
// are no chains, a chain is empty, chains differ in length or a draw is NaN
// or infinite; the error names the offending chain and draw.
func Trace(chains [][]float64, name string) (*plot.Plot, error) {
	if err := validate(chains, name, "trace"); err != nil {
		return nil, err
	}
	p := newPlot("Trace of "+name, "iteration", name)
	for c, ch := range chains {
		xys := make(plotter.XYs, len(ch))
		for i, v := range ch {
			xys[i] = plotter.XY{X: float64(i + 1), Y: v}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plots: trace of %q: chain %d: %w", name, c+1, err)
		}
		l.Color = chainColor(c)
		l.Width = vg.Points(0.75)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("chain %d", c+1), l)
	}
	addHeadroom(p, p.Y.Min, p.Y.Max, len(chains))
	return p, nil
}

// Density returns a posterior density plot of parameter name: a Gaussian
// kernel density estimate of the draws of all chains pooled, with bandwidth
// by Silverman's rule, evaluated on 256 equally spaced points between the
// 0.1% and 99.9% quantiles of the draws (between their minimum and maximum
// when there are fewer than 1000 draws). If exact is not nil it is drawn as
// a second, dashed line for comparison, labelled exact.Label or "exact".
// The legend shows the bandwidth of the estimate. The y axis starts at 0.
//
// The draws are validated as by Trace; exact must satisfy the requirements
// documented on Curve.
func Density(chains [][]float64, name string, exact *Curve) (*plot.Plot, error) {
	if err := validate(chains, name, "density"); err != nil {
		return nil, err
	}
	if exact != nil {
		if err := exact.validate(); err != nil {
			return nil, fmt.Errorf("plots: density of %q: %w", name, err)
		}
	}
	pooled := make([]float64, 0, len(chains)*len(chains[0]))
	for _, ch := range chains {
		pooled = append(pooled, ch...)
	}
	xs, ys, h := kde(pooled)

	p := newPlot("Posterior density of "+name, name, "density")

	est, err := plotter.NewLine(xyPairs(xs, ys))
	if err != nil {
		return nil, fmt.Errorf("plots: density of %q: %w", name, err)
	}
	est.Color = chainColor(0)
	est.Width = vg.Points(1.5)
	p.Add(est)
	p.Legend.Add(fmt.Sprintf("KDE (bw %.3g)", h), est)
	entries := 1

	if exact != nil {
		ex, err := plotter.NewLine(xyPairs(exact.X, exact.Y))
		if err != nil {
			return nil, fmt.Errorf("plots: density of %q: exact curve: %w", name, err)
		}
		ex.Color = exactColor
		ex.Width = vg.Points(1.25)
		ex.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(ex)
		label := exact.Label
		if label == "" {
			label = "exact"
		}
		p.Legend.Add(label, ex)
		entries++
	}
	p.Y.Min = 0
	addHeadroom(p, 0, p.Y.Max, entries)
	return p, nil
}

// validate checks the requirements documented on Curve.
func (c *Curve) validate() error {
	if len(c.X) != len(c.Y) {
		return fmt.Errorf("exact curve has %d x values but %d y values", len(c.X), len(c.Y))
	}
	if len(c.X) < 2 {
		return fmt.Errorf("exact curve has %d points, need at least 2", len(c.X))
	}
	for i := range c.X {
		if x, y := c.X[i], c.Y[i]; math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			return fmt.Errorf("exact curve point %d (%v, %v) is not finite", i, x, y)
		}
		if i > 0 && !(c.X[i] > c.X[i-1]) {
			return fmt.Errorf("exact curve x values not increasing at index %d", i)
		}
	}
	return nil
}

// xyPairs zips equal-length x and y slices into plotter.XYs.
func xyPairs(x, y []float64) plotter.XYs {
	xys := make(plotter.XYs, len(x))
	for i := range x {
		xys[i] = plotter.XY{X: x[i], Y: y[i]}
	}
	return xys
}

// formats are the image formats written by Save and TraceDensity, as file
// extensions without the dot.
var formats = []string{"png", "svg"}

// Files returns the names of the files that Save and TraceDensity write for base.
func Files(base string) []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = base + "." + f
	}
	return out
}

// Save writes p, sized w × h, to dir/base.png and dir/base.svg, creating dir
// if necessary. PNG images are rendered at 96 dots per inch, so a width of
// 6*vg.Inch gives 576 pixels. base must be a plain file name without a path
// separator; use FileName to derive one from a parameter name.
func Save(p *plot.Plot, dir, base string, w, h vg.Length) error {
	if p == nil {
		return errors.New("plots: Save: nil plot")
	}
	return writeImages(dir, base, w, h, p.Draw)
}

// TraceDensity writes the trace plot (left) and the density plot (right) of
// parameter name side by side, aligned on a 1×2 grid, into dir/base.png and
// dir/base.svg of total size w × h. chains and exact are as for Trace and
// Density; dir and base as for Save.
func TraceDensity(chains [][]float64, name string, exact *Curve, dir, base string, w, h vg.Length) error {
	tr, err := Trace(chains, name)
	if err != nil {
		return err
	}
	de, err := Density(chains, name, exact)
	if err != nil {
		return err
	}
	grid := [][]*plot.Plot{{tr, de}}
	tiles := draw.Tiles{
		Rows: 1, Cols: 2,
		PadX:   vg.Millimeter * 4,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter,
		PadLeft: vg.Millimeter, PadRight: vg.Millimeter,
	}
	return writeImages(dir, base, w, h, func(dc draw.Canvas) {
		canvases := plot.Align(grid, tiles, dc)
		for i, p := range grid[0] {
			p.Draw(canvases[0][i])
		}
	})
}

// writeImages renders paint onto a w × h canvas once per format and writes
// the results to dir/base.<format>.
func writeImages(dir, base string, w, h vg.Length, paint func(draw.Canvas)) error {
	if base == "" || base == "." || base == ".." || strings.ContainsAny(base, `/\`) {
		return fmt.Errorf("plots: invalid file base name %q", base)
	}
	if !(w > 0 && h > 0) {
		return fmt.Errorf("plots: invalid image size %v × %v", w, h)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	for _, format := range formats {
		c, err := draw.NewFormattedCanvas(w, h, format)
		if err != nil {
			return fmt.Errorf("plots: %w", err)
		}
		paint(draw.New(c))
		if err := writeFile(filepath.Join(dir, base+"."+format), c); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes the rendered canvas c to path, reporting close errors.
func writeFile(path string, c io.WriterTo) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("plots: %w", cerr)
		}
	}()
	if _, err := c.WriteTo(f); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	return nil
}
