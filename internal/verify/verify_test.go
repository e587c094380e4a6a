package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/verify"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

func clusters(t testing.TB) (src, tgt *kafkatest.Cluster) {
	t.Helper()
	src = kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt = kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	return src, tgt
}

// migrate copies the configured topics until caught up and returns the engine,
// whose maps translate group positions.
func migrate(t testing.TB, cfg *config.Config) *replicate.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := replicate.New(cfg, nil, nil, nil)
	if err := e.Run(ctx, replicate.Options{UntilCaughtUp: true}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return e
}

// translateGroups runs one pass of group translation, as `run` does.
func translateGroups(t testing.TB, cfg *config.Config, src, tgt *kafkatest.Cluster, e *replicate.Engine) {
	t.Helper()
	rep, err := groups.NewSyncer(cfg, nil, src.Client(t), tgt.Client(t), e, nil).Pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.AllInSync() {
		t.Fatalf("groups not translated: %+v", rep)
	}
}

func run(t testing.TB, cfg *config.Config, opts verify.Options) *verify.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := verify.New(cfg, nil, nil).Verify(ctx, opts)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func check(t testing.TB, rep *verify.Report, name string) *verify.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("report has no %s check: %s", name, text(rep))
	return nil
}

func text(rep *verify.Report) string {
	var b bytes.Buffer
	_ = rep.WriteText(&b)
	return b.String()
}

// assertPass fails the test unless every check passed.
func assertPass(t testing.TB, rep *verify.Report) {
	t.Helper()
	if !rep.Pass {
		t.Fatalf("verify %s failed:\n%s", rep.Mode, text(rep))
	}
	for _, c := range rep.Checks {
		if !c.Pass || c.Failed != 0 {
			t.Fatalf("check %s not passed in a passing report:\n%s", c.Name, text(rep))
		}
	}
}

// assertOnlyFailed fails the test unless exactly the named checks failed.
func assertOnlyFailed(t testing.TB, rep *verify.Report, names ...string) {
	t.Helper()
	if rep.Pass {
		t.Fatalf("verify %s passed, want %v to fail:\n%s", rep.Mode, names, text(rep))
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, c := range rep.Checks {
		if c.Pass == want[c.Name] {
			t.Errorf("check %s: pass=%v, want %v", c.Name, c.Pass, !want[c.Name])
		}
	}
	if t.Failed() {
		t.Fatalf("report:\n%s", text(rep))
	}
}

// findFailure returns the failure of check name at partition p (any when p<0)
// whose kind is kind.
func findFailure(t testing.TB, rep *verify.Report, name, kind string, p int32) verify.Failure {
	t.Helper()
	for _, f := range check(t, rep, name).Failures {
		if f.Kind == kind && (p < 0 || (f.Partition != nil && *f.Partition == p)) {
			return f
		}
	}
	t.Fatalf("check %s has no %s failure at partition %d:\n%s", name, kind, p, text(rep))
	return verify.Failure{}
}

func offsetIs(t testing.TB, what string, got *int64, want int64) {
	t.Helper()
	if got == nil || *got != want {
		g := "none"
		if got != nil {
			g = fmt.Sprint(*got)
		}
		t.Errorf("%s offset %s, want %d", what, g, want)
	}
}

// base is the timestamp of the test records: recent, so that retention keeps
// them, and fixed, so that a refill can repeat them.
var base = time.Now().Add(-time.Hour).Truncate(time.Millisecond)

// records makes n records for partition p of topic with keys, values, headers
// and timestamps that differ from record to record.
func records(topic string, p int32, n int) []*kgo.Record {
	var out []*kgo.Record
	for i := range n {
		out = append(out, &kgo.Record{
			Topic: topic, Partition: p,
			Key:       []byte(fmt.Sprintf("key-%d-%d", p, i)),
			Value:     []byte(fmt.Sprintf("value-%d-%d-%s", p, i, strings.Repeat("x", i%50))),
			Headers:   []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint(i))}, {Key: "empty", Value: nil}},
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		})
	}
	return out
}

