package offsetmap

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the naive offset map: the list of copied source offsets.
type model struct {
	t0, srcBegin, srcNext int64
	copied                []int64
}

func newModel(t0, srcBegin int64) *model {
	return &model{t0: t0, srcBegin: srcBegin, srcNext: srcBegin}
}

func (m *model) tgtNext() int64 { return m.t0 + int64(len(m.copied)) }

func (m *model) translate(c int64) Translation {
	switch {
	case c < m.srcBegin:
		return Translation{Kind: BehindStart, Offset: m.t0}
	case c > m.srcNext:
		return Translation{Kind: Pending, Offset: -1}
	}
	// copied is sorted, so the position where c would go counts the copied
	// offsets below c.
	n, _ := slices.BinarySearch(m.copied, c)
	return Translation{Kind: Exact, Offset: m.t0 + int64(n)}
}

func (m *model) targetOf(src int64) (int64, bool) {
	if i, found := slices.BinarySearch(m.copied, src); found {
		return m.t0 + int64(i), true
	}
	return 0, false
}

func (m *model) sourceOf(tgt int64) (int64, bool) {
	if tgt < m.t0 || tgt >= m.tgtNext() {
		return 0, false
	}
	return m.copied[tgt-m.t0], true
}

// truncate returns the model as of checkpoint cp.
func (m *model) truncate(cp Checkpoint) *model {
	return &model{
		t0:       m.t0,
		srcBegin: m.srcBegin,
		srcNext:  cp.SrcNext,
		copied:   slices.Clone(m.copied[:cp.TgtNext-m.t0]),
	}
}

// compare checks p against m for every position around the copied range:
// exact answers outside p's coarsened segment, safe bounded answers inside.
func compare(t testing.TB, p *Partition, m *model) {
	t.Helper()
	if err := p.check(); err != nil {
		t.Fatalf("invariants: %v\n%v", err, p.Runs())
	}
	if s, g := p.Next(); s != m.srcNext || g != m.tgtNext() {
		t.Fatalf("Next() = %d, %d; want %d, %d", s, g, m.srcNext, m.tgtNext())
	}
	segS, segE, coarse := p.CoarsenedRange()
	var segT0, segT1 int64
	if coarse {
		r := p.Runs()[0]
		segT0, segT1 = r.TgtStart, r.TgtEnd()
	}
	prev := int64(-1)
	for c := m.srcBegin - 2; c <= m.srcNext+2; c++ {
		got, want := p.Translate(c), m.translate(c)
		if coarse && c > segS && c < segE {
			if got.Offset > want.Offset || got.Offset+got.MaxDuplicates < want.Offset ||
				(got.Kind == Exact && got != want) || (got.Kind != Exact && got.Kind != Approximate) {
				t.Fatalf("Translate(%d) = %v inside coarsened [%d,%d); exact is %v", c, got, segS, segE, want)
			}
		} else if got != want {
			t.Fatalf("Translate(%d) = %v; want %v (coarsened %v [%d,%d))", c, got, want, coarse, segS, segE)
		}
		if got.Kind != Pending {
			if got.Offset < prev {
				t.Fatalf("Translate(%d) = %v goes back from %d", c, got, prev)
			}
			prev = got.Offset
		}
	}
	for src := m.srcBegin - 2; src <= m.srcNext+2; src++ {
		got, gotOK := p.TargetOf(src)
		want, wantOK := m.targetOf(src)
		if coarse && src >= segS && src < segE {
			want, wantOK = 0, false
		}
		if got != want || gotOK != wantOK {
			t.Fatalf("TargetOf(%d) = %d, %v; want %d, %v", src, got, gotOK, want, wantOK)
		}
	}
	for tgt := m.t0 - 2; tgt <= m.tgtNext()+2; tgt++ {
		got, gotOK := p.SourceOf(tgt)
		want, wantOK := m.sourceOf(tgt)
		if coarse && tgt >= segT0 && tgt < segT1 {
			want, wantOK = 0, false
		}
		if got != want || gotOK != wantOK {
			t.Fatalf("SourceOf(%d) = %d, %v; want %d, %v", tgt, got, gotOK, want, wantOK)
		}
	}
}

