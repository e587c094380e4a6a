package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// runCLI runs kmigrate with args and returns its stdout and error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := Run(ctx, args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if err != nil {
		t.Logf("kmigrate %s: %v; stderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

// inventoryConfig writes a configuration file from src to tgt that selects
// topics, and returns its path.
func inventoryConfig(t *testing.T, src, tgt *kafkatest.Cluster, topics ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "migration: %s\n", kafkatest.UniqueName(t, "m"))
	fmt.Fprintf(&b, "source:\n  bootstrap_servers: [%s]\n", strings.Join(src.Bootstrap, ", "))
	fmt.Fprintf(&b, "target:\n  bootstrap_servers: [%s]\n", strings.Join(tgt.Bootstrap, ", "))
	fmt.Fprintf(&b, "topics:\n  include: [%s]\n", strings.Join(topics, ", "))
	path := filepath.Join(t.TempDir(), "migration.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustCreate(t *testing.T, c *kafkatest.Cluster, topic string, partitions int32) {
	t.Helper()
	resp, err := c.Admin(t).CreateTopic(context.Background(), partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	c.WaitTopics(t, time.Minute, topic)
}

func mustProduce(t *testing.T, c *kafkatest.Cluster, topic string, n int) {
	t.Helper()
	cl := c.Client(t)
	for i := range n {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// TestScanCommand runs `kmigrate scan` end to end: JSON with its schema,
// Markdown to a file, and the errors for bad flags.
func TestScanCommand(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	topic := kafkatest.UniqueName(t, "scan")
	mustCreate(t, src, topic, 2)
	mustProduce(t, src, topic, 7)
	cfg := inventoryConfig(t, src, tgt, topic)
	dir := t.TempDir()

	out, err := runCLI(t, "scan", "-c", cfg, "--cluster", "source", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var snap inventory.Snapshot
	if err := json.Unmarshal([]byte(out), &snap); err != nil {
		t.Fatalf("scan --format json: %v\n%s", err, out)
	}
	found := false
	for _, tp := range snap.Topics {
		if tp.Name == topic {
			found = tp.Selected && tp.Records == 7 && len(tp.PartitionList) == 2
		}
	}
	if snap.Schema != inventory.ScanSchema || snap.Role != "source" || !found {
		t.Errorf("scan json: schema %q role %q, topic %s found as expected: %v", snap.Schema, snap.Role, topic, found)
	}
	md := filepath.Join(dir, "target.md")
	if _, err := runCLI(t, "scan", "-c", cfg, "--cluster", "target", "--format", "markdown", "--out", md); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(md); err != nil || !strings.HasPrefix(string(data), "# kmigrate scan of the target cluster") {
		t.Errorf("markdown report %s: %v\n%s", md, err, data)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "-c", cfg, "--cluster", "sauce"}, `--cluster "sauce"`},
		{[]string{"scan", "-c", cfg, "--format", "xml"}, `--format "xml"`},
		{[]string{"plan", "-c", cfg, "--assumed-rate", "fast"}, `--assumed-rate "fast"`},
	} {
		if _, err := runCLI(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kmigrate %s: error %v, want one naming %s", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// TestPlanCommandExitCode checks that `kmigrate plan` exits 0 without blockers
// and 2 with one (a target topic holding records kmigrate did not write).
func TestPlanCommandExitCode(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	clean, dirty := kafkatest.UniqueName(t, "clean"), kafkatest.UniqueName(t, "dirty")
	for _, tp := range []string{clean, dirty} {
		mustCreate(t, src, tp, 1)
		mustProduce(t, src, tp, 3)
	}
	mustCreate(t, tgt, dirty, 1)
	mustProduce(t, tgt, dirty, 1)

	out, err := runCLI(t, "plan", "-c", inventoryConfig(t, src, tgt, clean), "--format", "json")
	if err != nil {
		t.Fatalf("plan without blockers: %v", err)
	}
	var plan inventory.Plan
	if err := json.Unmarshal([]byte(out), &plan); err != nil || plan.Schema != inventory.PlanSchema || !plan.Summary.Ready || len(plan.Topics) != 1 {
		t.Errorf("plan json: %v\n%s", err, out)
	}

	out, err = runCLI(t, "plan", "-c", inventoryConfig(t, src, tgt, dirty), "--assumed-rate", "50MiB")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != exitBlockers || !strings.Contains(ee.Msg, "NOT READY: 1 blocker") {
		t.Errorf("plan with a blocker: error %v, want exit status %d", err, exitBlockers)
	}
	if !strings.Contains(out, inventory.CodeForeignData) || !strings.Contains(out, "50.0 MiB/s (--assumed-rate)") {
		t.Errorf("plan report:\n%s", out)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "50MiB": 50 << 20, "100MB/s": 100e6, "1.5GiB": 3 << 29, "2 KB": 2000, "512B": 512,
	} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1MiB", "0", "0.1B", "10 parsecs"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) accepted", in)
		}
	}
}
