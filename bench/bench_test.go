package main

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "2GiB", want: 2 << 30},
		{in: "200MiB", want: 200 << 20},
		{in: "20MB", want: 20_000_000},
		{in: "1.5GB", want: 1_500_000_000},
		{in: "4096", want: 4096},
		{in: "512 KiB", want: 512 << 10},
		{in: "0MB", bad: true},
		{in: "lots", bad: true},
		{in: "-1GiB", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseBytes(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseBytes(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestQuickDefaults(t *testing.T) {
	o, err := parseOptions([]string{"--quick"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.size != quickSize || o.runs != 1 || o.steady != quickSteady || o.name != "quick" {
		t.Fatalf("--quick: size %d runs %d steady %s name %s", o.size, o.runs, o.steady, o.name)
	}
	o, err = parseOptions([]string{"--quick", "--runs", "2", "--size", "64MiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.size != 64<<20 || o.runs != 2 {
		t.Fatalf("--quick with explicit flags: size %d runs %d", o.size, o.runs)
	}
	if _, err := parseOptions([]string{"--size", "1KiB"}, io.Discard); err == nil {
		t.Fatal("a data set smaller than two records per partition was accepted")
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{3, 1, math.NaN(), 2})
	if s.median != 2 || s.min != 1 || s.max != 3 || s.n != 3 {
		t.Fatalf("summarize: %+v", s)
	}
	if got := s.format("%.0f"); got != "2 (1–3)" {
		t.Fatalf("format: %q", got)
	}
	if got := summarize([]float64{1, 4}).median; got != 2.5 {
		t.Fatalf("median of two: %v", got)
	}
	if got := summarize(nil).format("%.0f"); got != "–" {
		t.Fatalf("empty: %q", got)
	}
}

func TestPercentile(t *testing.T) {
	v := make([]int64, 100)
	for i := range v {
		v[i] = int64(i+1) * 1000 // 1..100 ms in µs
	}
	for q, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := percentile(v, q); got != want {
			t.Errorf("p%v = %v, want %v", q, got, want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
}

func TestReplicationPairsByOffset(t *testing.T) {
	src, tgt := newLatencies(), newLatencies()
	src.seen[0], src.created[0] = []int64{100, 200, 300}, []int64{50, 150, 250}
	tgt.seen[0], tgt.created[0] = []int64{110, 260, 290}, []int64{50, 150, 250}
	got := replication(src, tgt, 150) // offset 0 was created before the window
	if want := []int64{0, 60}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("replication = %v, want %v", got, want)
	}
}

// BenchmarkHarnessSmoke runs the whole harness once in its smallest form against
// real clusters. It takes minutes and several JVMs, so it is a benchmark: it runs
// only when asked, never in the test suite:
//
//	go test ./bench -run '^$' -bench HarnessSmoke -benchtime 1x -timeout 20m
func BenchmarkHarnessSmoke(b *testing.B) {
	t := b
	out := t.TempDir()
	var stdout strings.Builder
	args := []string{"--quick", "--size", "32MiB", "--steady", "5s", "--warmup", "3s", "--settle", "2s",
		"--profile=false", "--out", out, "--dir", t.TempDir(), "--name", "smoke"}
	if err := run(context.Background(), args, &stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSpace(stdout.String())
	if filepath.Dir(path) != out {
		t.Fatalf("results written to %q, want a file in %s", path, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Results", "kmigrate's targets", "replication latency p99", "records re-read"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("results file lacks %q", want)
		}
	}
}
