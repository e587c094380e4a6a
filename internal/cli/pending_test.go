package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestVerifyPendingThenWait: a group that committed past the copy is PENDING
// (exit 2), not FAIL; `verify --wait` verifies again until the next run has
// copied and translated it, then reports PASS (exit 0).
func TestVerifyPendingThenWait(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	topic := kafkatest.UniqueName(t, "pending")
	group := kafkatest.UniqueName(t, "g")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	cl := src.Client(t)
	produce := func(n int) {
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)})
		}
		kafkatest.Produce(t, cl, recs...)
	}
	commit := func(at int64) {
		t.Helper()
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: topic, Partition: 0, At: at, LeaderEpoch: -1})
		resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), group, o)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %s at %d: %v", group, at, err)
		}
	}
	produce(100)
	commit(50)
	cfg := writeConfig(t, fmt.Sprintf("migration: %s\nsource:\n  bootstrap_servers: [%s]\ntarget:\n  bootstrap_servers: [%s]\ntopics:\n  include: [%q]\ngroups:\n  include: [%q]\nhttp:\n  listen: \"off\"\nreplication:\n  checkpoint_interval: 100ms\n",
		kafkatest.UniqueName(t, "m"), strings.Join(src.Bootstrap, ","), strings.Join(tgt.Bootstrap, ","), topic, group))
	if _, stderr, err := kmigrate(t, "run", "-c", cfg, "--until-caught-up", "--log-level", "warn"); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	if out, _, err := kmigrate(t, "verify", "-c", cfg, "--mode", "counts"); err != nil {
		t.Fatalf("verify after the copy: %v\n%s", err, out)
	}

	// The source moves on and the group with it, past what was copied.
	produce(20)
	commit(110)
	out, _, err := kmigrate(t, "verify", "-c", cfg, "--mode", "counts")
	if code := exitCode(err); code != 2 {
		t.Errorf("verify with a group past the copy: exit %d (%v), want 2 (PENDING)\n%s", code, err, out)
	}
	if !strings.Contains(out, "PENDING  groups") || !strings.Contains(out, "RESULT: PENDING (1 of 4 checks pending: groups") ||
		!strings.Contains(out, "pending: committed at source offset 110") {
		t.Errorf("pending verify report:\n%s", out)
	}

	// verify --wait settles once a run copies and translates.
	type result struct {
		out, errOut string
		err         error
		took        time.Duration
	}
	waited := make(chan result, 1)
	var vout, verr kafkatest.SyncBuffer
	go func() {
		start := time.Now()
		err := Run(context.Background(), []string{"verify", "-c", cfg, "--mode", "counts", "--wait", "2m"}, Streams{In: strings.NewReader(""), Out: &vout, Err: &verr})
		waited <- result{vout.String(), verr.String(), err, time.Since(start)}
	}()
	kafkatest.Eventually(t, time.Minute, func() error {
		if !strings.Contains(verr.String(), "verify: PENDING; verifying again") {
			return fmt.Errorf("verify --wait did not report waiting:\n%s", verr.String())
		}
		return nil
	})
	if _, stderr, err := kmigrate(t, "run", "-c", cfg, "--until-caught-up", "--log-level", "warn"); err != nil {
		t.Fatalf("second run: %v\n%s", err, stderr)
	}
	r := <-waited
	if r.err != nil || !strings.Contains(r.out, "RESULT: PASS") {
		t.Errorf("verify --wait: %v after %s\n%s\n%s", r.err, r.took, r.out, r.errOut)
	}
}
