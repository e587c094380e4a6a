package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// benchEnv reads a positive integer setting of the benchmark from the
// environment.
func benchEnv(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	return def
}

// BenchmarkVerifyFull measures `verify --mode full` against real Kafka on both
// sides: a topic of KMIGRATE_BENCH_MB MiB (default 1024) of records with
// KMIGRATE_BENCH_VALUE-byte random values (default 1024) over
// KMIGRATE_BENCH_PARTITIONS partitions (default 8) is produced, migrated by
// the engine (target batches lz4-compressed, its default), and then verified
// in full, every record hashed on both clusters. The setup runs once; the
// figure is the bytes of one side (key, value, headers) verified per second.
// Both topics are deleted at the end. KMIGRATE_BENCH_CPUPROFILE names a file for
// a CPU profile of the verification runs alone.
func BenchmarkVerifyFull(b *testing.B) {
	src, tgt := clusters(b)
	mib := benchEnv(b, "KMIGRATE_BENCH_MB", 1024)
	valueSize := benchEnv(b, "KMIGRATE_BENCH_VALUE", 1024)
	partitions := int32(benchEnv(b, "KMIGRATE_BENCH_PARTITIONS", 8))
	topic := kafkatest.UniqueName(b, "bench-verify")
	kafkatest.CreateTopic(b, src, topic, partitions, nil)
	b.Cleanup(func() {
		ctx := context.Background()
		_, _ = src.Admin(b).DeleteTopics(ctx, topic)
		_, _ = tgt.Admin(b).DeleteTopics(ctx, topic)
	})

	start := time.Now()
	cl := src.Client(b, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedBytes(256<<20))
	values := make([]byte, 1<<20+valueSize)
	if _, err := rand.Read(values); err != nil {
		b.Fatal(err)
	}
	n := mib << 20 / valueSize
	ctx := context.Background()
	for i := range n {
		off := (i * 7919) % (1 << 20)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: strconv.AppendInt(nil, int64(i), 10), Value: values[off : off+valueSize]},
			func(_ *kgo.Record, err error) {
				if err != nil {
					b.Errorf("produce: %v", err)
				}
			})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("produced %d records (%d MiB) in %s", n, mib, time.Since(start).Round(time.Millisecond))
	cfg := kafkatest.MigrationConfig(b, src, tgt, topic)
	start = time.Now()
	migrate(b, cfg)
	b.Logf("migrated in %s", time.Since(start).Round(time.Millisecond))

	// A profile of the verification alone, without the setup.
	if path := os.Getenv("KMIGRATE_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	cpuBefore, brokersBefore := processCPU(b), brokerCPU(b, src, tgt)
	var rep *verify.Report
	var total int64
	var seconds, verifySeconds float64
	runs := 0
	for b.Loop() {
		rep = run(b, cfg, verify.Options{Mode: verify.ModeFull})
		if !rep.Pass {
			b.Fatalf("verify failed:\n%s", text(rep))
		}
		t := rep.Throughput
		total += t.Bytes
		seconds += t.Seconds
		verifySeconds += rep.Seconds
		runs++
		b.Logf("run %d: %d records, %d bytes per side, full pass %.2fs (%.0f MB/s), whole verify %.2fs",
			runs, t.Records, t.Bytes, t.Seconds, t.MBPerSecond, rep.Seconds)
	}
	// The bytes of one side per second of the whole verification (ns/op),
	// and of the full pass alone.
	b.SetBytes(rep.Throughput.Bytes)
	b.ReportMetric(float64(total)/1e6/seconds, "MB/s-full-pass")
	b.ReportMetric(verifySeconds/float64(runs), "s/verify")
	// CPU time, which the load of other processes on the machine does not
	// change: this process's, and that of the brokers serving the fetches.
	b.ReportMetric((processCPU(b)-cpuBefore)/float64(runs), "cpu-s/verify")
	b.ReportMetric((brokerCPU(b, src, tgt)-brokersBefore)/float64(runs), "broker-cpu-s/verify")
}

// processCPU is the user and system CPU time of this process, in seconds.
func processCPU(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// brokerCPU is the user and system CPU time of the brokers of the clusters, in
// seconds, from /proc.
func brokerCPU(b *testing.B, clusters ...*kafkatest.Cluster) float64 {
	var ticks int64
	for _, c := range clusters {
		for _, n := range c.Brokers() {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.PID))
			if err != nil {
				b.Fatalf("read the CPU time of broker %d of %s: %v", n.ID, c.Name, err)
			}
			// Fields 14 and 15 (utime, stime) follow the command name, which
			// ends with the last ')'.
			f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			for _, v := range f[11:13] {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				ticks += n
			}
		}
	}
	return float64(ticks) / 100 // USER_HZ
}