func manual(t testing.TB, c *kafkatest.Cluster) *kgo.Client {
	return c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// commit commits offsets for group as a non-member.
func commit(t testing.TB, c *kafkatest.Cluster, group, topic string, at map[int32]int64) {
	t.Helper()
	os := kadm.Offsets{}
	for p, o := range at {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	resp, err := c.Admin(t).CommitOffsets(context.Background(), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit offsets of group %s: %v", group, err)
	}
}

// recreate deletes a target topic and creates it again, empty, with the same
// partitions and configs, then writes recs to it in order: the way to change
// what a target partition holds at given offsets, since Kafka never rewrites a
// record in place.
func recreate(t testing.TB, c *kafkatest.Cluster, topic string, partitions int32, configs map[string]string, recs []*kgo.Record) {
	t.Helper()
	ctx := context.Background()
	adm := c.Admin(t)
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	cfgs := map[string]*string{}
	for k, v := range configs {
		cfgs[k] = &v
	}
	var created kadm.CreateTopicResponse
	kafkatest.Eventually(t, time.Minute, func() error {
		resp, err := adm.CreateTopic(ctx, partitions, -1, cfgs, topic)
		if err == nil {
			err = resp.Err
		}
		created = resp
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("topic %s still being deleted", topic)
		}
		if err != nil {
			t.Fatalf("recreate topic %s: %v", topic, err)
		}
		return nil
	})
	cl := manual(t, c)
	var out []*kgo.Record
	for _, r := range recs {
		out = append(out, &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
	}
	// The new topic's partitions need leaders before the first write, and every
	// broker must show the new topic, not the deleted one, before the test reads.
	kafkatest.WaitTopicID(t, cl, time.Minute, topic, created.ID)
	kafkatest.Produce(t, cl, out...)
}

// TestCleanMigrationPassesEveryCheck migrates an ordinary topic with records of
// every shape, a transactional topic with aborted transactions, and a compacted
// topic with holes and tombstones, translates a consumer group, and runs every
// mode: every check passes and each examined what it should.
func TestCleanMigrationPassesEveryCheck(t *testing.T) {
	src, tgt := clusters(t)
	plain := kafkatest.UniqueName(t, "plain")
	txn := kafkatest.UniqueName(t, "txn")
	compacted := kafkatest.UniqueName(t, "compacted")
	kafkatest.CreateTopic(t, src, plain, 3, nil)
	kafkatest.CreateTopic(t, src, txn, 1, nil)
	kafkatest.CreateTopic(t, src, compacted, 2, map[string]string{
		"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001", "delete.retention.ms": "3600000",
	})
	cl := manual(t, src)

	var recs []*kgo.Record
	for p := range int32(3) {
		recs = append(recs, records(plain, p, 300)...)
	}
	// Null and empty keys and values, no headers.
	recs = append(recs, &kgo.Record{Topic: plain, Partition: 0, Key: nil, Value: nil, Timestamp: base},
		&kgo.Record{Topic: plain, Partition: 0, Key: []byte{}, Value: []byte{}, Timestamp: base})
	kafkatest.Produce(t, cl, recs...)

	// Transactions, one in three aborted: gaps in the source offsets.
	txCl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(kafkatest.UniqueName(t, "tx")))
	kafkatest.ProduceTransactions(t, txCl, 12, func(i int) bool { return i%3 == 1 }, func(i int) []*kgo.Record {
		var recs []*kgo.Record
		for j := range 20 {
			recs = append(recs, &kgo.Record{Topic: txn, Key: []byte(fmt.Sprintf("%d-%d", i, j)), Value: []byte("v")})
		}
		return recs
	})

	// Compacted: hot keys rewritten, some deleted, until the cleaner has left
	// holes.
	round := 0
	kafkatest.Eventually(t, 90*time.Second, func() error {
		var recs []*kgo.Record
		for p := range int32(2) {
			recs = append(recs, &kgo.Record{Topic: compacted, Partition: p, Key: []byte(fmt.Sprintf("once-%d", round)), Value: []byte("once")})
			for k := range 8 {
				r := &kgo.Record{Topic: compacted, Partition: p, Key: []byte(fmt.Sprintf("hot-%d", k)), Value: []byte(fmt.Sprintf("v%d", round))}
				if k == 7 && round%2 == 1 {
					r.Value = nil // a tombstone
				}
				recs = append(recs, r)
			}
		}
		round++
		kafkatest.Produce(t, cl, recs...)
		got := kafkatest.ReadAll(t, src, compacted)[0]
		if len(got) > 0 && got[len(got)-1].Offset+1-got[0].Offset > int64(len(got))+20 {
			return nil
		}
		return fmt.Errorf("compaction has not left holes yet (%d records)", len(got))
	})

	group := kafkatest.UniqueName(t, "g")
	commit(t, src, group, plain, map[int32]int64{0: 40, 1: 0, 2: 300})
	commit(t, src, group, txn, map[int32]int64{0: 45})

	cfg := kafkatest.MigrationConfig(t, src, tgt, plain, txn, compacted)
	e := migrate(t, cfg)
	translateGroups(t, cfg, src, tgt, e)

	for _, mode := range []verify.Mode{verify.ModeCounts, verify.ModeSample, verify.ModeFull} {
		t.Run(string(mode), func(t *testing.T) {
			rep := run(t, cfg, verify.Options{Mode: mode, ChunkRecords: 64})
			assertPass(t, rep)
			if rep.Partitions != 6 || rep.Topics != 3 {
				t.Errorf("report covers %d topics and %d partitions, want 3 and 6", rep.Topics, rep.Partitions)
			}
			if c := check(t, rep, verify.CheckCounts); c.Checked != 4 || !strings.Contains(strings.Join(c.Notes, "\n"), "compacted") {
				t.Errorf("counts checked %d partitions (want the 4 not compacted), notes %q", c.Checked, c.Notes)
			}
			if c := check(t, rep, verify.CheckCompacted); c.Checked != 1 {
				t.Errorf("compacted checked %d topics, want 1", c.Checked)
			}
			if c := check(t, rep, verify.CheckGroups); c.Checked != 4 {
				t.Errorf("groups checked %d group partitions, want 4:\n%s", c.Checked, text(rep))
			}
			switch mode {
			case verify.ModeSample:
				// 12 per partition of 300 or more; the transactional one has
				// 160 records.
				if c := check(t, rep, verify.CheckSample); c.Checked != 4*12 {
					t.Errorf("sample compared %d records, want 48", c.Checked)
				}
			case verify.ModeFull:
				c := check(t, rep, verify.CheckFull)
				if want := int64(3*300 + 2 + 8*20); rep.Throughput == nil || rep.Throughput.Records != want || c.Checked != 4 {
					t.Errorf("full hashed %+v records in %d partitions, want %d in 4", rep.Throughput, c.Checked, want)
				}
			}
			// Every rendering works and says PASS.
			var md, js bytes.Buffer
			if err := rep.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "PASS") {
				t.Errorf("markdown: %v\n%s", err, md.String())
			}
			if err := json.NewEncoder(&js).Encode(rep); err != nil || !strings.Contains(js.String(), `"pass":true`) {
				t.Errorf("json: %v\n%s", err, js.String())
			}
		})
	}
}

