package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
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

// liveRun is a `kmigrate run` on two embedded clusters, serving HTTP.
type liveRun struct {
	url    string
	src    *kfake.Cluster
	client *kgo.Client
	logs   *kafkatest.SyncBuffer
	stop   func() error
}

// startLiveRun starts `kmigrate run` copying topic (3 partitions, 100 records)
// between two embedded clusters and waits for its server.
func startLiveRun(t *testing.T, topic string) *liveRun {
	t.Helper()
	src, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	tgt, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tgt.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(src.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "m.yaml")
	// A consumer group half way, for group translation to translate.
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 10, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "billing", o); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("migration: live\nsource: {bootstrap_servers: [%s]}\ntarget: {bootstrap_servers: [%s]}\ngroup_sync: {interval: 200ms}\nhttp: {listen: \"127.0.0.1:0\"}\n",
		src.ListenAddrs()[0], tgt.ListenAddrs()[0])
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &kafkatest.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"run", "-c", file}, Streams{In: strings.NewReader(""), Out: io.Discard, Err: logs})
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	re := regexp.MustCompile(`url=(http://127\.0\.0\.1:[0-9]+/)`)
	var url string
	kafkatest.Eventually(t, 30*time.Second, func() error {
		m := re.FindStringSubmatch(logs.String())
		if m == nil {
			return fmt.Errorf("no server announced yet:\n%s", logs.String())
		}
		url = m[1]
		return nil
	})
	return &liveRun{url: url, src: src, client: cl, logs: logs, stop: stop}
}

// scrape returns the text of /metrics.
func (r *liveRun) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(r.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunExportsCountersFromZero scrapes a live run: the loss counter exists
// at 0 for every selected topic (an increase() alert sees the first loss),
// the verification result series are absent (run never verified), and the
// phase counts come from the status model.
func TestRunExportsCountersFromZero(t *testing.T) {
	r := startLiveRun(t, "events")
	var body string
	kafkatest.Eventually(t, 30*time.Second, func() error {
		body = r.scrape(t)
		if !strings.Contains(body, `kmigrate_partition_phase_count{phase="following"} 3`) {
			return fmt.Errorf("the 3 partitions do not follow yet:\n%s", grepLines(body, "kmigrate_partition_phase_count"))
		}
		if !strings.Contains(body, `kmigrate_cluster_info{cluster="target",`) {
			return fmt.Errorf("no target cluster identity yet")
		}
		return nil
	})
	for _, want := range []string{
		`kmigrate_source_records_lost_total{topic="events"} 0`,
		`kmigrate_cluster_brokers{cluster="source"} 1`,
		`kmigrate_group_partitions{status="skipped"} 0`,
		`kmigrate_verify_runs_total{result="fail"} 0`,
		`kmigrate_verify_runs_total{result="pending"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, re := range []string{
		`(?m)^kmigrate_build_info\{goversion="go[0-9.]+",version="[^"]+"\} 1$`,
		`(?m)^kmigrate_up\{migration="live",process="[^"]+/[0-9]+"\} 1$`,
		`(?m)^kmigrate_cluster_info\{cluster="source",cluster_id="[^"]+",version="[^"]*"\} 1$`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics has no line matching %s:\n%s", re, grepLines(body, "kmigrate_"))
		}
	}
	for _, absent := range []string{"kmigrate_verify_passed", "kmigrate_verify_last_run_timestamp_seconds"} {
		if strings.Contains(body, "\n"+absent+" ") {
			t.Errorf("/metrics has %s although run never verified", absent)
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
