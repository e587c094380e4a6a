package replicate_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// BenchmarkResumePartitions measures what a migration costs per partition on
// one instance, on kfake clusters (in process, so the figures are kmigrate's
// own, not the brokers'): the time from start to copying for a migration whose
// every partition has state to resume (checkpoint, map, boundary record), and
// the heap the engine holds per partition once they all run; and, before that,
// the time a migration that never ran takes to start copying every partition
// (each gets an initial checkpoint before its first record).
//
//	go test ./internal/replicate -run '^$' -bench ResumePartitions -benchtime 1x
func BenchmarkResumePartitions(b *testing.B) {
	for _, n := range []int32{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				resumeOnce(b, n)
			}
		})
	}
}

func resumeOnce(b *testing.B, n int32) {
	b.StopTimer()
	cfg, stopClusters := wideMigration(b, n)
	defer stopClusters()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	first := replicate.New(cfg, nil, nil, nil)
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(ctx, replicate.Options{UntilCaughtUp: true}) }()
	select {
	case <-first.Ready():
	case err := <-firstDone:
		b.Fatal(err)
	}
	for len(first.Status()) < int(n) {
		time.Sleep(10 * time.Millisecond)
	}
	fresh := time.Since(start)
	if err := <-firstDone; err != nil {
		b.Fatal(err)
	}
	// The measured part: a restart that resumes every partition.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.StartTimer()
	start = time.Now()
	e := replicate.New(cfg, nil, nil, nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx, replicate.Options{}) }()
	select {
	case <-e.Ready():
	case err := <-done:
		b.Fatal(err)
	}
	for len(e.Status()) < int(n) {
		time.Sleep(10 * time.Millisecond)
	}
	startup := time.Since(start)
	b.StopTimer()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(fresh.Seconds()*1000, "ms-to-start-fresh")
	b.ReportMetric(startup.Seconds()*1000, "ms-to-resume")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "heap-B/partition")
}

// wideMigration seeds a source topic "wide" of n partitions with 3 records
// each on an in-process cluster, and returns a migration of it to another.
func wideMigration(b *testing.B, n int32) (*config.Config, func()) {
	src, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(n, "wide"))
	if err != nil {
		b.Fatal(err)
	}
	tgt, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		src.Close()
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(src.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := range n {
		for i := range 3 {
			recs = append(recs, &kgo.Record{Topic: "wide", Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	kafkatest.Produce(b, cl, recs...)
	cfg := fakeConfig(b, src, tgt, "wide")
	cfg.Replication.CheckpointInterval.Duration = time.Second
	return cfg, func() { src.Close(); tgt.Close() }
}
