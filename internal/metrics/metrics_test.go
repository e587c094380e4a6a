package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kmigrate/kmigrate/internal/verify"
)

// udpSink collects the lines of every datagram sent to it.
type udpSink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []string
	max  int // largest datagram seen
}

func newUDPSink(t *testing.T) *udpSink {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.max = max(s.max, n)
			s.got = append(s.got, strings.Split(string(buf[:n]), "\n")...)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

// waitFor polls until every line in want was received, and returns (and
// forgets) everything received so far.
func (s *udpSink) waitFor(t *testing.T, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := append([]string(nil), s.got...)
		s.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			s.mu.Lock()
			s.got = nil
			s.mu.Unlock()
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("line %q never arrived; got:\n%s", missing, strings.Join(got, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(list []string, v string) bool {
	for _, l := range list {
		if l == v {
			return true
		}
	}
	return false
}

func TestDogStatsD(t *testing.T) {
	sink := newUDPSink(t)
	reg := prometheus.NewRegistry()
	copied := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kmigrate_records_copied_total", Help: "h"}, []string{"topic"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kmigrate_replication_lag_records", Help: "h"}, []string{"topic", "partition"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kmigrate_replication_latency_seconds", Help: "h", Buckets: []float64{0.1, 1}})
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_goroutines", Help: "h"})
	reg.MustRegister(copied, lag, latency, other)
	copied.WithLabelValues("orders").Add(5)
	lag.WithLabelValues("orders|x", "3").Set(42)
	latency.Observe(0.05)
	latency.Observe(0.5)
	other.Set(7)

	d, err := NewDogStatsD(sink.conn.LocalAddr().String(), reg, []string{"env:test", " "}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Push(); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t,
		"kmigrate.records_copied.count:5|c|#env:test,topic:orders",
		"kmigrate.replication_lag_records:42|g|#env:test,partition:3,topic:orders_x",
		"kmigrate.replication_latency_seconds.count:2|c|#env:test",
		"kmigrate.replication_latency_seconds.sum:0.55|c|#env:test",
		"kmigrate.replication_latency_seconds.bucket:1|c|#env:test,upper_bound:0.1",
		"kmigrate.replication_latency_seconds.bucket:2|c|#env:test,upper_bound:1",
		"kmigrate.replication_latency_seconds.bucket:2|c|#env:test,upper_bound:inf",
		"kmigrate.go_goroutines:7|g|#env:test",
	)

	// The second push sends counters as the increase since the first.
	copied.WithLabelValues("orders").Add(2)
	lag.WithLabelValues("orders|x", "3").Set(40)
	if err := d.Push(); err != nil {
		t.Fatal(err)
	}
	got := sink.waitFor(t,
		"kmigrate.records_copied.count:2|c|#env:test,topic:orders",
		"kmigrate.replication_lag_records:40|g|#env:test,partition:3,topic:orders_x",
		"kmigrate.replication_latency_seconds.count:0|c|#env:test",
	)
	if contains(got, "kmigrate.records_copied.count:7|c|#env:test,topic:orders") {
		t.Errorf("the second push sent the counter's total, not its increase:\n%s", strings.Join(got, "\n"))
	}
}

func TestDogStatsDPacksDatagrams(t *testing.T) {
	sink := newUDPSink(t)
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kmigrate_replication_lag_records", Help: "h"}, []string{"topic", "partition"})
	reg.MustRegister(g)
	var want []string
	for p := range 200 {
		g.WithLabelValues("user-events", strings.Repeat("9", 3)+string(rune('a'+p%26))+string(rune('a'+p/26))).Set(float64(p))
	}
	d, err := NewDogStatsD(sink.conn.LocalAddr().String(), reg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Push(); err != nil {
		t.Fatal(err)
	}
	want = append(want, "kmigrate.replication_lag_records:199|g|#partition:999rh,topic:user-events")
	got := sink.waitFor(t, want...)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		sink.mu.Lock()
		got = append(got, sink.got...)
		sink.got = nil
		sink.mu.Unlock()
	}
	if len(got) != 200 {
		t.Errorf("received %d lines, want 200", len(got))
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.max > maxDatagram || sink.max < maxDatagram/2 {
		t.Errorf("largest datagram %d bytes, want lines packed up to %d", sink.max, maxDatagram)
	}
}

func TestDogStatsDRunPushesUntilCancelled(t *testing.T) {
	sink := newUDPSink(t)
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kmigrate_checkpoints_total", Help: "h"})
	reg.MustRegister(c)
	c.Add(3)
	d, err := NewDogStatsD(sink.conn.LocalAddr().String(), reg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx, 20*time.Millisecond) }()
	sink.waitFor(t, "kmigrate.checkpoints.count:3|c")
	c.Add(4)
	cancel()
	<-done
	// The final push on cancel carries the last increments.
	sink.waitFor(t, "kmigrate.checkpoints.count:4|c")
}

func TestVerifyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewVerify(reg)
	// Before any verification: no result series (a 0 would fire the alert
	// kmigrate_verify_passed == 0 for ever), the runs counter at 0.
	if n, err := testutil.GatherAndCount(reg, "kmigrate_verify_passed", "kmigrate_verify_last_run_timestamp_seconds", "kmigrate_verify_last_run_duration_seconds"); err != nil || n != 0 {
		t.Errorf("%d verification result series before any verification (%v), want none", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "kmigrate_verify_runs_total"); err != nil || n != 3 {
		t.Errorf("%d kmigrate_verify_runs_total series before any verification (%v), want pass, pending and fail at 0", n, err)
	}
	started := time.Unix(1700000000, 0)
	m.Observe(&verify.Report{Mode: verify.ModeSample, Started: started, Seconds: 1.5, Pass: false, Checks: []*verify.Check{
		{Name: verify.CheckCoverage, Pass: true, Checked: 20},
		{Name: verify.CheckSample, Pass: false, Checked: 20, Failed: 2},
	}})
	want := `
# HELP kmigrate_verify_check_failed_items Items (partitions, topics, group partitions) that failed a check of the latest verification.
# TYPE kmigrate_verify_check_failed_items gauge
kmigrate_verify_check_failed_items{check="coverage",mode="sample"} 0
kmigrate_verify_check_failed_items{check="sample",mode="sample"} 2
# HELP kmigrate_verify_check_passed 1 when a check of the latest verification passed, 0 when it failed.
# TYPE kmigrate_verify_check_passed gauge
kmigrate_verify_check_passed{check="coverage",mode="sample"} 1
kmigrate_verify_check_passed{check="sample",mode="sample"} 0
# HELP kmigrate_verify_passed 1 when the latest verification passed every check, 0 when it failed or is pending; absent before the first.
# TYPE kmigrate_verify_passed gauge
kmigrate_verify_passed 0
# HELP kmigrate_verify_last_run_timestamp_seconds Unix time the latest verification started; absent before the first.
# TYPE kmigrate_verify_last_run_timestamp_seconds gauge
kmigrate_verify_last_run_timestamp_seconds 1.7e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"kmigrate_verify_check_failed_items", "kmigrate_verify_check_passed", "kmigrate_verify_passed", "kmigrate_verify_last_run_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	// A later run in another mode replaces the series of the earlier one.
	m.Observe(&verify.Report{Mode: verify.ModeCounts, Started: started, Pass: true, Checks: []*verify.Check{{Name: verify.CheckCounts, Pass: true, Checked: 20}}})
	if n := testutil.CollectAndCount(m.check); n != 1 {
		t.Errorf("%d check series after the second run, want 1", n)
	}
	if v := testutil.ToFloat64(m.runs.WithLabelValues("fail")); v != 1 {
		t.Errorf("runs{result=fail} = %v, want 1", v)
	}
}

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kmigrate_checkpoints_total", Help: "Checkpoints."})
	reg.MustRegister(c)
	c.Inc()
	srv := httptest.NewServer(Handler(reg, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(strings.Builder)
	if _, err := io.Copy(body, resp.Body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.String(), "kmigrate_checkpoints_total 1") {
		t.Errorf("body lacks the counter:\n%s", body)
	}
}
