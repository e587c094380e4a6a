package replicate_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// kmigrateBinary builds the kmigrate command once per test process.
func kmigrateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kmigrate-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "kmigrate")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/kmigrate/kmigrate/cmd/kmigrate").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// writeConfig writes a configuration file for the kmigrate binary.
func writeConfig(t *testing.T, migration string, src, tgt *kafkatest.Cluster, extra string, topics ...string) string {
	t.Helper()
	var inc []string
	for _, tp := range topics {
		inc = append(inc, fmt.Sprintf("%q", tp))
	}
	body := fmt.Sprintf(`migration: %s
source:
  bootstrap_servers: [%s]
target:
  bootstrap_servers: [%s]
topics:
  include: [%s]
http:
  listen: "off"
%s`, migration, strings.Join(src.Bootstrap, ","), strings.Join(tgt.Bootstrap, ","), strings.Join(inc, ", "), extra)
	path := filepath.Join(t.TempDir(), "kmigrate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// endOffset returns the end offset of one partition.
func endOffset(t *testing.T, c *kafkatest.Cluster, topic string, p int32) int64 {
	t.Helper()
	ends, err := c.Admin(t).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ends.Lookup(topic, p)
	return o.Offset
}

// TestKillNineResumesExactly kills `kmigrate run` with SIGKILL several times in
// the middle of copying ordinary, transactional (with aborted transactions) and
// gapped partitions, then lets it finish. The target must hold every source
// record exactly once, in order, and at least one restart must have adopted
// records written after its last checkpoint (tail reconciliation).
func TestKillNineResumesExactly(t *testing.T) {
	src, tgt := clusters(t)
	bin := kmigrateBinary(t)
	plain := kafkatest.UniqueName(t, "crash-plain")
	txn := kafkatest.UniqueName(t, "crash-txn")
	createTopic(t, src, plain, 2, nil)
	createTopic(t, src, txn, 1, nil)

	cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	value := bytes.Repeat([]byte("x"), 1000)
	var recs []*kgo.Record
	for i := range 6000 {
		recs = append(recs, &kgo.Record{Topic: plain, Partition: int32(i % 2), Key: []byte(fmt.Sprint(i)), Value: value})
	}
	produce(t, cl, recs...)
	txCl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(kafkatest.UniqueName(t, "tx")))
	ctx := context.Background()
	for i := range 30 {
		if err := txCl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 50 {
			txCl.Produce(ctx, &kgo.Record{Topic: txn, Key: []byte(fmt.Sprintf("%d-%d", i, j)), Value: value}, nil)
		}
		if err := txCl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		commit := kgo.TryCommit
		if i%3 == 1 {
			commit = kgo.TryAbort
		}
		if err := txCl.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}

	// 400 kB/s: the copy of ~7.5 MB takes long enough to be killed mid-way.
	cfgPath := writeConfig(t, kafkatest.UniqueName(t, "crash"), src, tgt, `replication:
  max_bytes_per_second: 400000
  checkpoint_interval: 700ms
`, plain, txn)
	var logs bytes.Buffer
	for kill := range 4 {
		cmd := exec.Command(bin, "run", "-c", cfgPath)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a different point each time: once the target has grown by
		// some records since the previous kill.
		before := endOffset(t, tgt, plain, 0) + endOffset(t, tgt, plain, 1)
		step := int64(300 + 200*kill)
		kafkatest.Eventually(t, 60*time.Second, func() error {
			now := endOffset(t, tgt, plain, 0) + endOffset(t, tgt, plain, 1)
			if now < before+step {
				return fmt.Errorf("target grew by %d records, waiting for %d", now-before, step)
			}
			return nil
		})
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		logs.Write(stderr.Bytes())
	}
	cmd := exec.Command(bin, "run", "-c", cfgPath, "--until-caught-up")
	out, err := cmd.CombinedOutput()
	logs.Write(out)
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	assertSameRecords(t, readAll(t, src, plain), readAll(t, tgt, plain))
	srcTxn, tgtTxn := readAll(t, src, txn), readAll(t, tgt, txn)
	if n := len(srcTxn[0]); n != 20*50 {
		t.Fatalf("source transactional topic shows %d committed records, want 1000", n)
	}
	assertSameRecords(t, srcTxn, tgtTxn)
	if !strings.Contains(logs.String(), "adopted") {
		t.Errorf("no restart reconciled records written after a checkpoint; logs:\n%s", logs.String())
	}
}
