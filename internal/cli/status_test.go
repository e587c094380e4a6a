package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/status"
)

// TestStatusOfALiveRun follows a migration through the phases a user sees:
// before any run, status says not-started and no run alive; while `run` copies
// a steady trickle, status finds the run alive and every partition following
// (not "copying … not catching up"), and run logs its progress, the phase
// changes and "caught up"; after SIGTERM run says what it does, and status
// says stopped.
func TestStatusOfALiveRun(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	topic := kafkatest.UniqueName(t, "live-status")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	cl := src.Client(t)
	kafkatest.Produce(t, cl, &kgo.Record{Topic: topic, Value: []byte("first")})
	cfg := filepath.Join(t.TempDir(), "m.yaml")
	body := fmt.Sprintf("migration: %s\nsource:\n  bootstrap_servers: [%s]\ntarget:\n  bootstrap_servers: [%s]\ntopics:\n  include: [%q]\nhttp:\n  listen: \"off\"\ngroup_sync:\n  enabled: false\nreplication:\n  checkpoint_interval: 100ms\n",
		kafkatest.UniqueName(t, "m"), strings.Join(src.Bootstrap, ","), strings.Join(tgt.Bootstrap, ","), topic)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	statusJSON := func() status.Report {
		t.Helper()
		out, stderr, err := kmigrate(t, "status", "-c", cfg, "--interval", "300ms", "--format", "json")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, stderr)
		}
		var rep status.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("status printed %q: %v", out, err)
		}
		return rep
	}

	before := statusJSON()
	if before.Run.Alive || !before.Run.Known || before.Totals.Phase != status.NotStarted || before.Totals.Phases[status.NotStarted] != 2 {
		t.Errorf("before any run: run %+v, totals phase %s %v; want no run, not-started", before.Run, before.Totals.Phase, before.Totals.Phases)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs kafkatest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"run", "-c", cfg}, Streams{In: strings.NewReader(""), Out: os.Stdout, Err: &logs})
	}()
	// A steady trickle, as in production.
	pctx, pstop := context.WithCancel(ctx)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
				cl.Produce(pctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}, nil)
			}
		}
	}()

	var live status.Report
	kafkatest.Eventually(t, time.Minute, func() error {
		live = statusJSON()
		if !live.Run.Alive || live.Totals.Phase != status.Following {
			return fmt.Errorf("run %+v, phase %s (%v), lag %d records %.3fs", live.Run, live.Totals.Phase, live.Totals.Phases, live.Totals.LagRecords, live.Totals.LagSeconds)
		}
		return nil
	})
	if live.Run.Members != 1 || len(live.Run.Hosts) != 1 {
		t.Errorf("live run %+v, want one member", live.Run)
	}
	kafkatest.Eventually(t, time.Minute, func() error {
		if !strings.Contains(logs.String(), "caught up: every partition follows the source") {
			return fmt.Errorf("logs:\n%s", logs.String())
		}
		return nil
	})
	pstop()
	<-produced
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after the signal: %v\n%s", err, logs.String())
	}
	l := logs.String()
	for _, want := range []string{`msg="copy progress" phase=`, `msg="stopping: no new fetches;`, `msg="stopped: final checkpoint written`} {
		if !strings.Contains(l, want) {
			t.Errorf("run logs lack %q:\n%s", want, l)
		}
	}

	kafkatest.Eventually(t, 30*time.Second, func() error {
		after := statusJSON()
		if after.Run.Alive || after.Totals.Phase != status.Stopped {
			return fmt.Errorf("run %+v, phase %s", after.Run, after.Totals.Phase)
		}
		return nil
	})
}
