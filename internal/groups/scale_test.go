package groups_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
)

// shiftTranslator translates every partition of one topic exactly, as a map
// with one run starting at source offset 0 and target offset 0 would.
type shiftTranslator struct {
	topic string
	end   int64
}

func (s shiftTranslator) Translate(topic string, _ int32, c int64) (offsetmap.Translation, bool) {
	if topic != s.topic {
		return offsetmap.Translation{}, false
	}
	if c > s.end {
		return offsetmap.Translation{Kind: offsetmap.Pending, Offset: -1}, true
	}
	return offsetmap.Translation{Kind: offsetmap.Exact, Offset: c}, true
}

func (s shiftTranslator) TargetTopic(source string) (string, bool) { return source, source == s.topic }

// BenchmarkPass1000Groups100Partitions measures one translation pass over 1,000
// source groups each committed on 100 partitions (100,000 group partitions),
// against real Kafka on both sides: list, fetch, translate, commit. The target
// of the design is one pass within the default 5 s interval.
//
//	go test ./internal/groups/ -run '^$' -bench Pass1000 -benchtime 3x
func BenchmarkPass1000Groups100Partitions(b *testing.B) {
	const nGroups, nParts = 1000, 100
	src := kafkatest.SharedT(b, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(b, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	topic := kafkatest.UniqueName(b, "scale")
	kafkatest.CreateTopic(b, src, topic, nParts, nil)
	kafkatest.CreateTopic(b, tgt, topic, nParts, nil)
	ctx := context.Background()
	prefix := kafkatest.UniqueName(b, "g")
	adm := src.Admin(b)
	// commitAll moves every source group to offset at on every partition, so
	// that each pass has 100,000 new positions to translate and commit.
	commitAll := func(at int64) {
		var wg sync.WaitGroup
		errs := make(chan error, nGroups)
		sem := make(chan struct{}, 16)
		for g := range nGroups {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				os := kadm.Offsets{}
				for p := range int32(nParts) {
					os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
				}
				errs <- adm.CommitAllOffsets(ctx, fmt.Sprintf("%s-%04d", prefix, g), os)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	cfg := config.Default()
	cfg.Groups.Include = []string{prefix + "-.*"}
	if err := cfg.Groups.Compile(); err != nil {
		b.Fatal(err)
	}
	s := groups.NewSyncer(cfg, nil, src.Client(b), tgt.Client(b), shiftTranslator{topic: topic, end: 1 << 40}, nil)
	defer s.Close()
	b.ResetTimer()
	var rep *groups.Report
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		commitAll(int64(i))
		b.StartTimer()
		var err error
		start := time.Now()
		if rep, err = s.Pass(ctx, true); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/pass")
	}
	b.StopTimer()
	committed := 0
	for _, r := range rep.Rows {
		if r.Committed {
			committed++
		}
	}
	if len(rep.Rows) != nGroups*nParts || rep.Counts()[groups.InSync] != nGroups*nParts || committed != nGroups*nParts {
		b.Fatalf("pass covered %d rows, %d in-sync, %d committed; want %d each", len(rep.Rows), rep.Counts()[groups.InSync], committed, nGroups*nParts)
	}
	b.ReportMetric(float64(len(rep.Rows))/rep.Duration, "partitions/s")
}
