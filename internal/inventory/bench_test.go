package inventory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// Scale of BenchmarkScale: 100 topics of 20 partitions (replication factor 3)
// and 500 consumer groups, each committed on the 20 partitions of one topic.
const (
	benchTopics     = 100
	benchPartitions = 20
	benchGroups     = 500
)

// BenchmarkScale scans, and plans, a seed cluster of its own holding 2,000
// partitions and 500 groups. Results are recorded in bench/results/scan.md.
//
//	go test ./internal/inventory -run '^$' -bench Scale -benchtime 5x
func BenchmarkScale(b *testing.B) {
	c := kafkatest.StartT(b, kafkatest.UniqueName(b, "bench"), kafkatest.Options{Topology: kafkatest.TopologySeed})
	cl := admin(b, c)
	adm := kadm.NewClient(cl)
	setup := time.Now()
	var specs []topicSpec
	var names []string
	for i := range benchTopics {
		name := fmt.Sprintf("bench-%03d", i)
		names = append(names, name)
		specs = append(specs, topicSpec{name: name, partitions: benchPartitions, rf: 3})
	}
	createTopics(b, cl, specs...)
	var recs []*kgo.Record
	for _, name := range names {
		for p := range int32(benchPartitions) {
			recs = append(recs, &kgo.Record{Topic: name, Partition: p, Value: []byte("x")})
		}
	}
	produce(b, cl, recs...)
	for g := range benchGroups {
		offsets := map[string]map[int32]int64{}
		topic := names[g%benchTopics]
		offsets[topic] = map[int32]int64{}
		for p := range int32(benchPartitions) {
			offsets[topic][p] = 0
		}
		commit(b, adm, fmt.Sprintf("group-%03d", g), offsets)
	}
	b.Logf("set up %d partitions and %d groups in %s", benchTopics*benchPartitions, benchGroups, time.Since(setup).Round(time.Second))

	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			snap, err := inventory.Scan(ctxT(b, 5*time.Minute), cl, inventory.Options{Role: kafka.Source})
			if err != nil {
				b.Fatal(err)
			}
			if snap.Summary.Partitions != benchTopics*benchPartitions || snap.Summary.Groups != benchGroups || len(snap.Unavailable) > 0 {
				b.Fatalf("scan saw %d partitions and %d groups, %d gaps", snap.Summary.Partitions, snap.Summary.Groups, len(snap.Unavailable))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scan")
	})
	b.Run("plan", func(b *testing.B) {
		cfg := migrationConfig(b, c, c, nil, nil)
		cfg.Replication.TopicPrefix = "copy-"
		bl := &kafka.Builder{}
		for b.Loop() {
			plan, err := inventory.MakePlan(ctxT(b, 5*time.Minute), inventory.PlanOptions{
				Config: cfg, Source: cl, Target: cl,
				Rate: inventory.CopyRate{BytesPerSecond: inventory.DefaultAssumedRate, Origin: "default"},
				NewTargetReader: func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
					return bl.Client(ctx, kafka.Target, cfg.Target, opts...)
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			if plan.Summary.Create != benchTopics || plan.Summary.Blockers != 0 {
				b.Fatalf("plan: %+v", plan.Summary)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/plan")
	})
}
