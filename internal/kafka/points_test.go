package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadPoints: one client answers points on many partitions at once,
// several per partition in any order, and a range past a partition's records
// or empty has no record.
func TestReadPoints(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	const parts = 300
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range int32(parts) {
		for i := range 5 {
			recs = append(recs, &kgo.Record{Topic: "t", Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var pts []Point
	var want []string
	for p := range int32(parts) {
		pts = append(pts,
			Point{Topic: "t", Partition: p, From: 3, End: 5},
			Point{Topic: "t", Partition: p, From: 0, End: 1},
			Point{Topic: "t", Partition: p, From: 5, End: 5},
		)
		want = append(want, fmt.Sprintf("%d-3", p), fmt.Sprintf("%d-0", p), "")
	}
	reader, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.KeepControlRecords(), kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	got, err := ReadPoints(ctx, reader, Source, pts, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		v := ""
		if r != nil {
			v = string(r.Value)
		}
		if v != want[i] {
			t.Errorf("point %+v: got %q, want %q", pts[i], v, want[i])
		}
	}
}
