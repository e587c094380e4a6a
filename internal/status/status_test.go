package status

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 11, 25, 12, 0, 5, 0, time.UTC)

func alive() Run {
	return Run{Known: true, Alive: true, Group: "kmigrate.m.writer", Members: 1, Hosts: []string{"h1 (pid 7)"}}
}

func TestPhase(t *testing.T) {
	started := Observation{Topic: "t", Started: true, SourceEnd: 1000, CopiedUpTo: 940, TargetEnd: 940}
	for _, tc := range []struct {
		name string
		run  Run
		obs  Observation
		rate *PartitionRate
		want Phase
	}{
		{"no map, run alive", alive(), Observation{Topic: "t", SourceEnd: 10}, nil, NotStarted},
		{"no map, no run", Run{Known: true}, Observation{Topic: "t", SourceEnd: 10}, nil, NotStarted},
		{"error", alive(), Observation{Topic: "t", Started: true, Error: "boom"}, nil, Failed},
		{"source topic gone", alive(), Observation{Topic: "t", Started: true, Gone: true}, nil, Failed},
		{"map, no run: stopped even without lag", Run{Known: true}, Observation{Topic: "t", Started: true, SourceEnd: 5, CopiedUpTo: 5}, nil, Stopped},
		{"map, no run, lag", Run{Known: true}, func() Observation { o := started; o.LagSeconds = 600; return o }(), nil, Stopped},
		// The steady state the issue saw: 60 records, 274 ms behind.
		{"steady state", alive(), func() Observation { o := started; o.LagSeconds = 0.274; return o }(), nil, Following},
		{"no lag", alive(), Observation{Topic: "t", Started: true, SourceEnd: 5, CopiedUpTo: 5}, nil, Following},
		{"old backlog", alive(), func() Observation { o := started; o.LagSeconds = 600; return o }(), nil, CatchingUp},
		{"old backlog, gone in 1s at this rate", alive(), func() Observation { o := started; o.LagSeconds = 600; return o }(), &PartitionRate{Records: 100}, Following},
		{"old backlog, falling behind", alive(), func() Observation { o := started; o.LagSeconds = 600; return o }(), &PartitionRate{Records: 100, Source: 200}, CatchingUp},
		{"liveness unknown: not called stopped", Run{Error: "denied"}, func() Observation { o := started; o.LagSeconds = 600; return o }(), nil, CatchingUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Migration: "m", Taken: t0, Run: tc.run, Observations: []Observation{tc.obs}}
			if tc.rate != nil {
				in.Rates = Rates{Known: true, Window: 1, Partitions: map[key]PartitionRate{{tc.obs.Topic, tc.obs.Partition}: *tc.rate}}
			}
			rep := Build(in)
			if got := rep.Partitions[0].Phase; got != tc.want {
				t.Errorf("phase %s, want %s", got, tc.want)
			}
			if rep.Totals.Phase != tc.want || rep.Topics[0].Phase != tc.want {
				t.Errorf("one partition: totals %s, topic %s, want %s", rep.Totals.Phase, rep.Topics[0].Phase, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []Phase
		want Phase
	}{
		{nil, NotStarted},
		{[]Phase{Following, Following}, Following},
		{[]Phase{Following, Failed, Stopped}, Failed},
		{[]Phase{NotStarted, NotStarted}, NotStarted},
		{[]Phase{NotStarted, Stopped}, Stopped},
		{[]Phase{Following, NotStarted}, CatchingUp},
		{[]Phase{Following, CatchingUp}, CatchingUp},
	} {
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestETA(t *testing.T) {
	if e := ETA(100, 30, 10); e == nil || *e != 5 {
		t.Errorf("ETA(100 records, 30/s, source 10/s) = %v, want 5s", e)
	}
	if e := ETA(100, 10, 30); e != nil {
		t.Errorf("ETA while falling behind = %v, want none", *e)
	}
	if e := ETA(0, 0, 5); e == nil || *e != 0 {
		t.Errorf("ETA when caught up = %v, want 0", e)
	}
}

func TestBaselineProgress(t *testing.T) {
	b := &state.Baseline{TakenMilli: t0.UnixMilli(), EndOffsets: map[string]map[int32]int64{"t": {0: 200, 1: 200}}}
	rep := Build(Input{Migration: "m", Taken: t0, Run: alive(), Baseline: b, Observations: []Observation{
		{Topic: "t", Partition: 0, Started: true, CopyBegin: 100, CopiedUpTo: 150, SourceEnd: 300},
		{Topic: "t", Partition: 1, Started: true, CopyBegin: 100, CopiedUpTo: 900, SourceEnd: 900},
		{Topic: "u", Partition: 0, Started: true, CopyBegin: 0, CopiedUpTo: 10, SourceEnd: 40}, // not in the baseline: the source end
		{Topic: "v", Partition: 0, SourceStart: 5, SourceEnd: 25},                              // not started
	}})
	for i, want := range []float64{0.5, 1, 0.25, 0} {
		if got := rep.Partitions[i].BaselineProgress; got != want {
			t.Errorf("%s[%d] progress %v, want %v", rep.Partitions[i].Topic, rep.Partitions[i].Partition, got, want)
		}
	}
	if got := rep.Totals.BaselineRecords; got != 100+100+40+20 {
		t.Errorf("baseline records %d", got)
	}
	if got := rep.Totals.BaselineCopied; got != 50+100+10 {
		t.Errorf("baseline copied %d", got)
	}
	if rep.Partitions[3].LagRecords != 20 {
		t.Errorf("not-started lag %d, want the whole partition (20)", rep.Partitions[3].LagRecords)
	}
}

func TestHistoryRates(t *testing.T) {
	h := NewHistory(10*time.Second, 3)
	obs := func(written, end, bytes int64, endKnown bool) []Observation {
		return []Observation{
			{Topic: "t", Started: true, TargetEnd: written, CopiedUpTo: written, SourceEnd: end, SourceEndKnown: endKnown, Bytes: bytes},
			{Topic: "t", Partition: 1, Error: "boom", TargetEnd: 999},
		}
	}
	if r := h.Add(t0, obs(0, 100, 0, false)); r.Known {
		t.Fatalf("rates from one sample: %+v", r)
	}
	r := h.Add(t0.Add(2*time.Second), obs(1000, 1200, 5000, true))
	if !r.Known || r.Records != 500 || r.Bytes != 2500 || r.Source != 0 || r.Window != 2 {
		t.Errorf("rates %+v; want 500 records/s, 2500 B/s, no source rate (the end was not known before)", r)
	}
	r = h.Add(t0.Add(4*time.Second), obs(2000, 1600, 10000, true))
	if r.Source != 0 || r.Records != 500 || r.Partitions[key{"t", 0}].Records != 500 {
		t.Errorf("rates %+v", r)
	}
	if _, ok := r.Partitions[key{"t", 1}]; ok {
		t.Error("a failed partition has a rate")
	}
	// The window drops samples older than 10s but keeps one at its start.
	r = h.Add(t0.Add(20*time.Second), obs(2000, 1600, 10000, true))
	if r.Window != 16 || r.Records != 0 {
		t.Errorf("after a quiet spell: %+v", r)
	}
	for i := range 4 {
		h.Record(&Report{Taken: t0.Add(time.Duration(i) * time.Second), Totals: Totals{LagRecords: int64(i)}})
	}
	if p := h.Points(); len(p) != 3 || p[0].LagRecords != 1 || p[2].LagRecords != 3 {
		t.Errorf("points %+v, want the last 3", p)
	}
}

func TestFromEngine(t *testing.T) {
	o := FromEngine(replicate.PartitionStatus{Topic: "t", SrcBegin: 10, SrcNext: 10, SrcEnd: 10, TgtStart: 0, TgtNext: 0})
	if !o.Started || o.SourceEndKnown {
		t.Errorf("before the first fetch: %+v, want started with the end unknown", o)
	}
	o = FromEngine(replicate.PartitionStatus{Topic: "t", SrcBegin: 10, SrcNext: 60, SrcEnd: 70, TgtStart: 5, TgtNext: 55, Copied: 50})
	if !o.SourceEndKnown || o.Copied != 50 || o.TargetEnd != 55 {
		t.Errorf("copying: %+v", o)
	}
	o = FromEngine(replicate.PartitionStatus{Topic: "t", Error: "could not start"})
	if o.Started {
		t.Errorf("failed before it started: %+v", o)
	}
}

// sampleReport is a migration with a run alive: one partition catching up,
// one following with data lost to retention.
func sampleReport() *Report {
	b := &state.Baseline{TakenMilli: t0.Add(-time.Hour).UnixMilli(), EndOffsets: map[string]map[int32]int64{"orders": {0: 10000, 1: 500}}}
	return Build(Input{Migration: "aws-to-gcp", Taken: t0, Run: alive(), Baseline: b,
		Observations: []Observation{
			{Topic: "orders", Partition: 0, TargetTopic: "orders", Started: true, SourceEnd: 12000, SourceEndKnown: true,
				CopiedUpTo: 8000, TargetEnd: 7990, Copied: 7990, LagSeconds: 42.5},
			{Topic: "orders", Partition: 1, TargetTopic: "orders", Started: true, SourceEnd: 600, SourceEndKnown: true, CopiedUpTo: 600,
				TargetEnd: 500, Copied: 500, Lost: []state.LostRange{{From: 0, To: 100}}},
		},
		Rates: Rates{Known: true, Window: 5, Records: 1500, Source: 500, Partitions: map[key]PartitionRate{
			{"orders", 0}: {Records: 1500, Source: 500}, {"orders", 1}: {}}},
	})
}

func TestRenderings(t *testing.T) {
	rep := sampleReport()
	if rep.Totals.LagRecords != 4000 || rep.Totals.LostRecords != 100 || rep.Totals.ETASeconds == nil || *rep.Totals.ETASeconds != 4 {
		t.Errorf("totals %+v", rep.Totals)
	}
	if rep.Partitions[0].Phase != Following || rep.Totals.Phase != Following {
		t.Errorf("an ETA of 4s is following: %s, totals %s", rep.Partitions[0].Phase, rep.Totals.Phase)
	}
	var text, md, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.txt", text.Bytes())
	golden(t, "status.md", md.Bytes())
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep.Totals); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(js.String(), `"partition"`) || strings.Contains(js.String(), `"topic"`) {
		t.Errorf("totals carry per-partition fields:\n%s", js.String())
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if intended):\n%s", name, got)
	}
}
