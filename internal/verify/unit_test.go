package verify

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestSampleOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		lo, hi int64
		n      int
		want   int
	}{
		{0, 0, 10, 0},
		{5, 6, 10, 1},
		{100, 112, 10, 12}, // exactly n+2: all
		{100, 113, 10, 12},
		{0, 1 << 40, 10, 12},
	} {
		got := sampleOffsets(tc.lo, tc.hi, tc.n, rng)
		if len(got) != tc.want {
			t.Errorf("[%d,%d) n=%d: %d offsets, want %d", tc.lo, tc.hi, tc.n, len(got), tc.want)
			continue
		}
		if len(got) == 0 {
			continue
		}
		if got[0] != tc.lo || got[len(got)-1] != tc.hi-1 {
			t.Errorf("[%d,%d): first %d last %d, want the range's first and last", tc.lo, tc.hi, got[0], got[len(got)-1])
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("[%d,%d): offsets not sorted and distinct: %v", tc.lo, tc.hi, got)
		}
	}
	p := &part{tp: offsetmap.TopicPartition{Topic: "t", Partition: 3}}
	a := sampleOffsets(0, 1000, 10, partitionRand(42, p))
	b := sampleOffsets(0, 1000, 10, partitionRand(42, p))
	if !slices.Equal(a, b) {
		t.Errorf("the same seed picked %v and %v", a, b)
	}
}

func rec(key, value string, off int64) *kgo.Record {
	r := &kgo.Record{Key: []byte(key), Offset: off, Timestamp: time.UnixMilli(1)}
	if value != "-" {
		r.Value = []byte(value)
	}
	return r
}

func TestDiffStates(t *testing.T) {
	h := recordhash.New()
	src, tgt := newKeyState(10), newKeyState(10)
	for _, r := range []*kgo.Record{
		rec("same", "1", 0), rec("gone", "x", 1), rec("differs", "a", 2), rec("deleted", "d", 3),
		rec("deleted", "-", 4), rec("late", "1", 5), rec("late", "2", 12), rec("missing", "m", 6),
	} {
		src.apply(r, h)
	}
	for _, r := range []*kgo.Record{
		rec("same", "1", 0), rec("differs", "b", 2), rec("late", "other", 5), rec("extra", "e", 7),
		rec("gone", "x", 1), rec("gone", "-", 8), // deleted on the target only: missing
	} {
		tgt.apply(r, h)
	}
	d := diffStates(src, tgt)
	if d.missing != 2 || d.extra != 1 || d.different != 1 || d.left != 1 || d.compared != 5 {
		t.Errorf("diff = %+v; want 2 missing (gone, missing), 1 extra, 1 different, 1 left out (late), 5 compared", d)
	}
	if len(d.differentEx) != 1 || d.differentEx[0][0].off != 2 || len(d.extraEx) != 1 || d.extraEx[0].off != 7 {
		t.Errorf("examples: different %+v extra %+v", d.differentEx, d.extraEx)
	}
	if _, ok := src.live[sha256.Sum256([]byte("deleted"))]; ok {
		t.Error("a tombstone did not delete its key")
	}
}

func TestDigestLocatesChunk(t *testing.T) {
	a, b := newDigest(4), newDigest(4)
	for i := range int64(10) {
		a.add(100+i, recordhash.Sum{byte(i)}, 1)
		v := byte(i)
		if i == 6 {
			v = 99
		}
		b.add(i, recordhash.Sum{v}, 1)
	}
	a.seal()
	b.seal()
	if len(a.chunks) != 3 || a.firsts[1] != 104 || b.firsts[2] != 8 {
		t.Fatalf("chunks %d, firsts %v and %v", len(a.chunks), a.firsts, b.firsts)
	}
	if got := firstDifferentChunk(a, b); got != 1 {
		t.Errorf("first different chunk %d, want 1 (records 4 to 7)", got)
	}
	c := newDigest(4)
	for i := range int64(8) {
		c.add(i, recordhash.Sum{byte(i)}, 1)
	}
	c.seal()
	if got := firstDifferentChunk(a, c); got != 2 {
		t.Errorf("shorter side: first different chunk %d, want 2", got)
	}
	if got := firstDifferentChunk(c, c); got != -1 {
		t.Errorf("same digests: %d, want -1", got)
	}
}

func mapOf(t *testing.T, t0, begin int64, runs ...[2]int64) *offsetmap.Partition {
	t.Helper()
	m, err := offsetmap.New(t0, begin)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if err := m.AppendRun(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		name               string
		m                  func(t *testing.T) *offsetmap.Partition
		srcStart, tgtStart int64
		sLo, sHi, tLo, tHi int64
		notes              int
	}{
		{"whole", func(t *testing.T) *offsetmap.Partition { return mapOf(t, 0, 1000, [2]int64{1000, 50}) }, 1000, 0, 1000, 1050, 0, 50, 0},
		{"source retention", func(t *testing.T) *offsetmap.Partition { return mapOf(t, 0, 1000, [2]int64{1000, 50}) }, 1020, 0, 1020, 1050, 20, 50, 1},
		{"target retention", func(t *testing.T) *offsetmap.Partition {
			return mapOf(t, 0, 0, [2]int64{0, 10}, [2]int64{20, 10})
		}, 0, 15, 25, 30, 15, 20, 1},
		{"target emptied", func(t *testing.T) *offsetmap.Partition { return mapOf(t, 0, 0, [2]int64{0, 10}) }, 0, 10, 10, 10, 10, 10, 1},
		{"source retention in a coarsened segment", func(t *testing.T) *offsetmap.Partition {
			m := mapOf(t, 0, 0, [2]int64{0, 5}, [2]int64{10, 5}, [2]int64{20, 5})
			if err := m.Coarsen(2); err != nil {
				t.Fatal(err)
			}
			return m
		}, 12, 0, 15, 25, 10, 15, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &part{m: tc.m(t), srcStart: tc.srcStart, tgtStart: tc.tgtStart, srcEnd: 1 << 40, tgtEnd: 1 << 40}
			notes := p.bound()
			if p.sLo != tc.sLo || p.sHi != tc.sHi || p.tLo != tc.tLo || p.tHi != tc.tHi {
				t.Errorf("range source [%d,%d) target [%d,%d), want source [%d,%d) target [%d,%d)",
					p.sLo, p.sHi, p.tLo, p.tHi, tc.sLo, tc.sHi, tc.tLo, tc.tHi)
			}
			if len(notes) != tc.notes {
				t.Errorf("notes %q, want %d", notes, tc.notes)
			}
		})
	}
}

