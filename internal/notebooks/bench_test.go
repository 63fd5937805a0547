package notebooks

import (
	"context"
	"testing"
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
