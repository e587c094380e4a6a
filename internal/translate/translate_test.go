package translate

import (
	"strings"
	"testing"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/state"
)

// TestTranslate checks every status against a hand-built state: a partition
// that began at source offset 100 (records before it were gone), has a gap
// 200..209 lost to retention while copying, and is copied up to 300.
func TestTranslate(t *testing.T) {
	cfg := config.Default()
	cfg.Topics.Include = []string{"orders", "payments"}
	cfg.Replication.TopicPrefix = "gcp."
	if err := cfg.Topics.Compile(); err != nil {
		t.Fatal(err)
	}
	p, err := offsetmap.New(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendRun(100, 100); err != nil { // 100..199 → 0..99
		t.Fatal(err)
	}
	if err := p.AppendRun(210, 90); err != nil { // 210..299 → 100..189
		t.Fatal(err)
	}
	st := &state.State{Partitions: map[state.Key]*state.Saved{
		{Topic: "orders", Partition: 0}: {Map: p, Lost: []state.LostRange{{From: 200, To: 210}}},
	}}
	tr := FromState(cfg, st)
	lines, err := ReadBatch(strings.NewReader(`topic,partition,offset
orders,0,150
{"topic":"orders","partition":0,"offset":300}

orders,0,301
orders,0,50
orders,0,205
orders,7,1
payments,0,1
inventory,0,1
orders,zero,1
{"topic":"orders"}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status string
		target int64 // -1: none
	}{
		{Exact, 50}, {Exact, 190}, {Pending, -1}, {BehindRetention, 0}, {BehindRetention, 100},
		{UnknownPartition, -1}, {Pending, -1}, {NotMigrated, -1}, {Invalid, -1}, {Invalid, -1},
	}
	got := tr.Batch(lines)
	if len(got) != len(want) {
		t.Fatalf("%d answers, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		a := got[i]
		to := int64(-1)
		if a.TargetOffset != nil {
			to = *a.TargetOffset
		}
		if a.Status != w.status || to != w.target || a.Reason == "" {
			t.Errorf("line %d (%s/%d@%d): %s %d (%s), want %s %d", a.Line, a.Topic, a.Partition, a.Offset, a.Status, to, a.Reason, w.status, w.target)
		}
	}
	if got[0].TargetTopic != "gcp.orders" || got[0].Line != 2 || !got[0].OK() || got[2].OK() {
		t.Errorf("first answer %+v", got[0])
	}
}
