package notebooks

import (
	"context"
	"math"
	"testing"

	"github.com/canopy-bffg/canopy/bffg"
)

// BenchmarkNUTS times notebook 06's full NUTS run (4 chains × (1000 + 4000)).
func BenchmarkNUTS(b *testing.B) {
	nb := Notebook05()
	for b.Loop() {
		if _, err := NUTS(context.Background(), nb, RunConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRWPCN times notebook 05's full RW/pCN run (4 chains × (1000 + 8000)).
func BenchmarkRWPCN(b *testing.B) {
	nb := Notebook05()
	for b.Loop() {
		if _, err := RWPCN(context.Background(), nb, RunConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotebook07U times one evaluation of notebook 07's target in the notebook's
// setting (D = 32, 13 nodes, 100 steps per edge): the SDE filter with the last anchors
// plus the guided pass — what one RW/pCN proposal costs (hyperiax: about 30 ms per
// iteration, two evaluations, in float32 on a laptop CPU).
func BenchmarkNotebook07U(b *testing.B) {
	nb, err := Notebook07()
	if err != nil {
		b.Fatal(err)
	}
	z := NB07CheckNoise()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nb.Guided(NB07KAlpha, NB07KSigma, z); err != nil {
			b.Fatal(err)
		}
	}
}

// nb07Bench says what benchNB07Potential times: U or U + ∇U, with exact steps, the
// local auxiliary, or the mean-reverting flow (bffg.MeanReverting, λ = 1, sampled) with
// Euler or exponential steps.
type nb07Bench struct{ grad, exact, local, meanReverting, exponential bool }

func benchNB07Potential(b *testing.B, o nb07Bench) {
	nb, err := Notebook07()
	if err != nil {
		b.Fatal(err)
	}
	p, err := NB07Potential(nb)
	if err != nil {
		b.Fatal(err)
	}
	p.Filter.ExactSteps = o.exact
	p.Filter.LocalAux = o.local
	p.Filter.ExponentialSteps = o.exponential
	if o.meanReverting {
		p.NumFlowParams = 3
		p.NewFlow = func(th []float64) (bffg.Flow, error) {
			return bffg.MeanReverting(nb07Flow(th[0], th[1]), th[2], nb.Root), nil
		}
		p.Priors = append(p.Priors[:2:2], bffg.Normal{Mean: 0, SD: 1})
	}
	q := make([]float64, p.Dim())
	q[0], q[1] = math.Log(NB07KAlpha), math.Log(NB07KSigma) // λ = 1: log λ = 0
	copy(q[p.NumParams():], NB07CheckNoise())
	g := make([]float64, len(q))
	p.LogDensityGrad(q, g) // sizes the step cache once
	b.ReportAllocs()
	for b.Loop() {
		if o.grad {
			p.LogDensityGrad(q, g)
		} else {
			p.LogDensity(q)
		}
	}
}

// BenchmarkNotebook07FlowU times U on notebook 07's target with factorised messages
// (16×16 instead of 32×32) and frozen anchors: one filter plus the guided pass.
func BenchmarkNotebook07FlowU(b *testing.B) { benchNB07Potential(b, nb07Bench{}) }

// BenchmarkNotebook07FlowGrad times U + ∇U (the reverse pass included).
func BenchmarkNotebook07FlowGrad(b *testing.B) { benchNB07Potential(b, nb07Bench{grad: true}) }

// BenchmarkNotebook07FlowExactU and …Grad time the same with exact (Euler-transition)
// guided steps.
func BenchmarkNotebook07FlowExactU(b *testing.B) { benchNB07Potential(b, nb07Bench{exact: true}) }

func BenchmarkNotebook07FlowExactGrad(b *testing.B) {
	benchNB07Potential(b, nb07Bench{grad: true, exact: true})
}

// BenchmarkNotebook07FlowLocalU and …Grad time exact steps with the auxiliary
// linearised at every step (bffg.FlowFilter.LocalAux).
func BenchmarkNotebook07FlowLocalU(b *testing.B) {
	benchNB07Potential(b, nb07Bench{exact: true, local: true})
}

func BenchmarkNotebook07FlowLocalGrad(b *testing.B) {
	benchNB07Potential(b, nb07Bench{grad: true, exact: true, local: true})
}

// BenchmarkNotebook07FlowMeanRevertingGrad times U + ∇U with exact steps on notebook
// 07's target with a pull towards the root shape (bffg.MeanReverting, λ = 1, sampled):
// the drift, its auxiliary (shifted messages) and their adjoints on top of
// BenchmarkNotebook07FlowExactGrad.
func BenchmarkNotebook07FlowMeanRevertingGrad(b *testing.B) {
	benchNB07Potential(b, nb07Bench{grad: true, exact: true, meanReverting: true})
}

// BenchmarkNotebook07FlowExponentialGrad is BenchmarkNotebook07FlowMeanRevertingGrad
// with the pull integrated exactly in each step (bffg.FlowFilter.ExponentialSteps).
func BenchmarkNotebook07FlowExponentialGrad(b *testing.B) {
	benchNB07Potential(b, nb07Bench{grad: true, exact: true, meanReverting: true, exponential: true})
}
