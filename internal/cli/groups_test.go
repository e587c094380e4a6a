package cli

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestGroupsCommands drives `kmigrate groups` and `groups sync --once` end to end:
// after a run the group is in-sync (--check exits 0); when the source group moves,
// the report says what would be committed and --check exits 1; one sync pass
// commits it and --check passes again.
func TestGroupsCommands(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	topic := kafkatest.UniqueName(t, "grp")
	mustCreate(t, src, topic, 1)
	mustProduce(t, src, topic, 20)
	group := kafkatest.UniqueName(t, "app")
	commit := func(at int64) {
		t.Helper()
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: topic, Partition: 0, At: at, LeaderEpoch: -1})
		if err := src.Admin(t).CommitAllOffsets(context.Background(), group, o); err != nil {
			t.Fatal(err)
		}
	}
	commit(5)
	cfg := inventoryConfig(t, src, tgt, topic)
	if _, err := runCLI(t, "run", "-c", cfg, "--until-caught-up"); err != nil {
		t.Fatal(err)
	}
	report := func(args ...string) (*groups.Report, error) {
		t.Helper()
		out, err := runCLI(t, append([]string{"groups", "-c", cfg, "--format", "json"}, args...)...)
		var rep groups.Report
		if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
			t.Fatalf("groups output is not JSON: %v\n%s", jerr, out)
		}
		return &rep, err
	}
	row := func(rep *groups.Report) groups.Row {
		t.Helper()
		for _, r := range rep.Rows {
			if r.Group == group {
				return r
			}
		}
		t.Fatalf("no row for group %s in %+v", group, rep.Rows)
		return groups.Row{}
	}

	rep, err := report("--check")
	if err != nil {
		t.Fatalf("--check failed after run: %v", err)
	}
	if r := row(rep); r.Status != groups.InSync || r.TargetCommitted != 5 || r.Translated != 5 {
		t.Errorf("after run: %+v", r)
	}

	commit(12)
	rep, err = report("--check")
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 1 {
		t.Errorf("--check with a group out of sync: err %v, want exit 1", err)
	}
	if r := row(rep); r.Status != groups.Skipped || r.Reason != "would commit 12 (dry run)" || r.TargetCommitted != 5 {
		t.Errorf("out of sync: %+v", r)
	}

	out, err := runCLI(t, "groups", "sync", "-c", cfg, "--once", "--format", "json")
	if err != nil {
		t.Fatalf("groups sync --once: %v\n%s", err, out)
	}
	rep, err = report("--check")
	if err != nil {
		t.Errorf("--check after sync: %v", err)
	}
	if r := row(rep); r.Status != groups.InSync || r.TargetCommitted != 12 {
		t.Errorf("after sync: %+v", r)
	}
}
