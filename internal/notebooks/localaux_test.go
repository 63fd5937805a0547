package notebooks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// On notebook 07's data at the truth (20 exact steps per edge on the time-changed
// grid), the auxiliary linearised at every step (bffg.FlowFilter.LocalAux) makes
// Σ log w vary far less over draws of z than the anchors' auxiliary: its standard
// deviation falls more than fourfold (197 to 23 here, the mean from −460 to −92).
func TestNB07LocalAuxSpread(t *testing.T) {
	if testing.Short() {
		t.Skip("notebook 07")
	}
	nb, err := Notebook07()
	require.NoError(t, err)
	var sd [2]float64
	for i, local := range []bool{false, true} {
		p, err := nb07Target(nb, RunConfig{Steps: 20, ExactSteps: true, LocalAux: local})
		require.NoError(t, err)
		f := p.Filter
		require.NoError(t, f.Run(nb07Flow(NB07KAlpha, NB07KSigma), NB07Tau2))
		rng := rand.New(rand.NewPCG(1, 2))
		z := make([]float64, f.NumNoise())
		var s, s2 float64
		const draws = 200
		for k := 0; k < draws; k++ {
			for i := range z {
				z[i] = rng.NormFloat64()
			}
			lw, err := f.Guide(z)
			require.NoError(t, err)
			s += lw
			s2 += lw * lw
		}
		m := s / draws
		sd[i] = math.Sqrt(s2/draws - m*m)
		t.Logf("LocalAux %v: Σ log w mean %.1f, sd %.1f", local, m, sd[i])
	}
	require.Less(t, 4*sd[1], sd[0])
}
