package replicate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// keyed returns records from..from+n-1 of a compacted table: five keys in
// turn, a distinct value each. Record 0 has a key of its own, so that
// compaction keeps it: kfake moves the log start to the first record it keeps,
// which Kafka does not.
func keyed(topic string, from, n int) []*kgo.Record {
	var out []*kgo.Record
	for i := from; i < from+n; i++ {
		key := fmt.Appendf(nil, "k%d", i%5)
		if i == 0 {
			key = []byte("first")
		}
		out = append(out, &kgo.Record{Topic: topic, Key: key, Value: fmt.Appendf(nil, "v%d", i),
			Timestamp: time.UnixMilli(int64(1_700_000_000_000 + i))})
	}
	return out
}

// produceEach writes each record in its own batch, so that compaction, which
// works on whole batches and keeps the last one, can remove records one by one.
func produceEach(t *testing.T, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	for _, r := range recs {
		kafkatest.Produce(t, cl, r)
	}
}

// compactCrash copies 20 records of a compacted one-partition topic, adds 10
// to the source, writes the first 7 of them to the target as a run killed
// before checkpointing them would leave them, and then lets edit remove
// records (compaction, retention) on either side. It returns the source
// records as they were before edit.
func compactCrash(t *testing.T, topicConfigs map[string]*string, edit func(src, tgt *kfake.Cluster, topic string)) (src, tgt *kfake.Cluster, cfg *config.Config, topic string, before []*kgo.Record) {
	t.Helper()
	src, tgt = fakeCluster(t), fakeCluster(t)
	topic = "table"
	if _, err := kadm.NewClient(fakeClient(t, src)).CreateTopic(context.Background(), 1, 1, topicConfigs, topic); err != nil {
		t.Fatal(err)
	}
	cl := fakeClient(t, src)
	produceEach(t, cl, keyed(topic, 0, 20))
	cfg = fakeConfig(t, src, tgt, topic)
	if _, _, err := copyUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	if cp := loadFakeState(t, tgt, cfg).Partitions[state.Key{Topic: topic}].Checkpoint; cp.SrcNext != 20 || cp.TgtNext != 20 {
		t.Fatalf("checkpoint after the first run %+v, want 20 and 20", cp)
	}
	produceEach(t, cl, keyed(topic, 20, 10))
	before = readFake(t, src, topic)[0]
	if len(before) != 30 {
		t.Fatalf("source has %d records, want 30", len(before))
	}
	var tail []*kgo.Record
	for _, r := range before[20:27] {
		tail = append(tail, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp})
	}
	produceEach(t, fakeClient(t, tgt), tail)
	edit(src, tgt, topic)
	return src, tgt, cfg, topic, before
}

// assertResumedExactly checks the target after the resume (see
// checkResumed) on kfake clusters.
func assertResumedExactly(t *testing.T, e *replicate.Engine, src, tgt *kfake.Cluster, topic string, before []*kgo.Record) int {
	t.Helper()
	s := readFake(t, src, topic)[0]
	checkResumed(t, e, topic, before, 27, s, readFake(t, tgt, topic)[0], readEnds(t, src, topic)[0], readEnds(t, tgt, topic)[0])
	return len(s)
}

