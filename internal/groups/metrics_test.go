package groups

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestGroupSeriesAreBounded: one series per group up to MaxGroupSeries, the
// groups with partitions out of sync first, the rest summed under _other.
func TestGroupSeriesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if v := testutil.ToFloat64(m.partitions.WithLabelValues(string(Pending))); v != 0 {
		t.Errorf("pending before any pass: %v", v)
	}
	r := &Report{}
	for i := range MaxGroupSeries + 20 {
		r.Rows = append(r.Rows, Row{Group: fmt.Sprintf("g%03d", i), Status: InSync})
	}
	// The last groups by name are the ones out of sync: they must have series.
	r.Rows = append(r.Rows, Row{Group: "zz-late", Status: Pending}, Row{Group: "zz-late", Partition: 1, Status: Pending}, Row{Group: "zz-busy", Status: ActiveOnTarget})
	m.observe(r)
	if n := testutil.CollectAndCount(m.unsynced); n != MaxGroupSeries+1 {
		t.Errorf("%d group series, want %d and _other", n, MaxGroupSeries)
	}
	for g, want := range map[string]float64{"zz-late": 2, "zz-busy": 1, "g000": 0, otherGroups: 0} {
		if v := testutil.ToFloat64(m.unsynced.WithLabelValues(g)); v != want {
			t.Errorf("kmigrate_group_unsynced_partitions{group=%q} = %v, want %v", g, v, want)
		}
	}
}
