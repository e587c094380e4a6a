package replicate_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// writerMembers returns the number of live members of a migration's writer
// group on the source.
func writerMembers(t *testing.T, src *kafkatest.Cluster, migration string) (int, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{replicate.WriterGroup(migration)}
	resp, err := req.RequestWith(context.Background(), src.Client(t))
	if err != nil {
		return 0, err
	}
	return len(resp.Groups[0].Members), nil
}

// TestPausedWriterIsFenced pauses `kmigrate run` A with SIGSTOP in the middle
// of a throttled copy, with records buffered and requests in flight, lets its
// lock expire, lets a second run B take over and finish, then resumes A. A must
// not land a single record on the target after B took over: the target holds
// every source record exactly once, and A exits non-zero saying it lost the
// lock. Each case pauses A at another point of the copy.
func TestPausedWriterIsFenced(t *testing.T) {
	src, tgt := clusters(t)
	bin := kafkatest.KmigrateBinary(t)
	for _, pauseAt := range []int64{300, 2500} {
		t.Run(fmt.Sprintf("pause-after-%d", pauseAt), func(t *testing.T) {
			topic := kafkatest.UniqueName(t, "zombie")
			createTopic(t, src, topic, 1, nil)
			value := bytes.Repeat([]byte("z"), 1000)
			var recs []*kgo.Record
			for range 6000 {
				recs = append(recs, &kgo.Record{Topic: topic, Value: value})
			}
			produce(t, src.Client(t), recs...)
			migration := kafkatest.UniqueName(t, "fence")
			slow := writeConfig(t, migration, src, tgt, `replication:
  max_bytes_per_second: 400000
  checkpoint_interval: 1s
`, topic)
			fast := writeConfig(t, migration, src, tgt, "", topic)

			a, aOut := startRun(t, bin, slow)
			kafkatest.Eventually(t, 60*time.Second, func() error {
				if n := endOffset(t, tgt, topic, 0); n < pauseAt {
					return fmt.Errorf("target has %d records", n)
				}
				return nil
			})
			if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			resumed := false
			defer func() {
				if !resumed {
					_ = a.Process.Signal(syscall.SIGCONT)
				}
			}()
			kafkatest.Eventually(t, 30*time.Second, func() error {
				n, err := writerMembers(t, src, migration)
				if err == nil && n > 0 {
					err = fmt.Errorf("the writer group still has %d members", n)
				}
				return err
			})
			b := exec.Command(bin, "run", "-c", fast, "--until-caught-up")
			if out, err := b.CombinedOutput(); err != nil {
				t.Fatalf("run B: %v\n%s", err, out)
			}
			if n := endOffset(t, tgt, topic, 0); n != 6000 {
				t.Fatalf("after B the target has %d records, want 6000", n)
			}
			resumed = true
			if err := a.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- a.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("the paused run exited 0 after losing its lock:\n%s", aOut.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("the resumed run did not stop within 60 s:\n%s", aOut.String())
			}
			if n := endOffset(t, tgt, topic, 0); n != 6000 {
				t.Errorf("after A resumed the target has %d records, want 6000; A's log:\n%s", n, aOut.String())
			}
			assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
		})
	}
}