// checkResumed checks a target partition after a resume whose crash tail
// ended at target offset tailEnd, source and target offsets being the same
// before it (no transactions, copy from offset 0): each record on the target
// is the source record the copy wrote at that offset (before holds the source
// records before anything was removed, s and d what both sides hold now);
// the target ends where a copy without a crash would have ended it (nothing
// twice, nothing lost); every source position translates to the target record
// a consumer must read next, or one before it (a record read again, never one
// skipped), and every source record still there exactly to its copy.
//
// It returns next and reads: next(c) is the target offset of the record a
// consumer at source position c must read next, reads(o) that of the record a
// consumer at target offset o reads next.
func checkResumed(t *testing.T, e *replicate.Engine, topic string, before []*kgo.Record, tailEnd int, s, d []*kgo.Record, srcEnd, tgtEnd int64) (next, reads func(int64) int64) {
	t.Helper()
	// Where each target record came from: up to the tail's end from the
	// source as it was, the rest from what is left of it.
	var from []int64
	for _, r := range before[:tailEnd] {
		from = append(from, r.Offset)
	}
	for _, r := range s {
		if r.Offset >= int64(tailEnd) {
			from = append(from, r.Offset)
		}
	}
	byOffset := map[int64]*kgo.Record{}
	for _, r := range before {
		byOffset[r.Offset] = r
	}
	for _, r := range s {
		byOffset[r.Offset] = r
	}
	if tgtEnd != int64(len(from)) {
		t.Errorf("target ends at %d, want %d: records were lost or written twice", tgtEnd, len(from))
	}
	present := map[int64]bool{}
	for _, r := range d {
		present[r.Offset] = true
		if r.Offset >= int64(len(from)) {
			continue
		}
		if diff := recordhash.Diff(byOffset[from[r.Offset]], r); diff != "" {
			t.Errorf("target offset %d differs in %s from source offset %d", r.Offset, diff, from[r.Offset])
		}
	}
	// next is where a consumer at source position c must go on: the first
	// target record (still there) whose source offset is at or after c.
	next = func(c int64) int64 {
		i := int64(0)
		for i < int64(len(from)) && (from[i] < c || !present[i]) {
			i++
		}
		return i
	}
	// reads is where a consumer at target offset o goes on.
	reads = func(o int64) int64 {
		for o < int64(len(from)) && !present[o] {
			o++
		}
		return o
	}
	again := 0
	for c := int64(0); c <= srcEnd; c++ {
		tr, ok := e.Translate(topic, 0, c)
		if !ok || tr.Kind != offsetmap.Exact {
			t.Errorf("source position %d translates to %v", c, tr)
			continue
		}
		if got, want := reads(tr.Offset), next(c); got > want {
			t.Errorf("source position %d translates to target %d (next record at %d), after the right one at %d: a consumer would skip records", c, tr.Offset, got, want)
		} else if got < want {
			again++
		}
	}
	if again > 0 {
		t.Logf("%d source positions translate to a record before the right one (read again)", again)
	}
	for _, r := range s {
		tr, _ := e.Translate(topic, 0, r.Offset)
		if got, want := reads(tr.Offset), next(r.Offset); got != want {
			t.Errorf("source record %d translates to target %d (next record at %d), want %d", r.Offset, tr.Offset, got, want)
		}
	}
	return next, reads
}

// compactConfigs make a compacted topic; retention is off, as the records are old.
var compactConfigs = map[string]*string{"cleanup.policy": ptr("compact"), "retention.ms": ptr("-1")}

func ptr(s string) *string { return &s }

// TestFakeTailSourceCompacted: after the crash the source is compacted, so
// some records of the tail are gone from the source. They are adopted, not
// refused as another writer's, and counted as what they are.
func TestFakeTailSourceCompacted(t *testing.T) {
	src, tgt, cfg, topic, before := compactCrash(t, compactConfigs, func(src, _ *kfake.Cluster, topic string) {
		src.Compact()
		if n := len(readFake(t, src, topic)[0]); n >= 30 {
			t.Fatalf("compaction removed nothing from the source (%d records)", n)
		}
	})
	e, ev, err := copyUntilCaughtUp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.find("adopted 7 records", "whose source record compaction removed since"); len(got) != 1 {
		t.Errorf("want one event classifying the tail; events: %q", ev.find(""))
	}
	left := assertResumedExactly(t, e, src, tgt, topic, before)
	t.Logf("source kept %d of 30 records; %q", left, ev.find("adopted"))
}

