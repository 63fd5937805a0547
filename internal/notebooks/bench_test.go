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
