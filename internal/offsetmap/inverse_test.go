package offsetmap

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestInverseAgainstModel checks Inverse at every target position around the
// copied range of random maps, coarsened or not: exact where the map is exact,
// a safe bounded answer (at or below the true source offset, within
// MaxDuplicates) inside a coarsened segment.
func TestInverseAgainstModel(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			t0, begin := rng.Int64N(3)*1000, rng.Int64N(50)
			p, err := New(t0, begin)
			if err != nil {
				t.Fatal(err)
			}
			m := newModel(t0, begin)
			randomOps(t, rng, p, m, 1+rng.IntN(120))
			if seed%2 == 1 && p.NumRuns() > MinMaxRuns {
				if err := p.Coarsen(MinMaxRuns + rng.IntN(p.NumRuns()-MinMaxRuns+1)); err != nil {
					t.Fatal(err)
				}
			}
			for tgt := t0 - 1; tgt <= m.tgtNext()+1; tgt++ {
				got := p.Inverse(tgt)
				switch {
				case tgt < t0:
					if got != (Translation{Kind: BehindStart, Offset: begin}) {
						t.Fatalf("Inverse(%d) = %v below t0 %d, want behind-start %d", tgt, got, t0, begin)
					}
				case tgt > m.tgtNext():
					if got.Kind != Pending {
						t.Fatalf("Inverse(%d) = %v beyond the copy, want pending", tgt, got)
					}
				case tgt == m.tgtNext():
					if got != (Translation{Kind: Exact, Offset: m.srcNext}) {
						t.Fatalf("Inverse(%d) = %v at the target's next offset, want exact %d", tgt, got, m.srcNext)
					}
				default:
					want, _ := m.sourceOf(tgt)
					switch got.Kind {
					case Exact:
						if got.Offset != want {
							t.Fatalf("Inverse(%d) = %v, want exact %d", tgt, got, want)
						}
					case Approximate:
						if !p.Coarsened() || got.Offset > want || got.Offset+got.MaxDuplicates < want {
							t.Fatalf("Inverse(%d) = %v, true source offset %d (coarsened %t)", tgt, got, want, p.Coarsened())
						}
					default:
						t.Fatalf("Inverse(%d) = %v inside the copy", tgt, got)
					}
				}
			}
		})
	}
}