// TestForeignRecordIsCaught produces a record straight into a target partition
// after a migration: every mode fails the counts check at that offset, as a
// record kmigrate did not copy.
func TestForeignRecordIsCaught(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "foreign")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	kafkatest.Produce(t, manual(t, src), append(records(topic, 0, 100), records(topic, 1, 100)...)...)
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	migrate(t, cfg)

	kafkatest.Produce(t, manual(t, tgt), &kgo.Record{Topic: topic, Partition: 1, Key: []byte("intruder"), Value: []byte("x")})
	for _, mode := range []verify.Mode{verify.ModeCounts, verify.ModeSample, verify.ModeFull} {
		t.Run(string(mode), func(t *testing.T) {
			rep := run(t, cfg, verify.Options{Mode: mode})
			assertOnlyFailed(t, rep, verify.CheckCounts)
			f := findFailure(t, rep, verify.CheckCounts, "foreign", 1)
			offsetIs(t, "target", f.TargetOffset, 100)
			if c := check(t, rep, verify.CheckCounts); c.Failed != 1 {
				t.Errorf("counts failed %d partitions, want only partition 1", c.Failed)
			}
			if !strings.Contains(f.Message, "did not copy") {
				t.Errorf("message %q does not say the record was not copied", f.Message)
			}
		})
	}
}