func TestKeyText(t *testing.T) {
	for _, tc := range []struct {
		key  []byte
		want string
	}{
		{[]byte("user-42"), `"user-42"`},
		{nil, "(null)"},
		{[]byte{0, 0xff}, "0x00ff"},
		{[]byte(strings.Repeat("a", 70)), `"` + strings.Repeat("a", 64) + `"…`},
	} {
		if got := keyText(&kgo.Record{Key: tc.key}); got != tc.want {
			t.Errorf("keyText(%q) = %s, want %s", tc.key, got, tc.want)
		}
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

// sampleReport is a failing sample-mode report with one failure of each
// check, as the renderings show it.
func sampleReport() *Report {
	failing := func(name, unit, summary string, f Failure) *Check {
		c := newCheck(name, unit)
		c.Checked = 4
		c.fail(f)
		c.Summary = summary
		return c
	}
	ok := newCheck(CheckCoverage, "partitions")
	ok.Checked, ok.Summary = 4, "4 partitions in 2 topics, 1,400 records in the compared range, nothing lost to retention"
	ok.note("orders[1]: source retention removed 100 copied records; compared from source offset 1100")
	return &Report{
		Migration: "aws-to-gcp", Mode: ModeSample, Seed: 7, Topics: 2, Partitions: 4,
		Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Seconds: 1.25,
		Checks: []*Check{
			ok,
			failing(CheckCounts, "partitions", "1,000 records in 3 partitions; source, map and target disagree in 1 partition",
				Failure{Topic: "orders", Partition: ptr(int32(1)), Kind: "foreign", TargetOffset: ptr(int64(400)),
					Message: "target offset 400 holds a record that kmigrate did not copy: the source has no committed record for it after offset 1499"}),
			failing(CheckSample, "records", "36 records in 3 partitions (seed 7), 1 differ or are missing",
				Failure{Topic: "orders", Partition: ptr(int32(0)), Kind: "differs", Part: "header trace-id", SourceOffset: ptr(int64(1041)), TargetOffset: ptr(int64(41)),
					Message: "source offset 1041 and its copy at target offset 41 differ in header trace-id"}),
			failing(CheckCompacted, "topics", "1 topic, 10 keys compared at the checkpoint; the state differs in 1 topic",
				Failure{Topic: "users", Kind: "state", Message: "latest state per key differs at the checkpoint: 0 keys missing on the target, 0 extra on the target, 1 with a different latest record (of 10 keys compared)",
					Examples: []string{`different: key "k7": value differs (source partition 0 offset 47, target offset 47)`}}),
			failing(CheckGroups, "group partitions", "1 group, 4 group partitions translated, 1 wrong",
				Failure{Group: "billing", Topic: "orders", Partition: ptr(int32(2)), Kind: "position", SourceOffset: ptr(int64(60)), TargetOffset: ptr(int64(61)),
					Message: "committed at source offset 60 and target offset 61: the next record differs | pipes are escaped"}),
		},
	}
}

func TestReportRenderings(t *testing.T) {
	rep := sampleReport()
	var text, md bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", text.Bytes())
	golden(t, "report.md", md.Bytes())
}

func TestResults(t *testing.T) {
	pending := Failure{Group: "g", Topic: "t", Partition: ptr(int32(0)), Kind: "pending", Pending: true, Message: "beyond the copy"}
	wrong := Failure{Group: "g", Topic: "t", Partition: ptr(int32(1)), Kind: "position", Message: "the next record differs"}
	for _, tc := range []struct {
		name     string
		failures []Failure
		want     Result
		text     string
	}{
		{"clean", nil, ResultPass, "RESULT: PASS (2 checks)"},
		{"only pending", []Failure{pending}, ResultPending, "RESULT: PENDING (1 of 2 checks pending: groups;"},
		{"pending and wrong", []Failure{pending, wrong}, ResultFail, "RESULT: FAIL (1 of 2 checks failed: groups)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := newCheck(CheckCounts, "partitions")
			groups := newCheck(CheckGroups, "group partitions")
			for _, f := range tc.failures {
				groups.fail(f)
			}
			rep := &Report{Migration: "m", Mode: ModeCounts, Checks: []*Check{counts, groups}}
			rep.settle()
			if rep.Result != tc.want || rep.Pass != (tc.want == ResultPass) {
				t.Errorf("result %s pass %v, want %s", rep.Result, rep.Pass, tc.want)
			}
			var b bytes.Buffer
			if err := rep.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.text) {
				t.Errorf("text lacks %q:\n%s", tc.text, b.String())
			}
			if tc.want == ResultPending && !strings.Contains(b.String(), "PENDING  groups") {
				t.Errorf("the groups check is not shown pending:\n%s", b.String())
			}
		})
	}
}
