package replicate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// cleanSoon are topic configs under which the broker's cleaner compacts a
// partition as soon as a segment rolls: 1 MiB segments (the smallest Kafka
// takes) and no lag or dirty-ratio threshold. The test clusters run the
// cleaner every second (log.cleaner.backoff.ms).
var cleanSoon = map[string]string{
	"segment.bytes":             "1048576",
	"min.cleanable.dirty.ratio": "0.001",
	"min.compaction.lag.ms":     "0",
	"delete.retention.ms":       "100",
}

// bigKeyed is keyed with 300 kB values that do not compress (the producer
// compresses batches): three records fill a segment.
func bigKeyed(topic string, from, n int) []*kgo.Record {
	recs := keyed(topic, from, n)
	for i, r := range recs {
		noise := make([]byte, 300_000)
		rng := rand.NewChaCha8([32]byte{byte(from + i)})
		_, _ = rng.Read(noise)
		r.Value = append(r.Value, noise...)
	}
	return recs
}

// missing returns the offsets in [from, to) that recs do not hold.
func missing(recs []*kgo.Record, from, to int64) []int64 {
	have := map[int64]bool{}
	for _, r := range recs {
		have[r.Offset] = true
	}
	var out []int64
	for o := from; o < to; o++ {
		if !have[o] {
			out = append(out, o)
		}
	}
	return out
}

// alterTopic sets configs of topic on c.
func alterTopic(t *testing.T, c *kafkatest.Cluster, topic string, configs map[string]string) {
	t.Helper()
	var alter []kadm.AlterConfig
	for k, v := range configs {
		alter = append(alter, kadm.AlterConfig{Name: k, Value: &v})
	}
	resp, err := c.Admin(t).AlterTopicConfigs(context.Background(), alter, topic)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("alter configs of %s: %v", topic, err)
	}
}