// TestMissingRangeIsCaught deletes and recreates the target topic after a
// migration and refills it with the source's records except offsets 300 to
// 499: counts report the missing records, full mode names the first missing
// source offset and the missing range, and the samples find the last record
// gone.
func TestMissingRangeIsCaught(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "missing")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	recs := records(topic, 0, 1000)
	kafkatest.Produce(t, manual(t, src), recs...)
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	migrate(t, cfg)

	recreate(t, tgt, topic, 1, nil, append(append([]*kgo.Record{}, recs[:300]...), recs[500:]...))

	counts := run(t, cfg, verify.Options{Mode: verify.ModeCounts})
	assertOnlyFailed(t, counts, verify.CheckCounts)
	f := findFailure(t, counts, verify.CheckCounts, "missing", 0)
	offsetIs(t, "target", f.TargetOffset, 800)
	if !strings.Contains(f.Message, "200 copied records are missing") {
		t.Errorf("counts message %q does not count 200 missing records", f.Message)
	}

	full := run(t, cfg, verify.Options{Mode: verify.ModeFull, ChunkRecords: 128})
	f = findFailure(t, full, verify.CheckFull, "differs", 0)
	offsetIs(t, "source", f.SourceOffset, 300)
	offsetIs(t, "target", f.TargetOffset, 300)
	if !strings.Contains(f.Message, "source offsets 300 to 499 (200 records) are missing on the target") {
		t.Errorf("full message %q does not name the missing range", f.Message)
	}
	if c := check(t, full, verify.CheckCounts); c.Pass {
		t.Errorf("counts passed in full mode:\n%s", text(full))
	}

	sample := run(t, cfg, verify.Options{Mode: verify.ModeSample, Seed: 7})
	f = findFailure(t, sample, verify.CheckSample, "missing", 0)
	if f.TargetOffset == nil || *f.TargetOffset < 800 {
		t.Errorf("sample failure at target offset %v, want one at 800 or after (the last record)", f.TargetOffset)
	}
}

// TestCompactedDifferenceIsCaught migrates a compacted topic, then recreates
// the target topic with the same records in the same order except that key
// k7's latest value differs and key k9's records carry key zz instead: the
// compacted check names k7 as different, k9 as missing and zz as extra; no
// other check fails, since offsets and counts are not compared there.
func TestCompactedDifferenceIsCaught(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "compact")
	configs := map[string]string{"cleanup.policy": "compact"}
	kafkatest.CreateTopic(t, src, topic, 1, configs)
	var recs []*kgo.Record
	for round := range 3 {
		for k := range 20 {
			r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", k)), Value: []byte(fmt.Sprintf("v%d-%d", round, k)), Timestamp: base}
			if k == 3 && round == 2 {
				r.Value = nil // k3 is deleted
			}
			recs = append(recs, r)
		}
	}
	kafkatest.Produce(t, manual(t, src), recs...)
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	migrate(t, cfg)

	var altered []*kgo.Record
	for i, r := range recs {
		c := *r
		switch {
		case string(r.Key) == "k7" && i >= 40:
			c.Value = []byte("not the source's latest value")
		case string(r.Key) == "k9":
			c.Key = []byte("zz")
		}
		altered = append(altered, &c)
	}
	recreate(t, tgt, topic, 1, configs, altered)

	rep := run(t, cfg, verify.Options{Mode: verify.ModeCounts})
	assertOnlyFailed(t, rep, verify.CheckCompacted)
	f := findFailure(t, rep, verify.CheckCompacted, "state", -1)
	for _, want := range []string{
		`different: key "k7": value differs (source partition 0 offset 47, target offset 47)`,
		`missing: key "k9" (source partition 0, offset 49)`,
		`extra: key "zz" (target partition 0, offset 49)`,
	} {
		if !strings.Contains(strings.Join(f.Examples, "\n"), want) {
			t.Errorf("examples %q lack %q", f.Examples, want)
		}
	}
	if !strings.Contains(f.Message, "1 keys missing on the target, 1 extra on the target, 1 with a different latest record") {
		t.Errorf("message %q miscounts", f.Message)
	}
}