// TestFakeTailTargetCompacted: after the crash the target is compacted: the
// checkpoint's boundary record and records of the tail are gone from it.
func TestFakeTailTargetCompacted(t *testing.T) {
	src, tgt, cfg, topic, before := compactCrash(t, compactConfigs, func(_, tgt *kfake.Cluster, topic string) {
		tgt.Compact()
		got := readFake(t, tgt, topic)[0]
		seen := map[int64]bool{}
		for _, r := range got {
			seen[r.Offset] = true
		}
		if seen[19] || seen[20] || !seen[0] {
			t.Fatalf("target compaction kept offsets %v, want 0 and not 19 or 20", seen)
		}
	})
	e, ev, err := copyUntilCaughtUp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.find("offset 19 before the last checkpoint was removed by compaction"); len(got) != 1 {
		t.Errorf("want one event about the boundary record; events: %q", ev.find(""))
	}
	if got := ev.find("adopted 7 records", "removed by target compaction"); len(got) != 1 {
		t.Errorf("want one event classifying the tail; events: %q", ev.find(""))
	}
	assertResumedExactly(t, e, src, tgt, topic, before)
}

// TestFakeTailBothCompacted: both sides compacted after the crash.
func TestFakeTailBothCompacted(t *testing.T) {
	src, tgt, cfg, topic, before := compactCrash(t, compactConfigs, func(src, tgt *kfake.Cluster, _ string) {
		src.Compact()
		tgt.Compact()
	})
	e, ev, err := copyUntilCaughtUp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.find("adopted 7 records", "removed by target compaction"); len(got) != 1 {
		t.Errorf("want one event classifying the tail; events: %q", ev.find(""))
	}
	assertResumedExactly(t, e, src, tgt, topic, before)
	t.Logf("%q", ev.find("adopted"))
}

// TestFakeTailSourceRetention: after the crash, retention (DeleteRecords
// here) removes source records the tail was copied from, and in a second case
// also records after the tail, never copied: the first are adopted without
// comparison, the second reported as lost with their offsets, and nothing is
// called another writer's.
func TestFakeTailSourceRetention(t *testing.T) {
	for _, tc := range []struct {
		deleteTo int64
		event    []string
		lost     string
	}{
		{deleteTo: 24, event: []string{"adopted 7 records", "3 matched by SHA-256", "4 whose source record retention deleted since"}},
		{deleteTo: 29, event: []string{"adopted 7 records", "7 whose source record retention deleted since"},
			lost: "offsets 27 to 28 were deleted by retention before they were copied"},
	} {
		t.Run(fmt.Sprint("to ", tc.deleteTo), func(t *testing.T) {
			_, tgt, cfg, topic, before := compactCrash(t, nil, func(src, _ *kfake.Cluster, topic string) {
				adm := kadm.NewClient(fakeClient(t, src))
				o := kadm.Offsets{}
				o.Add(kadm.Offset{Topic: topic, Partition: 0, At: tc.deleteTo})
				if _, err := adm.DeleteRecords(context.Background(), o); err != nil {
					t.Fatal(err)
				}
			})
			_, ev, err := copyUntilCaughtUp(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := ev.find(tc.event...); len(got) != 1 {
				t.Errorf("want one event with %q; events: %q", tc.event, ev.find(""))
			}
			if lost := ev.find("deleted by retention before they were copied"); tc.lost == "" && len(lost) > 0 || tc.lost != "" && (len(lost) != 1 || !strings.Contains(lost[0], tc.lost)) {
				t.Errorf("loss events %q, want %q", lost, tc.lost)
			}
			d := readFake(t, tgt, topic)[0]
			want := 27 + max(0, 30-max(27, int(tc.deleteTo)))
			if len(d) != want {
				t.Errorf("target holds %d records, want %d", len(d), want)
			}
			for i, r := range d {
				if i < 27 {
					if diff := recordhash.Diff(before[i], r); diff != "" {
						t.Errorf("target offset %d differs in %s", r.Offset, diff)
					}
				} else if diff := recordhash.Diff(before[30-(want-i)], r); diff != "" {
					t.Errorf("target offset %d differs in %s from source offset %d", r.Offset, diff, 30-(want-i))
				}
			}
		})
	}
}