// TestCompactedTailResumes reproduces on real Kafka what a `kmigrate run`
// killed after writing records and before checkpointing them leaves: a
// compacted topic copied (20 records, checkpoint 20/20), 10 more on the
// source, the first tailEnd of them on the target. Then the broker's cleaner
// compacts the source, or the target, for real, removing records of the tail
// (and, on the target, the checkpoint's boundary record). The resume must
// adopt the tail, classify what was removed, and leave every source record
// still there on the target once, in order; a group committed on the source
// in or after the compacted range must translate to the target record a
// consumer has to read next.
func TestCompactedTailResumes(t *testing.T) {
	src, tgt := clusters(t)
	for _, side := range []string{"source", "target"} {
		t.Run(side, func(t *testing.T) {
			start := time.Now()
			topic := kafkatest.UniqueName(t, "compact-tail-"+side)
			configs := map[string]string{"cleanup.policy": "compact", "retention.ms": "-1"}
			createTopic(t, src, topic, 1, configs)
			cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1_000_000))
			produceEach(t, cl, bigKeyed(topic, 0, 20))
			cfg := migrationConfig(t, src, tgt, topic)
			if err := runUntilCaughtUp(t, cfg); err != nil {
				t.Fatal(err)
			}
			if cp := loadState(t, tgt, cfg).Partitions[state.Key{Topic: topic}].Checkpoint; cp.SrcNext != 20 || cp.TgtNext != 20 {
				t.Fatalf("checkpoint after the first run %+v, want 20 and 20", cp)
			}
			// Only the side under test compacts the tail: the other keeps it
			// in its active segment (1 GiB, the default).
			if side == "target" {
				alterTopic(t, tgt, topic, cleanSoon)
			}
			// Ten more on the source, five more after them so that the cleaner
			// finds a later record of every key of the ten.
			produceEach(t, cl, bigKeyed(topic, 20, 15))
			before := readAll(t, src, topic)[0]
			if len(before) != 35 {
				t.Fatalf("source has %d records, want 35", len(before))
			}
			// The crash tail: the copy wrote tailEnd-20 records after the
			// checkpoint, exactly as the engine writes them.
			tailEnd := 27
			if side == "target" {
				tailEnd = 30 // the cleaner never touches the active segment: give it more
			}
			var tail []*kgo.Record
			for _, r := range before[20:tailEnd] {
				tail = append(tail, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
			}
			produceEach(t, tgt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1_000_000)), tail)
			copied := time.Now()
			if side == "source" {
				// Compaction after the crash: the next record rolls the
				// segment holding everything so far, and the cleaner takes it.
				alterTopic(t, src, topic, cleanSoon)
				produce(t, cl, &kgo.Record{Topic: topic, Key: []byte("roll"), Value: []byte("roll")})
			}

			// Wait for the cleaner.
			compacted, other := src, tgt
			if side == "target" {
				compacted, other = tgt, src
			}
			var holes []int64
			kafkatest.Eventually(t, 90*time.Second, func() error {
				holes = missing(readAll(t, compacted, topic)[0], 19, int64(tailEnd))
				if len(holes) == 0 {
					return fmt.Errorf("the %s cleaner removed no record of the tail yet", side)
				}
				return nil
			})
			if h := missing(readAll(t, other, topic)[0], 20, int64(tailEnd)); len(h) > 0 {
				t.Fatalf("the other side lost offsets %v too", h)
			}
			cleaned := time.Now()
			t.Logf("%s compaction removed offsets %v (of 19 to %d) %s after the tail was written", side, holes, tailEnd-1, cleaned.Sub(copied).Round(100*time.Millisecond))

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ev := &events{}
			e := replicate.New(cfg, nil, nil, nil)
			if err := e.Run(ctx, replicate.Options{UntilCaughtUp: true, Events: ev.add}); err != nil {
				t.Fatalf("resume: %v (events %q)", err, ev.find(""))
			}
			t.Logf("resumed in %s: %q", time.Since(cleaned).Round(100*time.Millisecond), ev.find("target"))
			want := fmt.Sprintf("adopted %d records", tailEnd-20)
			what := "whose source record compaction removed since"
			if side == "target" {
				what = "removed by target compaction"
			}
			if got := ev.find(want, what); len(got) != 1 {
				t.Errorf("want one event with %q and %q; events: %q", want, what, ev.find(""))
			}

			s, d := readAll(t, src, topic)[0], readAll(t, tgt, topic)[0]
			next, reads := checkResumed(t, e, topic, before, tailEnd, s, d, endOffset(t, src, topic, 0), endOffset(t, tgt, topic, 0))

			// Groups at the first and last offsets compaction removed, and at
			// the two source records after them.
			adm := src.Admin(t)
			positions := []int64{holes[0], holes[len(holes)-1]}
			kept := map[int64]bool{}
			for _, r := range s {
				kept[r.Offset] = true
				if r.Offset > holes[len(holes)-1] && len(positions) < 4 {
					positions = append(positions, r.Offset)
				}
			}
			group := map[int64]string{}
			for _, c := range positions {
				group[c] = kafkatest.UniqueName(t, fmt.Sprint("g", c))
				if err := adm.CommitAllOffsets(context.Background(), group[c], offsets(topic, 0, c)); err != nil {
					t.Fatal(err)
				}
			}
			rep := groupPass(t, src, tgt, cfg)
			for _, c := range positions {
				var row *groups.Row
				for i := range rep.Rows {
					if rep.Rows[i].Group == group[c] {
						row = &rep.Rows[i]
					}
				}
				if row == nil || row.Translated < 0 || row.Status != groups.InSync {
					t.Errorf("group at source %d: row %+v", c, row)
					continue
				}
				// The target record a consumer there must read next: the copy
				// of the first source record at or after c still on the
				// target. At a source offset compaction removed, the copy may
				// instead resume at records copied from removed ones just
				// before (read again, never skipped).
				got, want := reads(row.Translated), next(c)
				switch {
				case got > want:
					t.Errorf("group at source %d: translated to target %d, where a consumer reads target %d next, after the right one, %d", c, row.Translated, got, want)
				case got < want && (kept[c] || side == "target"):
					t.Errorf("group at source %d (a record still there): translated to target %d, where a consumer reads target %d next, want %d", c, row.Translated, got, want)
				case got < want:
					t.Logf("group at source %d, an offset compaction removed: a consumer reads target %d next, %d record(s) before %d, copied from records compaction removed", c, got, want-got, want)
				}
				tgtAt, err := tgt.Admin(t).FetchOffsets(context.Background(), group[c])
				if o, ok := tgtAt.Lookup(topic, 0); err != nil || !ok || o.At != row.Translated {
					t.Errorf("group at source %d: committed on the target at %+v (err %v), want %d", c, o, err, row.Translated)
				}
			}
			t.Logf("%s case took %s", side, time.Since(start).Round(100*time.Millisecond))
		})
	}
}
