package translate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/state"
)

// BenchmarkBatch parses and answers a batch of 10,000 CSV positions over 100
// partitions whose maps have 1,000 runs each (a compacted or transactional
// topic's gaps).
func BenchmarkBatch(b *testing.B) {
	cfg := config.Default()
	st := &state.State{Partitions: map[state.Key]*state.Saved{}}
	for p := range int32(100) {
		m, err := offsetmap.New(0, 0)
		if err != nil {
			b.Fatal(err)
		}
		for r := range int64(1000) {
			if err := m.AppendRun(r*100, 90); err != nil {
				b.Fatal(err)
			}
		}
		st.Partitions[state.Key{Topic: "orders", Partition: p}] = &state.Saved{Map: m}
	}
	tr := FromState(cfg, st)
	var in strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&in, "orders,%d,%d\n", i%100, (i*7919)%100000)
	}
	input := in.String()
	b.ResetTimer()
	for b.Loop() {
		lines, err := ReadBatch(strings.NewReader(input))
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range tr.Batch(lines) {
			if a.Status != Exact {
				b.Fatalf("%+v", a)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/position")
}