// TestWrongGroupOffsetIsCaught translates a group, checks it passes, then
// commits one partition of the target group one record too far: that group
// partition fails with both evidences (the next records differ, the target lag
// is one short), the other passes.
func TestWrongGroupOffsetIsCaught(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "groups")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	kafkatest.Produce(t, manual(t, src), append(records(topic, 0, 100), records(topic, 1, 100)...)...)
	group := kafkatest.UniqueName(t, "g")
	commit(t, src, group, topic, map[int32]int64{0: 30, 1: 60})
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	e := migrate(t, cfg)
	translateGroups(t, cfg, src, tgt, e)
	assertPass(t, run(t, cfg, verify.Options{Mode: verify.ModeCounts}))

	commit(t, tgt, group, topic, map[int32]int64{1: 61})
	rep := run(t, cfg, verify.Options{Mode: verify.ModeCounts})
	assertOnlyFailed(t, rep, verify.CheckGroups)
	c := check(t, rep, verify.CheckGroups)
	if c.Checked != 2 || c.Failed != 1 {
		t.Errorf("groups: %d checked, %d failed; want 2 and 1", c.Checked, c.Failed)
	}
	f := findFailure(t, rep, verify.CheckGroups, "position", 1)
	offsetIs(t, "source", f.SourceOffset, 60)
	offsetIs(t, "target", f.TargetOffset, 61)
	if f.Group != group || !strings.Contains(f.Message, "the next record differs") || !strings.Contains(f.Message, "target lag 39, expected 40") {
		t.Errorf("failure %+v does not name the group, the differing record and the lag", f)
	}
}

// TestHeaderDifferenceIsCaught migrates two partitions, then recreates the
// target topic with the same records at the same offsets except one header
// value: of the record at offset 37 of partition 0, and of the last record of
// partition 1. Full mode names both offsets and the header; sample mode always
// compares the last record, so it finds partition 1's; counts mode finds
// partition 1's too, because the record at the checkpoint no longer hashes as
// the checkpoint says.
func TestHeaderDifferenceIsCaught(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "header")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	recs := append(records(topic, 0, 100), records(topic, 1, 100)...)
	kafkatest.Produce(t, manual(t, src), recs...)
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	migrate(t, cfg)

	var altered []*kgo.Record
	for i, r := range recs {
		c := *r
		if i == 37 || i == 199 {
			c.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte("forged")}, r.Headers[1]}
		}
		altered = append(altered, &c)
	}
	recreate(t, tgt, topic, 2, nil, altered)

	full := run(t, cfg, verify.Options{Mode: verify.ModeFull, ChunkRecords: 16})
	assertOnlyFailed(t, full, verify.CheckFull, verify.CheckCounts)
	for p, off := range map[int32]int64{0: 37, 1: 99} {
		f := findFailure(t, full, verify.CheckFull, "differs", p)
		offsetIs(t, "source", f.SourceOffset, off)
		offsetIs(t, "target", f.TargetOffset, off)
		if f.Part != "header trace" {
			t.Errorf("partition %d: differing part %q, want header trace (%s)", p, f.Part, f.Message)
		}
	}

	sample := run(t, cfg, verify.Options{Mode: verify.ModeSample})
	f := findFailure(t, sample, verify.CheckSample, "differs", 1)
	offsetIs(t, "target", f.TargetOffset, 99)
	if f.Part != "header trace" {
		t.Errorf("sample: differing part %q, want header trace", f.Part)
	}

	counts := run(t, cfg, verify.Options{Mode: verify.ModeCounts})
	assertOnlyFailed(t, counts, verify.CheckCounts)
	f = findFailure(t, counts, verify.CheckCounts, "differs", 1)
	offsetIs(t, "target", f.TargetOffset, 99)
}

func takeStatus(t testing.TB, cfg *config.Config, hist *status.History) *status.Report {
	t.Helper()
	rep, err := verify.New(cfg, nil, nil).Status(context.Background(), nil, hist)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if len(rep.Partitions) == 0 {
		t.Fatal("status lists no partitions")
	}
	return rep
}

