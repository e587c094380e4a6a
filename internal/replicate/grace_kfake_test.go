package replicate_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// TestFakeGraceOnlyWhenSomeoneMayHaveWritten: the fence's grace (waiting
// until a predecessor's requests can no longer land) is waited only when a
// predecessor may have written. A migration that never ran, whose state topic
// does not exist yet, starts at once, and so does one whose last writer
// released cleanly; one whose state topic holds checkpoints but whose holder
// marker is gone (an older kmigrate, a deleted group) waits.
func TestFakeGraceOnlyWhenSomeoneMayHaveWritten(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	fakeTopic(t, src, "orders", 1)
	kafkatest.Produce(t, fakeClient(t, src), &kgo.Record{Topic: "orders", Value: []byte("a")}, &kgo.Record{Topic: "orders", Value: []byte("b")})
	cfg := fakeConfig(t, src, tgt, "orders")
	const waited = "did not stop cleanly"
	run := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		var out kafkatest.SyncBuffer
		e := replicate.New(cfg, slog.New(slog.NewTextHandler(&out, nil)), nil, nil)
		if err := e.Run(ctx, replicate.Options{UntilCaughtUp: true}); err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
		return out.String()
	}
	if out := run(); strings.Contains(out, waited) {
		t.Errorf("a migration that never ran waited out the grace:\n%s", out)
	}
	if out := run(); strings.Contains(out, waited) {
		t.Errorf("a start after a clean stop waited out the grace:\n%s", out)
	}
	resp, err := kadm.NewClient(fakeClient(t, tgt)).DeleteGroups(context.Background(), replicate.HolderGroup(cfg.Migration))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("delete the holder group: %v", err)
	}
	if out := run(); !strings.Contains(out, waited) {
		t.Errorf("a start with checkpoints but no holder marker did not wait out the grace:\n%s", out)
	}
}
