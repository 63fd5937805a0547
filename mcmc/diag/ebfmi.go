package diag

import "math"

// EBFMI returns the energy Bayesian fraction of missing information of one
// chain of Hamiltonian Monte Carlo energies (Betancourt 2016), as Stan
// reports it:
//
//	E-BFMI = Σ_{i=1}^{n−1} (E_i − E_{i−1})² / Σ_{i=0}^{n−1} (E_i − Ē)².
//
// Values below 0.3 suggest that the momentum resampling explores the energy
// distribution poorly. EBFMI returns NaN for fewer than two energies, for
// constant energies and for energies that are not all finite.
func EBFMI(energy []float64) float64 {
	if len(energy) < 2 {
		return math.NaN()
	}
	m := mean(energy)
	var num, den float64
	for i, e := range energy {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return math.NaN()
		}
		d := e - m
		den += d * d
		if i > 0 {
			de := e - energy[i-1]
			num += de * de
		}
	}
	if den == 0 {
		return math.NaN()
	}
	return num / den
}