// TestStatusShowsProgressAndLoss follows a migration with status: caught up
// against the baseline; then lagging by records ten minutes old; then, after
// retention deleted some of them before the next run copied them, showing the
// loss, the rate of the run that copied the rest, and verify failing coverage.
func TestStatusShowsProgressAndLoss(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "status")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	kafkatest.Produce(t, manual(t, src), append(records(topic, 0, 100), records(topic, 1, 100)...)...)
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	migrate(t, cfg)

	hist := status.NewHistory(0, 0)
	first := takeStatus(t, cfg, hist)
	if first.Baseline == nil || first.Totals.Phase != status.Stopped || first.Run.Alive || !first.Run.Known || first.Totals.LagRecords != 0 || first.Totals.BaselineProgress != 1 {
		t.Fatalf("after the copy: %+v", first.Totals)
	}
	for _, p := range first.Partitions {
		if !p.BaselineKnown || p.BaselineEnd != 100 || p.CopiedUpTo != 100 || p.Copied != 100 || p.TargetEnd != 100 {
			t.Errorf("partition %d after the copy: %+v", p.Partition, p)
		}
	}

	// 50 records written ten minutes ago arrive on partition 0 and wait.
	old := time.Now().Add(-10 * time.Minute)
	var late []*kgo.Record
	for i := range 50 {
		late = append(late, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprint(i)), Timestamp: old})
	}
	kafkatest.Produce(t, manual(t, src), late...)
	lagging := takeStatus(t, cfg, hist)
	p0 := lagging.Partitions[0]
	if p0.Phase != status.Stopped || p0.LagRecords != 50 || p0.LagSeconds < 590 || p0.LagSeconds > 900 {
		t.Errorf("lagging partition 0 with no run: phase %s, lag %d records, %.0fs; want stopped, 50, about 600s", p0.Phase, p0.LagRecords, p0.LagSeconds)
	}
	if p0.BaselineProgress != 1 {
		t.Errorf("partition 0 copied %.3f of its baseline, want all", p0.BaselineProgress)
	}
	if p0.Rate == nil || *p0.Rate != 0 || p0.ETASeconds != nil {
		t.Errorf("nothing copies: rate %v, ETA %v; want 0 and none", p0.Rate, p0.ETASeconds)
	}

	// Retention deletes 20 of them before run copies the rest.
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 120})
	if _, err := src.Admin(t).DeleteRecords(context.Background(), del); err != nil {
		t.Fatal(err)
	}
	migrate(t, cfg)
	after := takeStatus(t, cfg, hist)
	p0 = after.Partitions[0]
	if p0.Lost != 20 || len(p0.LostRanges) != 1 || p0.LostRanges[0].From != 100 || p0.LostRanges[0].To != 120 || after.Totals.LostRecords != 20 {
		t.Errorf("partition 0 lost %d records in %+v, want 20 in [100,120)", p0.Lost, p0.LostRanges)
	}
	if p0.CopiedUpTo != 150 || p0.Rate == nil || *p0.Rate <= 0 || p0.ETASeconds == nil || *p0.ETASeconds != 0 {
		t.Errorf("partition 0 after the second run: copied up to %d, rate %v, ETA %v", p0.CopiedUpTo, p0.Rate, p0.ETASeconds)
	}
	var b bytes.Buffer
	if err := after.WriteText(&b); err != nil || !strings.Contains(b.String(), "source offsets 100 to 119 (up to 20 records) were deleted by retention") {
		t.Errorf("status text does not show the loss: %v\n%s", err, b.String())
	}

	rep := run(t, cfg, verify.Options{Mode: verify.ModeSample})
	assertOnlyFailed(t, rep, verify.CheckCoverage)
	f := findFailure(t, rep, verify.CheckCoverage, "lost", 0)
	offsetIs(t, "source", f.SourceOffset, 100)
}

