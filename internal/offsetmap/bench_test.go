package offsetmap

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkAppend measures the hot path: extending the run of an ordinary topic.
func BenchmarkAppend(b *testing.B) {
	p, _ := New(0, 1_000_000_000)
	src := int64(1_000_000_000)
	for b.Loop() {
		if err := p.Append(src); err != nil {
			b.Fatal(err)
		}
		src++
	}
	b.ReportMetric(float64(src-1_000_000_000)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendRun measures appending fetched batches of 500 records.
func BenchmarkAppendRun(b *testing.B) {
	p, _ := New(0, 0)
	src := int64(0)
	for b.Loop() {
		if err := p.AppendRun(src, 500); err != nil {
			b.Fatal(err)
		}
		src += 500
	}
	b.ReportMetric(float64(src)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendGaps is a compacted topic with a hole after every record:
// every Append starts a run, and with a bound every Append also coarsens.
func BenchmarkAppendGaps(b *testing.B) {
	for _, maxRuns := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("maxRuns=%d", maxRuns), func(b *testing.B) {
			p, _ := New(0, 0)
			if err := p.SetMaxRuns(maxRuns); err != nil {
				b.Fatal(err)
			}
			src := int64(0)
			for b.Loop() {
				if err := p.Append(src); err != nil {
					b.Fatal(err)
				}
				src += 2
			}
			b.ReportMetric(float64(src/2)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// withRuns builds a map with n runs over a source span of 10n offsets.
func withRuns(tb testing.TB, n int) *Partition {
	p, _ := New(0, 0)
	rng := rand.New(rand.NewPCG(1, 1))
	src := int64(0)
	for range n {
		c := 1 + rng.Int64N(8)
		if err := p.AppendRun(src, c); err != nil {
			tb.Fatal(err)
		}
		src += c + 1 + rng.Int64N(2)
	}
	return p
}

// BenchmarkTranslate measures translation of random positions.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("runs=%d", n), func(b *testing.B) {
			p := withRuns(b, n)
			srcNext, _ := p.Next()
			rng := rand.New(rand.NewPCG(2, 2))
			cs := make([]int64, 4096)
			for i := range cs {
				cs[i] = rng.Int64N(srcNext + 1)
			}
			var sink int64
			i := 0
			for b.Loop() {
				sink += p.Translate(cs[i&4095]).Offset
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "lookups/s")
			_ = sink
		})
	}
}

// BenchmarkTargetOf measures verification lookups on a map with 100k runs.
func BenchmarkTargetOf(b *testing.B) {
	p := withRuns(b, 100_000)
	srcNext, _ := p.Next()
	var sink int64
	i := int64(0)
	for b.Loop() {
		t, _ := p.TargetOf(i * 7919 % srcNext)
		sink += t
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "lookups/s")
	_ = sink
}

// BenchmarkSize reports memory per run of a 100k-run map: the SizeBytes
// estimate, the live heap it really holds, and the estimate after coarsening
// to 1000 runs.
func BenchmarkSize(b *testing.B) {
	const n = 100_000
	var est, live float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p := withRuns(b, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		est = float64(p.SizeBytes()) / n
		live = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(p)
	}
	b.ReportMetric(est, "bytes/run")
	b.ReportMetric(live, "live-bytes/run")
	p := withRuns(b, n)
	_ = p.Coarsen(1000)
	b.ReportMetric(float64(p.SizeBytes())/1000, "bytes/run-coarsened")
}

// BenchmarkEncodeRun measures encoding one run record, key and value.
func BenchmarkEncodeRun(b *testing.B) {
	r := Run{SrcStart: 1_000_000_000, Count: 5000, TgtStart: 0}
	k := RunKey("migration", TopicPartition{"orders", 3}, r.SrcStart)
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf, _ = k.AppendBinary(buf[:0])
		buf, _ = r.AppendBinary(buf)
	}
}
