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

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// kmigrate runs the command line args and returns stdout, stderr and the error.
func kmigrate(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := Run(ctx, args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return out.String(), errOut.String(), err
}

// exitCode is the process exit code err would give.
func exitCode(err error) int {
	var discard bytes.Buffer
	return ExitCode(err, &discard)
}

// TestVerifyAndStatusCommands migrates a topic with `run --until-caught-up`,
// then: verify passes in every format and exits 0, writing the Markdown report
// to --out; status shows the partitions caught up; a record produced straight
// into the target makes verify exit 1 with the failure in its report; bad flags
// are refused before anything connects.
func TestVerifyAndStatusCommands(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	topic := kafkatest.UniqueName(t, "cli-verify")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	kafkatest.Produce(t, cl, recs...)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "migration.yaml")
	body := fmt.Sprintf("migration: %s\nsource:\n  bootstrap_servers: [%s]\ntarget:\n  bootstrap_servers: [%s]\ntopics:\n  include: [%q]\nhttp:\n  listen: \"off\"\nreplication:\n  checkpoint_interval: 100ms\n",
		kafkatest.UniqueName(t, "m"), strings.Join(src.Bootstrap, ","), strings.Join(tgt.Bootstrap, ","), topic)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := kmigrate(t, "run", "-c", cfg, "--until-caught-up", "--log-level", "warn"); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}

	out, stderr, err := kmigrate(t, "verify", "-c", cfg, "--format", "json")
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, stderr)
	}
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --format json printed %q: %v", out, err)
	}
	if !rep.Pass || rep.Mode != verify.ModeSample || rep.Partitions != 2 || len(rep.Checks) != 5 {
		t.Errorf("verify report: pass %v, mode %s, %d partitions, %d checks", rep.Pass, rep.Mode, rep.Partitions, len(rep.Checks))
	}

	md := filepath.Join(dir, "report.md")
	out, stderr, err = kmigrate(t, "verify", "-c", cfg, "--mode", "full", "--format", "markdown", "--out", md)
	if err != nil || out != "" || !strings.Contains(stderr, "verify: PASS; report written to "+md) {
		t.Errorf("verify --out: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	if b, err := os.ReadFile(md); err != nil || !strings.Contains(string(b), "## kmigrate verify: PASS") || !strings.Contains(string(b), "| full | **PASS** |") {
		t.Errorf("markdown report: %v\n%s", err, b)
	}

	out, stderr, err = kmigrate(t, "status", "-c", cfg, "--interval", "0", "--format", "json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, stderr)
	}
	var st status.Report
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --format json printed %q: %v", out, err)
	}
	// run stopped: the partitions are stopped, and the totals carry no
	// partition number.
	if st.Totals.Partitions != 2 || st.Totals.Phase != status.Stopped || st.Run.Alive || !st.Run.Known || st.Totals.CopiedRecords != 200 || st.Baseline == nil {
		t.Errorf("status totals %+v, run %+v, baseline %v", st.Totals, st.Run, st.Baseline)
	}
	if strings.Contains(out[:strings.Index(out, `"topics"`)], `"partition"`) {
		t.Errorf("status JSON totals carry a partition number:\n%s", out)
	}
	out, _, err = kmigrate(t, "status", "-c", cfg, "--interval", "10ms")
	if err != nil || !strings.Contains(out, "total: 2 partitions, stopped, 100.0% of the baseline copied, lag 0 records") || !strings.Contains(out, "ETA 0s") ||
		!strings.Contains(out, "run: not running (no live member in group kmigrate.") {
		t.Errorf("status text: %v\n%s", err, out)
	}

	tc := tgt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	kafkatest.Produce(t, tc, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("intruder")})
	out, _, err = kmigrate(t, "verify", "-c", cfg, "--mode", "counts")
	if code := exitCode(err); code != 1 {
		t.Errorf("verify over a foreign record: exit %d (%v), want 1", code, err)
	}
	if !strings.Contains(out, "FAIL  counts") || !strings.Contains(out, topic+"[0]: target offset 100 holds a record that kmigrate did not copy") ||
		!strings.Contains(out, "RESULT: FAIL (1 of 4 checks failed: counts)") {
		t.Errorf("failing verify report:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "-c", cfg, "--mode", "deep"}, `--mode "deep": use counts, sample or full`},
		{[]string{"verify", "-c", cfg, "--format", "xml"}, `--format "xml": use one of text, json, yaml, markdown`},
		{[]string{"verify", "-c", cfg, "--topics", "("}, `--topics "("`},
		{[]string{"status", "-c", cfg, "--watch", "--interval", "0"}, "--interval 0s: must be positive"},
	} {
		_, _, err := kmigrate(t, tc.args...)
		var ee *ExitError
		if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kmigrate %v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}