// TestCoarsenedMapStillVerifies bounds the offset map of a transactional
// partition to 4 runs, so that most of it is one coarsened segment whose
// records cannot be paired one by one: every mode still passes, full mode
// pairing the segment's records by order, sample mode skipping them and saying
// so, and a group committed inside the segment passing within the map's bound.
func TestCoarsenedMapStillVerifies(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "coarse")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	ctx := context.Background()
	txCl := src.Client(t, kgo.TransactionalID(kafkatest.UniqueName(t, "tx")))
	kafkatest.ProduceTransactions(t, txCl, 30, func(i int) bool { return i%3 == 1 }, func(i int) []*kgo.Record {
		var recs []*kgo.Record
		for j := range 10 {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("%d-%d", i, j)), Value: []byte("v"), Timestamp: base})
		}
		return recs
	})
	group := kafkatest.UniqueName(t, "g")
	commit(t, src, group, topic, map[int32]int64{0: 100}) // inside the segment
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	cfg.Replication.MaxOffsetMapRuns = 4
	e := migrate(t, cfg)
	if _, err := groups.NewSyncer(cfg, nil, src.Client(t), tgt.Client(t), e, nil).Pass(ctx, true); err != nil {
		t.Fatal(err)
	}

	for _, mode := range []verify.Mode{verify.ModeCounts, verify.ModeSample, verify.ModeFull} {
		t.Run(string(mode), func(t *testing.T) {
			rep := run(t, cfg, verify.Options{Mode: mode, Samples: 1000, ChunkRecords: 32})
			assertPass(t, rep)
			if c := check(t, rep, verify.CheckGroups); c.Checked != 1 || !strings.Contains(strings.Join(c.Notes, "\n"), "coarsened") {
				t.Errorf("groups checked %d (want 1), notes %q (want the coarsened one)", c.Checked, c.Notes)
			}
			switch mode {
			case verify.ModeSample:
				if c := check(t, rep, verify.CheckSample); c.Checked == 0 || !strings.Contains(strings.Join(c.Notes, "\n"), "coarsened") {
					t.Errorf("sample compared %d records, notes %q; want some compared and the skipped ones noted", c.Checked, c.Notes)
				}
			case verify.ModeFull:
				if rep.Throughput.Records != 200 {
					t.Errorf("full hashed %d records, want the 200 committed", rep.Throughput.Records)
				}
			}
		})
	}
}

// TestMovingGroupIsNoted checks a group that is still consuming on the source:
// its source position moved past the last translation, so the target is behind
// by design. That is a note, not a failure; once the consumer stops and the
// group is translated again, the check compares for real.
func TestMovingGroupIsNoted(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "moving")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	kafkatest.Produce(t, manual(t, src), records(topic, 0, 100)...)
	group := kafkatest.UniqueName(t, "g")
	commit(t, src, group, topic, map[int32]int64{0: 20})
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	e := migrate(t, cfg)
	translateGroups(t, cfg, src, tgt, e)

	// A live member of the group moves it on the source.
	consumer := src.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	ctx := context.Background()
	kafkatest.Eventually(t, 60*time.Second, func() error {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		fs := consumer.PollFetches(pctx)
		if len(fs.Records()) == 0 {
			return errors.New("no records yet")
		}
		return consumer.CommitUncommittedOffsets(ctx)
	})
	rep := run(t, cfg, verify.Options{Mode: verify.ModeCounts})
	assertPass(t, rep)
	c := check(t, rep, verify.CheckGroups)
	if !strings.Contains(strings.Join(c.Notes, "\n"), "still consuming on the source") {
		t.Errorf("no note about the moving group: %v", c.Notes)
	}

	// Stopped and translated again, it is checked for real and passes.
	consumer.Close()
	kafkatest.Eventually(t, 60*time.Second, func() error {
		gs, err := src.Admin(t).DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		if st := gs[group].State; st != "Empty" {
			return fmt.Errorf("group is %s", st)
		}
		return nil
	})
	translateGroups(t, cfg, src, tgt, e)
	rep = run(t, cfg, verify.Options{Mode: verify.ModeCounts})
	assertPass(t, rep)
	if c := check(t, rep, verify.CheckGroups); c.Checked != 1 || strings.Contains(strings.Join(c.Notes, "\n"), "still consuming") {
		t.Errorf("after the consumer stopped: checked %d, notes %v", c.Checked, c.Notes)
	}
}

// progressRecorder keeps the last progress a verification reported.
type progressRecorder struct {
	mu          sync.Mutex
	done, total int64
	calls       int
}

func (p *progressRecorder) Set(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total, p.calls = done, total, p.calls+1
}

// TestFullReportsProgress checks that full mode tells its progress reporter how
// many target records it hashed, ending at the total.
func TestFullReportsProgress(t *testing.T) {
	src, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "progress")
	kafkatest.CreateTopic(t, src, topic, 2, nil)
	kafkatest.Produce(t, manual(t, src), append(records(topic, 0, 300), records(topic, 1, 200)...)...)
	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	migrate(t, cfg)
	rec := &progressRecorder{}
	assertPass(t, run(t, cfg, verify.Options{Mode: verify.ModeFull, Progress: rec}))
	if rec.done != 500 || rec.total != 500 || rec.calls < 2 {
		t.Errorf("progress ended at %d of %d after %d calls, want 500 of 500", rec.done, rec.total, rec.calls)
	}
}
