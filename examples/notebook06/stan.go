package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
)

// StanComparison sets canopy's bulk ESS per second against one Stan anchor run.
type StanComparison struct {
	Model          string  `json:"model"` // nb06 (collapsed) or nb06_latent
	Mode           string  `json:"mode"`
	StanSeconds    float64 `json:"stan_seconds"`
	StanMinESS     float64 `json:"stan_min_ess_bulk"`
	StanESSPerSec  float64 `json:"stan_ess_per_second"`
	StanDivergent  int     `json:"stan_divergences"`
	OursSeconds    float64 `json:"canopy_seconds"`
	OursMinESS     float64 `json:"canopy_min_ess_bulk"`
	OursESSPerSec  float64 `json:"canopy_ess_per_second"`
	OursDivergent  int     `json:"canopy_divergences"`
	RatioESSPerSec float64 `json:"ratio"`
}

// compareStan reads stan_runs.csv and compares each run with r. For the collapsed model
// the statistic is min bulk ESS of (log σ², log τ²) over wall seconds; for the latent
// model, whose Stan minimum runs over every node state too, canopy's minimum includes the
// internal node states and its time includes mapping the draws to them.
func compareStan(path string, r *Report) ([]StanComparison, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no runs", path)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"model", "mode", "wall_s", "ess_bulk_log_sigma_sq", "ess_bulk_log_tau_sq", "divergences"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("%s: no column %q", path, name)
		}
	}
	ours := r.Report
	collapsed := math.Min(ours.ESSBulk[0], ours.ESSBulk[1])
	latent := collapsed
	for _, a := range ours.Ancestral {
		latent = math.Min(latent, a.ESSBulk)
	}
	var out []StanComparison
	for line, row := range rows[1:] {
		num := func(name string) (float64, error) {
			v, err := strconv.ParseFloat(row[col[name]], 64)
			if err != nil {
				return 0, fmt.Errorf("%s:%d: column %s: %w", path, line+2, name, err)
			}
			return v, nil
		}
		c := StanComparison{Model: row[col["model"]], Mode: row[col["mode"]], OursDivergent: ours.Divergences}
		var e1, e2, div float64
		if c.StanSeconds, err = num("wall_s"); err != nil {
			return nil, err
		}
		if e1, err = num("ess_bulk_log_sigma_sq"); err != nil {
			return nil, err
		}
		if e2, err = num("ess_bulk_log_tau_sq"); err != nil {
			return nil, err
		}
		if div, err = num("divergences"); err != nil {
			return nil, err
		}
		c.StanMinESS, c.StanDivergent = math.Min(e1, e2), int(div)
		c.OursSeconds, c.OursMinESS = ours.Seconds, collapsed
		if c.Model == "nb06_latent" {
			c.OursSeconds += ours.AncestralSeconds
			c.OursMinESS = latent
		}
		c.StanESSPerSec = c.StanMinESS / c.StanSeconds
		c.OursESSPerSec = c.OursMinESS / c.OursSeconds
		c.RatioESSPerSec = c.OursESSPerSec / c.StanESSPerSec
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b StanComparison) int {
		if a.Model < b.Model {
			return -1
		}
		if a.Model > b.Model {
			return 1
		}
		return 0
	})
	return out, nil
}

func printStan(w io.Writer, cs []StanComparison) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%-12s %-5s %10s %10s %6s | %10s %10s %6s | %7s\n", "Stan model", "mode", "Stan s", "ESS/s", "div", "canopy s", "ESS/s", "div", "ratio")
	for _, c := range cs {
		fmt.Fprintf(w, "%-12s %-5s %10.2f %10.0f %6d | %10.3f %10.0f %6d | %6.1f×\n", c.Model, c.Mode,
			c.StanSeconds, c.StanESSPerSec, c.StanDivergent, c.OursSeconds, c.OursESSPerSec, c.OursDivergent, c.RatioESSPerSec)
	}
}