// randomOps drives p and m with n random operations that keep them in step:
// appends with random gaps, batch appends, advances and coarsening.
func randomOps(t testing.TB, rng *rand.Rand, p *Partition, m *model, n int) {
	t.Helper()
	for range n {
		switch op := rng.IntN(20); {
		case op < 12: // one record, often contiguous
			src := m.srcNext
			if rng.IntN(4) == 0 {
				src += rng.Int64N(5)
			}
			if err := p.Append(src); err != nil {
				t.Fatalf("Append(%d): %v", src, err)
			}
			m.copied = append(m.copied, src)
			m.srcNext = src + 1
		case op < 16: // a batch
			src, cnt := m.srcNext+rng.Int64N(3), 1+rng.Int64N(6)
			if err := p.AppendRun(src, cnt); err != nil {
				t.Fatalf("AppendRun(%d, %d): %v", src, cnt, err)
			}
			for i := range cnt {
				m.copied = append(m.copied, src+i)
			}
			m.srcNext = src + cnt
		case op < 18: // a gap at the end: markers, aborted records
			to := m.srcNext + rng.Int64N(4)
			if err := p.Advance(to); err != nil {
				t.Fatalf("Advance(%d): %v", to, err)
			}
			m.srcNext = to
		case op < 19:
			if err := p.Coarsen(MinMaxRuns + rng.IntN(6)); err != nil {
				t.Fatal(err)
			}
		default:
			if rng.IntN(3) == 0 {
				if err := p.SetMaxRuns(0); err != nil {
					t.Fatal(err)
				}
			} else if err := p.SetMaxRuns(MinMaxRuns + rng.IntN(8)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// seeds is how many random histories the property tests try. Rare crash
// interleavings need thousands to show up; -short runs are a smoke test only.
func seeds() uint64 {
	if testing.Short() {
		return 200
	}
	return 2000
}

// TestAgainstModel compares the map with the naive model after random
// appends, advances and coarsening, at every position in range.
func TestAgainstModel(t *testing.T) {
	for seed := range seeds() {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			t0, begin := rng.Int64N(3)*1000, rng.Int64N(50)
			p, err := New(t0, begin)
			if err != nil {
				t.Fatal(err)
			}
			m := newModel(t0, begin)
			for range 8 {
				randomOps(t, rng, p, m, 1+rng.IntN(40))
				compare(t, p, m)
			}
		})
	}
}

// TestCoarsenSafety checks the coarsening promise directly: every answer is at
// most the exact one, within its stated duplicate bound, and exact outside the
// segment; and the newest run always stays exact.
func TestCoarsenSafety(t *testing.T) {
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			p, _ := New(0, 0)
			m := newModel(0, 0)
			for range 200 {
				src := m.srcNext + rng.Int64N(4)
				if err := p.Append(src); err != nil {
					t.Fatal(err)
				}
				m.copied = append(m.copied, src)
				m.srcNext = src + 1
			}
			before := p.NumRuns()
			maxRuns := MinMaxRuns + rng.IntN(before)
			if err := p.Coarsen(maxRuns); err != nil {
				t.Fatal(err)
			}
			if got := p.NumRuns(); got > maxRuns {
				t.Fatalf("NumRuns() = %d after Coarsen(%d)", got, maxRuns)
			}
			if p.Coarsened() != (before > maxRuns) {
				t.Fatalf("Coarsened() = %v with %d runs coarsened to %d", p.Coarsened(), before, maxRuns)
			}
			runs := p.Runs()
			if last := runs[len(runs)-1]; last.Coarsened {
				t.Fatalf("newest run %v coarsened", last)
			}
			compare(t, p, m)
		})
	}
}
