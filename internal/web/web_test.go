package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// fakeSource is a Source the test changes at will.
type fakeSource struct {
	mu   sync.Mutex
	snap Snapshot
}

func (f *fakeSource) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snap
	s.Partitions = append([]replicate.PartitionStatus(nil), f.snap.Partitions...)
	s.Events = append([]replicate.Event(nil), f.snap.Events...)
	return s
}

func (f *fakeSource) update(fn func(*Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.snap)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// demoSnapshot is a migration in progress: two topics, one partition failed,
// a baseline, a group pass and a verification.
func demoSnapshot() Snapshot {
	return Snapshot{
		Migration: "aws-to-gcp",
		Started:   true,
		Partitions: []replicate.PartitionStatus{
			{Topic: "orders", Partition: 0, TargetTopic: "gcp.orders", SrcBegin: 100, SrcNext: 600, SrcEnd: 700, TgtNext: 500, Lag: 100, LagSeconds: 2.5, Copied: 500, Bytes: 50000, Runs: 1},
			{Topic: "orders", Partition: 1, TargetTopic: "gcp.orders", SrcBegin: 0, SrcNext: 1000, SrcEnd: 1000, TgtNext: 1000, Copied: 1000, Bytes: 100000, Runs: 3,
				Lost: []state.LostRange{{From: 10, To: 14}}},
			{Topic: "users", Partition: 0, TargetTopic: "gcp.users", SrcBegin: 0, SrcNext: 40, SrcEnd: 50, TgtNext: 40, Lag: 10, LagSeconds: 9, Copied: 40, Bytes: 4000, Runs: 1,
				Error: "source users[0] offset 40: boom"},
		},
		Baseline: &state.Baseline{EndOffsets: map[string]map[int32]int64{"orders": {0: 650, 1: 800}}},
		Groups: &groups.Report{Time: t0, Groups: 2, Rows: []groups.Row{
			{Group: "billing", Topic: "orders", Partition: 0, Status: groups.InSync, SourceLag: 5, TargetLag: 5},
			{Group: "billing", Topic: "orders", Partition: 1, Status: groups.Pending, Reason: "beyond the copy", SourceLag: 7, TargetLag: 9},
			{Group: "search", Topic: "users", Partition: 0, Status: groups.InSync, SourceLag: 1, TargetLag: 1},
		}, Errors: []string{"group x: refused"}},
		Verify: &verify.Report{Mode: verify.ModeSample, Started: t0, Seconds: 1.25, Pass: false, Checks: []*verify.Check{
			{Name: verify.CheckCounts, Pass: true, Checked: 3, Unit: "partitions", Summary: "all agree"},
			{Name: verify.CheckSample, Pass: false, Checked: 36, Failed: 1, Unit: "records", Summary: "one differs",
				Failures: []verify.Failure{{Kind: "differs", Message: "orders[0] offset 5: value differs"}}},
		}},
		Clusters: []ClusterInfo{
			{Role: "source", ClusterID: "aws-msk-7Qx", Version: "v3.9", Brokers: 3, Bootstrap: []string{"b-1.msk:9098"}, Seen: t0},
			{Role: "target", ClusterID: "gcp-kafka-K2f", Version: "v4.1", Brokers: 3, Bootstrap: []string{"kafka.gcp:9092"}, Seen: t0},
		},
		GroupSync:      true,
		ProcessStarted: t0.Add(-90 * time.Minute),
		Events: []replicate.Event{
			{Time: t0, Level: "info", Topic: "orders", Message: "target topic gcp.orders created"},
			{Time: t0.Add(time.Second), Level: "error", Topic: "users", Message: "partition users[0] stopped"},
		},
	}
}

func TestBuildStatus(t *testing.T) {
	st := buildStatus(demoSnapshot(), t0, status.Rates{}, nil, 1000)
	ov := st.Overview
	checks := []struct {
		name      string
		got, want any
	}{
		{"phase", st.Phase, status.Failed},
		{"run alive", st.Run.Alive && st.Run.Self, true},
		{"drill-down", len(st.Partitions), 3},
		{"orders[0] phase", st.Partitions[0].Phase, status.Following},
		{"ready", st.Ready, false},
		{"ready reason", st.ReadyReason, "1 partition(s) stopped with an error"},
		{"topics", ov.Topics, 2},
		{"partitions", ov.Partitions, 3},
		{"failed", ov.FailedPartitions, 1},
		// orders[0]: baseline 650 from 100 → 550, 500 done; orders[1]: 800 → 800 done;
		// users[0] is not in the baseline: 50 from 0, 40 done.
		{"baseline records", ov.BaselineRecords, int64(550 + 800 + 50)},
		{"baseline copied", ov.BaselineCopied, int64(500 + 800 + 40)},
		{"baseline known", ov.BaselineKnown, true},
		{"copied", ov.CopiedRecords, int64(1540)},
		{"bytes", ov.CopiedBytes, int64(154000)},
		{"lag", ov.LagRecords, int64(110)},
		{"lag seconds", ov.LagSeconds, 9.0},
		{"users[0] phase", st.Partitions[2].Phase, status.Failed},
		{"lost", ov.LostRecords, int64(4)},
		{"runs", ov.MapRuns, 5},
		{"eta unknown without rates", ov.ETASeconds == nil, true},
		{"rate unknown", ov.RecordsPerSecond == nil, true},
		{"topic order", st.Topics[0].Topic + "," + st.Topics[1].Topic, "orders,users"},
		{"orders phase", st.Topics[0].Phase, status.Following},
		{"orders partitions", st.Topics[0].Partitions, 2},
		{"orders progress", fmt.Sprintf("%.4f", st.Topics[0].BaselineProgress), fmt.Sprintf("%.4f", 1300.0/1350.0)},
		{"users phase", st.Topics[1].Phase, status.Failed},
		{"errors", len(st.Errors), 1},
		{"error text", st.Errors[0].Error, "source users[0] offset 40: boom"},
		{"groups rows", len(st.Groups.Rows), 2},
		{"billing status", st.Groups.Rows[0].Status, groups.Pending},
		{"billing reason", st.Groups.Rows[0].Reason, "beyond the copy"},
		{"billing target lag", st.Groups.Rows[0].TargetLag, int64(14)},
		{"search status", st.Groups.Rows[1].Status, groups.InSync},
		{"group counts", st.Groups.Counts[groups.InSync], 2},
		{"group errors", len(st.Groups.Errors), 1},
		{"verify pass", st.Verify.Pass, false},
		{"verify failure", st.Verify.Checks[1].Failures[0], "orders[0] offset 5: value differs"},
		{"events newest first", st.Events[0].Level, "error"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestPhasesAndReadiness(t *testing.T) {
	caughtUp := []replicate.PartitionStatus{{Topic: "a", SrcNext: 10, SrcEnd: 10, TgtNext: 10, Copied: 10}}
	lagging := []replicate.PartitionStatus{{Topic: "a", SrcNext: 10, SrcEnd: 2010, Lag: 2000, LagSeconds: 30}}
	for _, c := range []struct {
		name   string
		snap   Snapshot
		phase  status.Phase
		ready  bool
		reason string
	}{
		{"starting", Snapshot{}, status.NotStarted, false, "the copy engine is starting"},
		{"caught up", Snapshot{Started: true, Partitions: caughtUp}, status.Following, true, ""},
		{"lag above the limit", Snapshot{Started: true, Partitions: lagging}, status.CatchingUp, false, "lag of 2000 records is above http.ready_max_lag (1000)"},
		{"no topics", Snapshot{Started: true}, status.NotStarted, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := buildStatus(c.snap, t0, status.Rates{}, nil, 1000)
			if st.Phase != c.phase || st.Ready != c.ready || st.ReadyReason != c.reason {
				t.Errorf("phase %q ready %v reason %q; want %q %v %q", st.Phase, st.Ready, st.ReadyReason, c.phase, c.ready, c.reason)
			}
			if c.ready && (st.Overview.ETASeconds == nil || *st.Overview.ETASeconds != 0) {
				t.Errorf("eta %v, want 0 when caught up", st.Overview.ETASeconds)
			}
		})
	}
}

func TestRates(t *testing.T) {
	now := t0
	src := &fakeSource{snap: Snapshot{Started: true, Partitions: []replicate.PartitionStatus{
		// Not fetched yet: its end is its next offset.
		{Topic: "a", Partition: 0, SrcNext: 500, SrcEnd: 500},
		{Topic: "a", Partition: 1, SrcNext: 100, SrcEnd: 300, TgtNext: 100, Lag: 200, Copied: 100, Bytes: 1000},
	}}}
	s := New(Options{Source: src, Now: func() time.Time { return now }, RateWindow: 10 * time.Second})
	s.Sample()
	if st := s.Status(); st.Overview.RecordsPerSecond != nil {
		t.Fatalf("rate %v from one sample, want null", *st.Overview.RecordsPerSecond)
	}
	now = now.Add(2 * time.Second)
	src.update(func(sn *Snapshot) {
		// a[0] is fetched: its end jumps from 500 to 5000, which is discovery,
		// not growth. a[1] copied 200 and its source grew by 100.
		sn.Partitions[0] = replicate.PartitionStatus{Topic: "a", Partition: 0, SrcNext: 500, SrcEnd: 5000, Lag: 4500}
		sn.Partitions[1] = replicate.PartitionStatus{Topic: "a", Partition: 1, SrcNext: 300, SrcEnd: 400, TgtNext: 300, Lag: 100, Copied: 300, Bytes: 3000}
	})
	s.Sample()
	ov := s.Status().Overview
	if ov.RecordsPerSecond == nil || *ov.RecordsPerSecond != 100 {
		t.Errorf("records/s %v, want 100", ov.RecordsPerSecond)
	}
	if ov.BytesPerSecond == nil || *ov.BytesPerSecond != 1000 {
		t.Errorf("bytes/s %v, want 1000", ov.BytesPerSecond)
	}
	if ov.SourceRecordsPerSecond == nil || *ov.SourceRecordsPerSecond != 50 {
		t.Errorf("source records/s %v, want 50 (the discovery of a[0]'s end excluded)", ov.SourceRecordsPerSecond)
	}
	// Lag 4600 at a gain of 100-50 records/s.
	if ov.ETASeconds == nil || *ov.ETASeconds != 92 {
		t.Errorf("eta %v, want 92", ov.ETASeconds)
	}
	// Samples older than the window are dropped, but one at the window start is kept.
	for range 20 {
		now = now.Add(time.Second)
		s.Sample()
	}
	if ov := s.Status().Overview; ov.RateWindowSeconds != 10 || *ov.RecordsPerSecond != 0 || ov.ETASeconds != nil {
		t.Errorf("after 20 idle seconds: window %v, rate %v, eta %v; want 10, 0, null", ov.RateWindowSeconds, *ov.RecordsPerSecond, ov.ETASeconds)
	}
}

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kmigrate_checkpoints_total", Help: "Checkpoints."})
	reg.MustRegister(c)
	src := &fakeSource{snap: demoSnapshot()}
	h := New(Options{Source: src, Gatherer: reg, ReadyMaxLag: 1000}).Handler()

	for _, c := range []struct {
		method, path string
		code         int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="assets/app.js"`},
		{"GET", "/assets/app.js", 200, "text/javascript; charset=utf-8", "api/status"},
		{"GET", "/assets/style.css", 200, "text/css; charset=utf-8", ".cards"},
		{"GET", "/api/status", 200, "application/json", `"migration": "aws-to-gcp"`},
		{"GET", "/api/partitions", 200, "application/json", `"target_topic": "gcp.users"`},
		{"GET", "/api/groups", 200, "application/json", `"reason": "beyond the copy"`},
		{"GET", "/api/verify", 200, "application/json", `"kind": "differs"`},
		{"GET", "/api/events", 200, "application/json", `"partition users[0] stopped"`},
		{"GET", "/metrics", 200, "", "kmigrate_checkpoints_total 0"},
		{"GET", "/-/healthy", 200, "text/plain; charset=utf-8", "kmigrate is healthy."},
		{"HEAD", "/-/healthy", 200, "text/plain; charset=utf-8", ""},
		{"GET", "/-/ready", 503, "text/plain; charset=utf-8", "kmigrate is not ready: 1 partition(s) stopped with an error."},
		{"GET", "/nothing-here", 404, "", ""},
		{"POST", "/api/status", 405, "", "read-only"},
		{"DELETE", "/", 405, "", "read-only"},
		{"PUT", "/-/ready", 405, "", "read-only"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := get(t, h, c.method, c.path)
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.code, rec.Body)
			}
			if c.ctype != "" && rec.Header().Get("Content-Type") != c.ctype {
				t.Errorf("content type %q, want %q", rec.Header().Get("Content-Type"), c.ctype)
			}
			if !strings.Contains(rec.Body.String(), c.body) {
				t.Errorf("body lacks %q:\n%s", c.body, rec.Body)
			}
			if c.code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
			if csp := rec.Header().Get("Content-Security-Policy"); c.code != 405 && !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}

	// The events endpoint is newest first.
	var evs []replicate.Event
	if err := json.Unmarshal(get(t, h, "GET", "/api/events").Body.Bytes(), &evs); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Level != "error" {
		t.Errorf("events %+v, want 2, newest (error) first", evs)
	}

	// Ready once the failure is gone and the lag is within the limit.
	src.update(func(s *Snapshot) { s.Partitions = s.Partitions[:2] })
	if rec := get(t, h, "GET", "/-/ready"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "lag 100 records") {
		t.Errorf("ready: %d %s", rec.Code, rec.Body)
	}
}

func TestMetricsOffWithoutGatherer(t *testing.T) {
	h := New(Options{Source: &fakeSource{}}).Handler()
	if rec := get(t, h, "GET", "/metrics"); rec.Code != 404 {
		t.Errorf("/metrics without a gatherer: %d, want 404", rec.Code)
	}
	// An empty migration still renders a valid document with empty lists.
	var st map[string]any
	if err := json.Unmarshal(get(t, h, "GET", "/api/status").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"topics", "errors", "events"} {
		if l, ok := st[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, st[k])
		}
	}
	for _, k := range []string{"groups", "verify"} {
		if v, ok := st[k]; !ok || v != nil {
			t.Errorf("%s = %#v, want null", k, v)
		}
	}
}

// fakeEngine is an Engine for the feed.
type fakeEngine struct {
	parts []replicate.PartitionStatus
	ready chan struct{}
}

func (e *fakeEngine) Status() []replicate.PartitionStatus { return e.parts }
func (e *fakeEngine) Ready() <-chan struct{}              { return e.ready }

type fakeGroups struct{ r *groups.Report }

func (g fakeGroups) Last() *groups.Report { return g.r }

func TestFeed(t *testing.T) {
	reg := prometheus.NewRegistry()
	eng := &fakeEngine{ready: make(chan struct{}), parts: []replicate.PartitionStatus{
		{Topic: "a", SrcBegin: 0, SrcNext: 30, SrcEnd: 100, Lag: 70},
	}}
	f := NewFeed("m", eng, reg)
	if s := f.Snapshot(); s.Started || s.Groups != nil || s.Verify != nil || s.Baseline != nil || len(s.Events) != 0 || s.Migration != "m" {
		t.Fatalf("fresh feed snapshot %+v", s)
	}
	close(eng.ready)
	rep := &groups.Report{Groups: 1}
	f.SetGroups(fakeGroups{rep})
	vr := &verify.Report{Pass: true}
	f.SetVerify(vr)
	for i := range maxEvents + 5 {
		f.Event(replicate.Event{Level: []string{"info", "warn", "error"}[i%3], Message: fmt.Sprint(i)})
	}
	s := f.Snapshot()
	if !s.Started || s.Groups != rep || s.Verify != vr || len(s.Partitions) != 1 {
		t.Errorf("snapshot %+v", s)
	}
	if len(s.Events) != maxEvents || s.Events[0].Message != "5" || s.Events[maxEvents-1].Message != fmt.Sprint(maxEvents+4) {
		t.Errorf("kept %d events from %q to %q; want the last %d", len(s.Events), s.Events[0].Message, s.Events[len(s.Events)-1].Message, maxEvents)
	}
	if v := testutil.ToFloat64(f.events.WithLabelValues("error")); v != float64((maxEvents+5)/3) {
		t.Errorf("kmigrate_events_total{level=error} = %v", v)
	}
	// Against the current end until the baseline is known, then against it.
	if v := gathered(t, reg, "kmigrate_baseline_progress_ratio", ""); v != 0.3 {
		t.Errorf("baseline progress %v, want 0.3", v)
	}
	if v := gathered(t, reg, "kmigrate_partition_phase_count", "following"); v != 0 {
		t.Errorf("kmigrate_partition_phase_count{phase=following} = %v, want 0", v)
	}
	if v := gathered(t, reg, "kmigrate_partition_phase_count", "catching-up"); v != 1 {
		t.Errorf("kmigrate_partition_phase_count{phase=catching-up} = %v, want 1", v)
	}
	f.SetBaseline(&state.Baseline{EndOffsets: map[string]map[int32]int64{"a": {0: 40}}})
	if v := gathered(t, reg, "kmigrate_baseline_progress_ratio", ""); v != 0.75 {
		t.Errorf("baseline progress %v, want 0.75", v)
	}
	if n, err := testutil.GatherAndCount(reg, "kmigrate_baseline_progress_ratio", "kmigrate_events_total"); err != nil || n != 4 {
		t.Errorf("gathered %d series (%v), want 4", n, err)
	}
}

func TestServeShutsDown(t *testing.T) {
	srv := New(Options{Source: &fakeSource{snap: demoSnapshot()}, SampleInterval: 10 * time.Millisecond})
	ln := listen(t)
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/-/healthy")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "healthy") {
		t.Errorf("healthy: %s", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/-/healthy"); err == nil {
		t.Error("the server still answers after Serve returned")
	}
}

// gathered returns the value of the series of name in reg whose phase label
// is phase ("" for a series without labels).
func gathered(t *testing.T, reg *prometheus.Registry, name, phase string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" {
					got = l.GetValue()
				}
			}
			if got == phase {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{phase=%q}", name, phase)
	return 0
}
