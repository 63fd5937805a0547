package main

import (
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/canopy-bffg/canopy/mcmc"
)

// maxAncestralDraws bounds the draws used for the ancestral states; more are thinned.
// maxMixtureCells bounds nodes × traits × draws for exact mixture intervals.
const (
	maxAncestralDraws = 1000
	maxMixtureCells   = 2_000_000
)

// writeAncestral writes ancestral.csv: for every internal node and trait the posterior
// mean, sd and 95% interval of its state. It is Rao-Blackwellised: for each (thinned)
// draw of the parameters the state's conditional law given the data is Gaussian,
// N(m(θ), P(θ)) from the smoother, so the posterior is their mixture; its interval is
// found from the mixture's distribution function ("mixture"), or on large trees taken
// as mean ± 1.96 sd ("normal", in the interval column).
func writeAncestral(c fitConfig, pr *problem, chains []mcmc.Chain) error {
	if pr.flow != nil {
		return writeShapeAncestral(c, pr)
	}
	t, d := pr.ds.tree, pr.ds.d()
	n := t.Len()
	np := pr.pot.NumParams()
	var us [][]float64
	total := 0
	for _, ch := range chains {
		total += ch.Sample.Len()
	}
	stride := 1
	if total > maxAncestralDraws {
		stride = (total + maxAncestralDraws - 1) / maxAncestralDraws
	}
	k := 0
	for _, ch := range chains {
		for i := 0; i < ch.Sample.Len(); i++ {
			if k%stride == 0 {
				us = append(us, ch.Sample.Draw(i)[:np])
			}
			k++
		}
	}
	p := pr.pot.Clone()
	var internal []int
	for v := 0; v < n; v++ {
		if !t.IsLeaf(v) {
			internal = append(internal, v)
		}
	}
	m := len(us)
	// Exact mixture intervals need every draw's (mean, variance) per node; on large
	// trees keep running sums only and report the normal interval mean ± 1.96 sd.
	mixtureOK := len(internal)*d*m <= maxMixtureCells
	var means, vars [][]float64 // [node·d + trait][draw], when mixtureOK
	if mixtureOK {
		means, vars = make([][]float64, len(internal)*d), make([][]float64, len(internal)*d)
		for i := range means {
			means[i], vars[i] = make([]float64, 0, m), make([]float64, 0, m)
		}
	}
	// Running sums about a reference (the first draw's means), so that the variance
	// does not cancel catastrophically.
	sum, sum2, ref := make([]float64, len(internal)*d), make([]float64, len(internal)*d), make([]float64, len(internal)*d)
	used := 0
	mean, cov := make([]float64, n*d), make([]float64, n*d*d)
	q := make([]float64, p.Dim())
	for _, u := range us {
		copy(q, u)
		if p.LogDensity(q) == math.Inf(-1) {
			continue
		}
		if err := p.Filter().Smooth(p.Root, mean, cov); err != nil {
			return err
		}
		used++
		for a, v := range internal {
			for j := 0; j < d; j++ {
				mu, vr := mean[v*d+j], cov[v*d*d+j*d+j]
				if used == 1 {
					ref[a*d+j] = mu
				}
				e := mu - ref[a*d+j]
				sum[a*d+j] += e
				sum2[a*d+j] += vr + e*e
				if mixtureOK {
					means[a*d+j] = append(means[a*d+j], mu)
					vars[a*d+j] = append(vars[a*d+j], vr)
				}
			}
		}
	}
	w, err := createAncestral(c.out)
	if err != nil {
		return err
	}
	names := nodeNames(t)
	for a, v := range internal {
		for j := 0; j < d; j++ {
			var mu, sd, lo, hi float64
			kind := "mixture"
			if mixtureOK {
				mu, sd, lo, hi = mixture(means[a*d+j], vars[a*d+j])
			} else {
				e := sum[a*d+j] / float64(used)
				sd = math.Sqrt(math.Max(sum2[a*d+j]/float64(used)-e*e, 0))
				mu = ref[a*d+j] + e
				lo, hi, kind = mu-1.959963984540054*sd, mu+1.959963984540054*sd, "normal"
			}
			mu, lo, hi = mu+pr.centre[j], lo+pr.centre[j], hi+pr.centre[j]
			w.row(names[v], pr.ds.traits[j], mu, sd, lo, hi, kind)
		}
	}
	return w.close()
}

// ancestralWriter writes the rows of ancestral.csv: node, trait, mean, sd, the 95%
// interval and how it was found.
type ancestralWriter struct {
	f *os.File
	w *csv.Writer
}

func createAncestral(dir string) (*ancestralWriter, error) {
	f, err := os.Create(filepath.Join(dir, "ancestral.csv"))
	if err != nil {
		return nil, err
	}
	w := &ancestralWriter{f: f, w: csv.NewWriter(f)}
	_ = w.w.Write(strings.Split(ancestralHeader, ","))
	return w, nil
}

func (w *ancestralWriter) row(node, trait string, mean, sd, lo, hi float64, interval string) {
	row := []string{node, trait}
	for _, x := range []float64{mean, sd, lo, hi} {
		row = append(row, strconv.FormatFloat(x, 'g', 10, 64))
	}
	_ = w.w.Write(append(row, interval))
}

// close flushes the rows and closes the file, reporting the first error.
func (w *ancestralWriter) close() error {
	w.w.Flush()
	return errors.Join(w.w.Error(), w.f.Close())
}

// mixture returns the mean, sd and 2.5% and 97.5% quantiles of an equal-weight mixture
// of normals N(m_s, v_s).
func mixture(m, v []float64) (mean, sd, lo, hi float64) {
	n := float64(len(m))
	for i := range m {
		mean += m[i] / n
	}
	for i := range m {
		sd += (v[i] + (m[i]-mean)*(m[i]-mean)) / n
	}
	sd = math.Sqrt(sd)
	cdf := func(x float64) float64 {
		s := 0.0
		for i := range m {
			if v[i] <= 0 {
				if x >= m[i] {
					s++
				}
				continue
			}
			s += 0.5 * math.Erfc(-(x-m[i])/math.Sqrt(2*v[i]))
		}
		return s / n
	}
	quant := func(p float64) float64 {
		a, b := mean-10*sd-1e-12, mean+10*sd+1e-12
		for it := 0; it < 60; it++ {
			c := 0.5 * (a + b)
			if cdf(c) < p {
				a = c
			} else {
				b = c
			}
		}
		return 0.5 * (a + b)
	}
	if sd == 0 {
		return mean, 0, mean, mean
	}
	return mean, sd, quant(0.025), quant(0.975)
}
