package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestDemo runs `kmigrate demo` as a script would: no server, a short live
// phase. It must pass, say so, and take well under a minute.
func TestDemo(t *testing.T) {
	var out, errOut kafkatest.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	err := Run(ctx, []string{"demo", "--no-serve", "--duration", "2s"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	elapsed := time.Since(start)
	t.Logf("demo took %s; output:\n%s", elapsed.Round(time.Millisecond), out.String())
	if code := ExitCode(err, io.Discard); code != 0 {
		t.Fatalf("exit code %d (%v); stderr:\n%s", code, err, errOut.String())
	}
	story := out.String()
	for _, want := range []string{
		"1. scan       aws: 3 brokers, 4 topics (1 compacted), 17 partitions",
		"2. plan       create 4 topics (17 partitions) on gcp; 0 blockers",
		"3. replicate  backlog copied",
		"4. translate  consumer groups: 5 groups, 25/25 partitions in-sync",
		"records written: user-events",
		"less the 1,200 older ones deleted from the head of audit-log",
		"5. verify     PASS sample",
		"verify PASS full",
	} {
		if !strings.Contains(story, want) {
			t.Errorf("the story lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^PASS  [0-9,]+ records in 4 topics \(17 partitions\) copied`).MatchString(story) {
		t.Error("no PASS summary line")
	}
	if strings.Contains(story, "dashboard") {
		t.Error("--no-serve printed a dashboard address")
	}
	if elapsed > time.Minute {
		t.Errorf("the demo took %s, more than a minute", elapsed)
	}
}

// TestDemoBusyListen: a --listen address that is taken is refused at once,
// before the clusters start.
func TestDemoBusyListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errOut kafkatest.SyncBuffer
	err = Run(context.Background(), []string{"demo", "--listen", ln.Addr().String(), "--duration", "0"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if err == nil || !strings.Contains(err.Error(), "--listen "+ln.Addr().String()) {
		t.Errorf("demo on a busy --listen: %v", err)
	}
	if strings.Contains(out.String(), "1. scan") || strings.Contains(out.String(), "clusters ") {
		t.Errorf("the demo started before refusing the busy address:\n%s", out.String())
	}
}

// TestDemoServesDashboard runs the demo with its server on a free port and
// checks what an operator and a scraper see while it runs, then the JSON
// summary.
func TestDemoServesDashboard(t *testing.T) {
	var out, story kafkatest.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--duration", "8s", "--format", "json"},
			Streams{In: strings.NewReader(""), Out: &out, Err: &story})
	}()
	var url string
	waitForDemo(t, 60*time.Second, done, "the dashboard address", func() bool {
		m := regexp.MustCompile(`dashboard +(http://127\.0\.0\.1:[0-9]+/)`).FindStringSubmatch(story.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})

	var st struct {
		Phase    string `json:"phase"`
		Ready    bool   `json:"ready"`
		Overview struct {
			Topics        int   `json:"topics"`
			Partitions    int   `json:"partitions"`
			CopiedRecords int64 `json:"copied_records"`
			BaselineKnown bool  `json:"baseline_known"`
		} `json:"overview"`
		Groups *struct {
			Partitions int `json:"partitions"`
		} `json:"groups"`
		Verify *struct {
			Pass bool `json:"pass"`
		} `json:"verify"`
	}
	waitForDemo(t, 30*time.Second, done, "a following status with groups, a verification and the baseline", func() bool {
		if err := fetchJSON(url+"api/status", &st); err != nil {
			t.Fatal(err)
		}
		return st.Phase == "following" && st.Ready && st.Groups != nil && st.Verify != nil && st.Overview.BaselineKnown
	})
	if st.Overview.Topics != 4 || st.Overview.Partitions != 17 || st.Overview.CopiedRecords < 20000 || st.Groups.Partitions != 25 || !st.Verify.Pass {
		t.Errorf("status %+v, groups %+v, verify %+v", st.Overview, *st.Groups, *st.Verify)
	}

	body, code := fetchText(t, url+"metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, name := range []string{
		`kmigrate_replication_lag_records{partition="0",topic="user-events"}`,
		`kmigrate_replication_lag_seconds{partition="0",topic="user-events"}`,
		`kmigrate_records_copied_total{topic="order-updates"}`,
		`kmigrate_bytes_copied_total{topic="tenant-config"}`,
		`kmigrate_replication_latency_seconds_bucket{le="0.1"}`,
		`kmigrate_offset_map_runs{partition="2",topic="tenant-config"}`,
		`kmigrate_group_partitions{status="in-sync"} 25`,
		`kmigrate_verify_check_passed{check="sample",mode="sample"} 1`,
		`kmigrate_verify_passed 1`,
		`kmigrate_baseline_progress_ratio 1`,
		`kmigrate_events_total{level="info"}`,
		`kmigrate_kafka_produce_bytes_total{cluster="target"`,
		`kmigrate_kafka_fetch_bytes_total{cluster="source"`,
		`kmigrate_checkpoints_total`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if _, code := fetchText(t, url+"-/ready"); code != 200 {
		t.Errorf("/-/ready: %d while caught up", code)
	}
	if page, _ := fetchText(t, url); !strings.Contains(page, "assets/app.js") {
		t.Errorf("dashboard page: %.200s", page)
	}

	select {
	case err := <-done:
		if code := ExitCode(err, io.Discard); code != 0 {
			t.Fatalf("exit code %d (%v); story:\n%s", code, err, story.String())
		}
	case <-ctx.Done():
		t.Fatal("the demo did not finish")
	}
	var res DemoResult
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out.String())
	}
	if !res.Pass || res.Dashboard != url || res.Copied < 20000 || res.Groups == nil || !res.Groups.AllInSync() ||
		res.Verify == nil || res.Verify.Mode != "full" || !res.Verify.Pass || res.Lost != 0 {
		t.Errorf("summary %+v", res)
	}
	if c := res.Cutover; c == nil || c.Decision != "GO" || !c.Sealed || len(c.Steps) != 8 {
		t.Errorf("the demo's cutover: %+v, want GO, sealed, 8 steps", c)
	}
	if _, err := http.Get(url + "-/healthy"); err == nil {
		t.Error("the dashboard still answers after the demo ended")
	}
}

// waitForDemo calls cond until it holds; it fails the test at the deadline or when
// the command ends first.
func waitForDemo(t *testing.T, timeout time.Duration, done chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("the demo ended (%v) before %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fetchJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func fetchText(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
