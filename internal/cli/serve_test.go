package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestRunUntilCaughtUpProgress runs `kmigrate run --until-caught-up` on two
// embedded clusters with stdout not a terminal: progress comes as log lines,
// the last one at 100%, and the server is announced.
func TestRunUntilCaughtUpProgress(t *testing.T) {
	src, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tgt, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(src.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		cl.Produce(ctx, &kgo.Record{Topic: "events", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "m.yaml")
	cfg := fmt.Sprintf("migration: progress\nsource: {bootstrap_servers: [%s]}\ntarget: {bootstrap_servers: [%s]}\ngroup_sync: {enabled: false}\nhttp: {listen: \"127.0.0.1:0\"}\n",
		src.ListenAddrs()[0], tgt.ListenAddrs()[0])
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut kafkatest.SyncBuffer
	err = Run(ctx, []string{"run", "-c", file, "--until-caught-up"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	logs := errOut.String()
	if code := ExitCode(err, io.Discard); code != 0 {
		t.Fatalf("exit code %d (%v); logs:\n%s", code, err, logs)
	}
	if !regexp.MustCompile(`msg="serving the dashboard, /api/status and /metrics" url=http://127\.0\.0\.1:[0-9]+/`).MatchString(logs) {
		t.Errorf("no server announcement in the logs:\n%s", logs)
	}
	if !strings.Contains(logs, `msg="copy progress" done=3000 total=3000 percent=100.0 unit=offsets`) {
		t.Errorf("no final progress line at 100%%:\n%s", logs)
	}
	if out.String() != "" {
		t.Errorf("stdout is not a terminal, yet got %q", out.String())
	}
}
