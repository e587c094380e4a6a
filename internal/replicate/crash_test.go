package replicate_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// writeConfig writes a configuration file for the kmigrate binary.
func writeConfig(t testing.TB, migration string, src, tgt *kafkatest.Cluster, extra string, topics ...string) string {
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
func endOffset(t testing.TB, c *kafkatest.Cluster, topic string, p int32) int64 {
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
	bin := kafkatest.KmigrateBinary(t)
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
	kafkatest.ProduceTransactions(t, txCl, 30, func(i int) bool { return i%3 == 1 }, func(i int) []*kgo.Record {
		var recs []*kgo.Record
		for j := range 50 {
			recs = append(recs, &kgo.Record{Topic: txn, Key: []byte(fmt.Sprintf("%d-%d", i, j)), Value: value})
		}
		return recs
	})

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

// startRun starts `kmigrate run` and returns it with its combined output.
func startRun(t testing.TB, bin, cfgPath string, args ...string) (*exec.Cmd, *kafkatest.SyncBuffer) {
	t.Helper()
	out := &kafkatest.SyncBuffer{}
	cmd := exec.Command(bin, append([]string{"run", "-c", cfgPath}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, out
}

// TestSecondRunRefused starts two `kmigrate run` processes of one migration: the
// second refuses to start, naming the first, and exits non-zero; the first keeps
// copying.
func TestSecondRunRefused(t *testing.T) {
	src, tgt := clusters(t)
	bin := kafkatest.KmigrateBinary(t)
	topic := kafkatest.UniqueName(t, "single-writer")
	createTopic(t, src, topic, 1, nil)
	produce(t, src.Client(t), &kgo.Record{Topic: topic, Value: []byte("first")})
	cfgPath := writeConfig(t, kafkatest.UniqueName(t, "sw"), src, tgt, "", topic)

	first, firstOut := startRun(t, bin, cfgPath)
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n != 1 {
			return fmt.Errorf("target has %d records", n)
		}
		return nil
	})
	start := time.Now()
	out, err := exec.Command(bin, "run", "-c", cfgPath).CombinedOutput()
	if err == nil {
		t.Fatalf("the second run exited 0:\n%s", out)
	}
	if !strings.Contains(string(out), "another kmigrate run of this migration is alive (pid "+fmt.Sprint(first.Process.Pid)) {
		t.Errorf("the refusal does not name the first process (pid %d):\n%s", first.Process.Pid, out)
	}
	t.Logf("refused after %s", time.Since(start).Round(time.Millisecond))
	// The first one is still the writer.
	produce(t, src.Client(t), &kgo.Record{Topic: topic, Value: []byte("second")})
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n != 2 {
			return fmt.Errorf("target has %d records", n)
		}
		return nil
	})
	if first.ProcessState != nil {
		t.Fatalf("the first run exited:\n%s", firstOut.String())
	}
}

// TestSigtermFlushesAndExitsZero stops `kmigrate run` with SIGTERM while it copies:
// it must exit 0 within the shutdown bound, having checkpointed exactly what it
// wrote, so that the next start reconciles nothing.
func TestSigtermFlushesAndExitsZero(t *testing.T) {
	src, tgt := clusters(t)
	bin := kafkatest.KmigrateBinary(t)
	topic := kafkatest.UniqueName(t, "sigterm")
	createTopic(t, src, topic, 1, nil)
	value := bytes.Repeat([]byte("s"), 1000)
	var recs []*kgo.Record
	for range 3000 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: value})
	}
	produce(t, src.Client(t), recs...)
	cfgPath := writeConfig(t, kafkatest.UniqueName(t, "term"), src, tgt, `replication:
  max_bytes_per_second: 500000
  checkpoint_interval: 10s
  shutdown_timeout: 10s
`, topic)
	cmd, out := startRun(t, bin, cfgPath)
	kafkatest.Eventually(t, 60*time.Second, func() error {
		if n := endOffset(t, tgt, topic, 0); n < 500 {
			return fmt.Errorf("target has %d records", n)
		}
		return nil
	})
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run exited with %v after SIGTERM:\n%s", err, out.String())
	}
	if took := time.Since(sent); took > 12*time.Second {
		t.Errorf("run took %s to stop, more than shutdown_timeout", took)
	}
	// The checkpoint covers everything written: a restart adopts nothing.
	cmd, out = startRun(t, bin, cfgPath, "--until-caught-up")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "adopted") {
		t.Errorf("after a clean SIGTERM the next start had to reconcile:\n%s", out.String())
	}
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
}
