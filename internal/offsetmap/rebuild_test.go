package offsetmap

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func runRec(r Run) Record   { return Record{Key: RunKey("m", tpOrders, r.SrcStart), Run: r} }
func tomb(src int64) Record { return Record{Key: RunKey("m", tpOrders, src), Tombstone: true} }
func exact(src, count, tgt int64) Run {
	return Run{SrcStart: src, Count: count, TgtStart: tgt}
}
func segment(src, count, tgt, end int64) Run {
	return Run{SrcStart: src, Count: count, TgtStart: tgt, Coarsened: true, SpanEnd: end}
}

func TestRebuild(t *testing.T) {
	cp := func(begin, srcNext, t0, tgtNext int64) Checkpoint {
		return Checkpoint{SrcBegin: begin, SrcNext: srcNext, TgtStart: t0, TgtNext: tgtNext}
	}
	tests := []struct {
		name        string
		cp          Checkpoint
		log         []Record
		want        []Run
		wantDeleted []int64
		wantUpserts []int64 // run keys the first Changes rewrites
		wantErr     string
	}{
		{
			name: "nothing copied",
			cp:   cp(100, 100, 0, 0),
		},
		{
			name: "one run",
			cp:   cp(100, 200, 0, 100),
			log:  []Record{runRec(exact(100, 100, 0))},
			want: []Run{exact(100, 100, 0)},
		},
		{
			name: "latest write per key wins",
			cp:   cp(100, 300, 0, 150),
			log: []Record{
				runRec(exact(100, 10, 0)), runRec(exact(100, 50, 0)), runRec(exact(200, 20, 50)),
				runRec(exact(100, 100, 0)), runRec(exact(200, 50, 100)),
			},
			want: []Run{exact(100, 100, 0), exact(200, 50, 100)},
		},
		{
			name: "tombstone deletes a key",
			cp:   cp(0, 20, 0, 10),
			log: []Record{
				runRec(exact(0, 5, 0)), runRec(exact(7, 2, 5)), runRec(exact(11, 3, 7)),
				runRec(segment(0, 7, 0, 9)), tomb(7),
			},
			want: []Run{segment(0, 7, 0, 9), exact(11, 3, 7)},
		},
		{
			name: "runs written after the checkpoint are cut off",
			cp:   cp(0, 12, 0, 8),
			log: []Record{
				runRec(exact(0, 5, 0)), runRec(exact(7, 6, 5)), runRec(exact(20, 4, 11)),
			},
			want:        []Run{exact(0, 5, 0), exact(7, 3, 5)},
			wantDeleted: []int64{20},
			wantUpserts: []int64{7},
		},
		{
			name: "segment written before its tombstones supersedes the merged runs",
			cp:   cp(0, 30, 0, 12),
			log: []Record{
				runRec(exact(0, 5, 0)), runRec(exact(7, 3, 5)), runRec(exact(11, 4, 8)),
				runRec(segment(0, 8, 0, 10)),
			},
			want:        []Run{segment(0, 8, 0, 10), exact(11, 4, 8)},
			wantDeleted: []int64{7},
		},
		{
			name: "segment past the checkpoint is cut",
			cp:   cp(0, 9, 0, 6),
			log: []Record{
				runRec(exact(0, 5, 0)), runRec(exact(7, 1, 5)),
				runRec(segment(0, 9, 0, 14)), // merged runs [7,8) and two written after the checkpoint
			},
			want:        []Run{segment(0, 6, 0, 9)},
			wantDeleted: []int64{7},
			wantUpserts: []int64{0},
		},
		{
			name:        "uncommitted first run",
			cp:          cp(5, 5, 3, 3),
			log:         []Record{runRec(exact(5, 2, 3))},
			wantDeleted: []int64{5},
		},
		{
			name:    "checkpoint invalid",
			cp:      cp(5, 4, 0, 0),
			wantErr: "rebuild offset map of orders/3: checkpoint: next source offset 4 is out of range [5,4611686018427387904]",
		},
		{
			name:    "records missing in target space",
			cp:      cp(0, 20, 0, 10),
			log:     []Record{runRec(exact(0, 5, 0)), runRec(exact(8, 5, 6))},
			wantErr: "rebuild offset map of orders/3: run source [8,13) -> target [6,11) should start at target offset 5: records are missing or written twice",
		},
		{
			name:    "runs hold fewer records than the checkpoint",
			cp:      cp(0, 20, 0, 10),
			log:     []Record{runRec(exact(0, 5, 0))},
			wantErr: "rebuild offset map of orders/3: runs hold 5 records but the checkpoint says 10 were copied",
		},
		{
			name:    "overlap in source space",
			cp:      cp(0, 20, 0, 10),
			log:     []Record{runRec(exact(0, 5, 0)), runRec(exact(4, 5, 5))},
			wantErr: "rebuild offset map of orders/3: run source [4,9) -> target [5,10) overlaps run source [0,5) -> target [0,5) in source offsets",
		},
		{
			name:    "run before source begin",
			cp:      cp(10, 20, 0, 5),
			log:     []Record{runRec(exact(8, 5, 0))},
			wantErr: "rebuild offset map of orders/3: run source [8,13) -> target [0,5) starts before source begin 10",
		},
		{
			name:    "runs past the next source offset",
			cp:      cp(0, 4, 0, 4),
			log:     []Record{runRec(exact(2, 4, 0))},
			wantErr: "rebuild offset map of orders/3: runs reach source offset 6, past the checkpoint's next source offset 4",
		},
		{
			name:    "two segments",
			cp:      cp(0, 40, 0, 20),
			log:     []Record{runRec(segment(0, 5, 0, 10)), runRec(segment(12, 15, 5, 30))},
			wantErr: "rebuild offset map of orders/3: two coarsened segments",
		},
		{
			// A segment cut at a checkpoint is rewritten shorter than the
			// runs it merged; one of them, not yet tombstoned, reaches past it.
			name: "segment rewritten shorter than a superseded run",
			cp:   cp(100, 146, 10, 43),
			log: []Record{
				runRec(exact(143, 4, 40)),         // written by a flush that crashed
				runRec(segment(100, 33, 10, 146)), // the segment cut at the checkpoint
			},
			want:        []Run{segment(100, 33, 10, 146)},
			wantDeleted: []int64{143},
		},
		{
			name:    "superseded run held records the segment lacks",
			cp:      cp(0, 40, 0, 12),
			log:     []Record{runRec(segment(0, 5, 0, 10)), runRec(exact(8, 7, 5))},
			wantErr: "rebuild offset map of orders/3: runs hold 5 records but the checkpoint says 12 were copied",
		},
		{
			name:    "run before the segment",
			cp:      cp(0, 40, 0, 12),
			log:     []Record{runRec(exact(0, 2, 0)), runRec(segment(3, 5, 2, 10)), runRec(exact(12, 5, 7))},
			wantErr: "rebuild offset map of orders/3: run source [0,2) -> target [0,2) before coarsened segment",
		},
		{
			name:    "segment cut at the checkpoint too small",
			cp:      cp(0, 4, 0, 4), // 4 records in [0,4), but the segment skips offsets
			log:     []Record{runRec(segment(1, 6, 0, 10))},
			wantErr: "rebuild offset map of orders/3: coarsened segment cut at the checkpoint cannot hold 4 records before source offset 4",
		},
		{
			name:    "run value under another key",
			cp:      cp(0, 10, 0, 0),
			log:     []Record{{Key: RunKey("m", tpOrders, 1), Run: exact(0, 1, 0)}},
			wantErr: "rebuild offset map of orders/3: record 0 holds run source [0,1) -> target [0,1) under key 1",
		},
		{
			name:    "record of another partition",
			cp:      cp(0, 0, 0, 0),
			log:     []Record{{Key: RunKey("m", TopicPartition{"orders", 4}, 0), Run: exact(0, 1, 0)}},
			wantErr: "rebuild offset map of orders/3: record 0 belongs to orders/4",
		},
		{
			name:    "checkpoint among runs",
			cp:      cp(0, 0, 0, 0),
			log:     []Record{{Key: CheckpointKey("m", tpOrders)}},
			wantErr: "rebuild offset map of orders/3: record 0 is a checkpoint, not a run",
		},
		{
			name:    "invalid run",
			cp:      cp(0, 10, 0, 0),
			log:     []Record{runRec(exact(0, 0, 0))},
			wantErr: "rebuild offset map of orders/3: run source [0,0) -> target [0,0): count 0 is not positive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Rebuild(tpOrders, tt.cp, tt.log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Rebuild error %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Runs(); !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Fatalf("Runs() = %v; want %v", got, tt.want)
			}
			if s, g := p.Next(); s != tt.cp.SrcNext || g != tt.cp.TgtNext {
				t.Fatalf("Next() = %d, %d; want the checkpoint's", s, g)
			}
			var deleted, upserts []int64
			for _, ch := range p.Changes().Runs {
				if ch.Delete {
					deleted = append(deleted, ch.SrcStart)
				} else {
					upserts = append(upserts, ch.SrcStart)
				}
			}
			if !slices.Equal(deleted, tt.wantDeleted) {
				t.Errorf("tombstones %v; want %v", deleted, tt.wantDeleted)
			}
			if !slices.Equal(upserts, tt.wantUpserts) {
				t.Errorf("upserts %v; want %v", upserts, tt.wantUpserts)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	p, _ := New(0, 0)
	keys := func(c Changes) string {
		var b strings.Builder
		for _, ch := range c.Runs {
			if ch.Delete {
				fmt.Fprintf(&b, "-%d ", ch.SrcStart)
			} else {
				fmt.Fprintf(&b, "%v ", ch.Run)
			}
		}
		return strings.TrimSpace(b.String())
	}
	check := func(c Changes, want string) {
		t.Helper()
		if got := keys(c); got != want {
			t.Fatalf("changes %q; want %q", got, want)
		}
	}
	sync := func(c Changes) {
		t.Helper()
		if err := p.MarkSynced(c); err != nil {
			t.Fatal(err)
		}
	}

	check(p.Changes(), "")
	_ = p.AppendRun(0, 5)
	c := p.Changes()
	check(c, "source [0,5) -> target [0,5)")
	if c.Checkpoint != (Checkpoint{SrcNext: 5, TgtNext: 5}) {
		t.Fatalf("checkpoint %+v", c.Checkpoint)
	}
	sync(c)
	check(p.Changes(), "")

	// The last run grows: same key, larger count. A gap: a new key.
	_ = p.AppendRun(5, 2)
	_ = p.AppendRun(9, 1)
	c = p.Changes()
	check(c, "source [0,7) -> target [0,7) source [9,10) -> target [7,8)")

	// Changes while the flush is in flight are not lost by MarkSynced.
	_ = p.Append(10)
	sync(c)
	check(p.Changes(), "source [9,11) -> target [7,9)")

	// A failed flush: Changes again covers it.
	_ = p.Append(13)
	_ = p.Append(15)
	c1 := p.Changes()
	_ = p.Append(17)
	c2 := p.Changes()
	check(c2, "source [9,11) -> target [7,9) source [13,14) -> target [9,10) source [15,16) -> target [10,11) source [17,18) -> target [11,12)")
	sync(c2)
	sync(c1) // older: ignored
	check(p.Changes(), "")

	// Coarsening: segment first, tombstones for written keys only, then runs.
	_ = p.Append(20) // never handed out before merging
	_ = p.Append(22)
	if err := p.Coarsen(2); err != nil {
		t.Fatal(err)
	}
	c = p.Changes()
	check(c, "coarsened source [0,21) 13 records -> target [0,13) -9 -13 -15 -17 source [22,23) -> target [13,14)")
	sync(c)
	check(p.Changes(), "")

	q, _ := New(0, 0)
	if err := q.MarkSynced(c); err == nil {
		t.Error("MarkSynced accepted changes of another partition")
	}

	kvs, err := c.Encode("m", tpOrders)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != len(c.Runs)+1 {
		t.Fatalf("%d records for %d changes and a checkpoint", len(kvs), len(c.Runs))
	}
	l := NewLoader("m")
	for _, kv := range kvs {
		if err := l.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	// The Loader never saw the tombstoned runs, so only the final state is
	// there: the segment and the last run.
	r, ok, err := l.Rebuild(tpOrders)
	if err != nil || !ok {
		t.Fatalf("Rebuild = %v, %v", ok, err)
	}
	if !slices.Equal(r.Runs(), p.Runs()) {
		t.Fatalf("rebuilt %v; want %v", r.Runs(), p.Runs())
	}
}

// TestCrashRecovery simulates the replicator's life against a state topic: it
// copies with random gaps and coarsening, flushes Changes, sees some flushes
// fail part-way and carries on, and crashes at random points in the middle of
// a flush; the state topic is compacted now and then. After every crash the rebuilt map must stand exactly
// at the last checkpoint written and agree with the model there; then the
// records copied after it are replayed, as tail reconciliation does.
func TestCrashRecovery(t *testing.T) {
	for seed := range seeds() {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			p, _ := New(10, 100)
			m := newModel(10, 100)
			var topic []KeyValue
			write := func(kvs []KeyValue) {
				topic = append(topic, kvs...)
			}
			// The first checkpoint is written before any record is copied.
			first, err := p.Changes().Encode("m", tpOrders)
			if err != nil {
				t.Fatal(err)
			}
			write(first)
			lastCP := p.Checkpoint()

			for round := range 40 {
				randomOps(t, rng, p, m, rng.IntN(30))
				c := p.Changes()
				kvs, err := c.Encode("m", tpOrders)
				if err != nil {
					t.Fatal(err)
				}
				outcome := rng.IntN(8)
				if outcome == 0 {
					// The write fails part-way but the process lives on: no
					// MarkSynced, and the next Changes must cover the gap.
					write(kvs[:rng.IntN(len(kvs))])
					continue
				}
				if outcome > 2 {
					write(kvs)
					if err := p.MarkSynced(c); err != nil {
						t.Fatal(err)
					}
					lastCP = c.Checkpoint
					if rng.IntN(5) == 0 {
						topic = compact(topic)
					}
					continue
				}
				// Crash in the middle of the flush, checkpoint not written.
				write(kvs[:rng.IntN(len(kvs))])
				l := NewLoader("m")
				l.AddRecord(Record{Key: CheckpointKey("other", tpOrders), Tombstone: true})
				for _, kv := range topic {
					if err := l.Add(kv.Key, kv.Value); err != nil {
						t.Fatal(err)
					}
				}
				r, ok, err := l.Rebuild(tpOrders)
				if err != nil || !ok {
					t.Fatalf("round %d: rebuild: %v, %v", round, ok, err)
				}
				if got, _ := l.Checkpoint(tpOrders); got != lastCP {
					t.Fatalf("round %d: loaded checkpoint %+v; want %+v", round, got, lastCP)
				}
				truth := m.truncate(lastCP)
				compare(t, r, truth)

				// Tail reconciliation: the records copied after the checkpoint
				// are on the target; append them again.
				for _, src := range m.copied[len(truth.copied):] {
					if err := r.Append(src); err != nil {
						t.Fatalf("round %d: replay %d: %v", round, src, err)
					}
				}
				if err := r.SetMaxRuns(p.MaxRuns()); err != nil {
					t.Fatal(err)
				}
				// Reading resumes after the replayed records. Offsets skipped
				// before the crash may now be copied: harsher than a real
				// replay, whose filter is deterministic.
				m.srcNext = max(lastCP.SrcNext, r.srcNext)
				if err := r.Advance(m.srcNext); err != nil {
					t.Fatal(err)
				}
				compare(t, r, m)
				p = r
			}
		})
	}
}

// compact keeps the latest record per key, in log order, and drops some
// tombstones, as Kafka's log cleaner may.
func compact(log []KeyValue) []KeyValue {
	last := make(map[string]int)
	for i, kv := range log {
		last[string(kv.Key)] = i
	}
	var out []KeyValue
	for i, kv := range log {
		if last[string(kv.Key)] == i && kv.Value != nil {
			out = append(out, kv)
		}
	}
	return out
}

func TestLoader(t *testing.T) {
	l := NewLoader("m")
	add := func(mig string, tp TopicPartition, v interface{ MarshalBinary() ([]byte, error) }, srcStart int64) {
		t.Helper()
		var key Key
		var value []byte
		switch v := v.(type) {
		case Run:
			key, value = RunKey(mig, tp, v.SrcStart), mustMarshal(t, v)
		case Checkpoint:
			key, value = CheckpointKey(mig, tp), mustMarshal(t, v)
		case nil:
			key = RunKey(mig, tp, srcStart)
		}
		if err := l.Add(mustMarshal(t, key), value); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c, d := TopicPartition{"a", 0}, TopicPartition{"a", 1}, TopicPartition{"b", 0}, TopicPartition{"b", 1}
	add("m", a, Checkpoint{SrcNext: 10, TgtNext: 10}, 0)
	add("m", a, exact(0, 10, 0), 0)
	add("other", a, exact(0, 99, 0), 0) // another migration: ignored
	add("m", b, exact(0, 3, 0), 0)      // no checkpoint: an error
	add("m", c, Checkpoint{SrcNext: 10, TgtNext: 5}, 0)
	add("m", c, exact(0, 4, 0), 0) // too few records: an error
	add("m", d, exact(0, 4, 0), 0)
	add("m", d, nil, 0) // only a tombstone left: nothing to load
	if err := l.Add([]byte{1}, nil); err == nil {
		t.Error("Add accepted a corrupt key")
	}
	if err := l.Add(mustMarshal(t, CheckpointKey("m", a)), []byte{1, 0}); err == nil {
		t.Error("Add accepted a corrupt value")
	}
	if err := l.Add(mustMarshal(t, CheckpointKey("other", a)), []byte{9}); err != nil {
		t.Errorf("Add judged another migration's value: %v", err)
	}

	if got := l.Partitions(); !slices.Equal(got, []TopicPartition{a, b, c}) {
		t.Errorf("Partitions() = %v", got)
	}
	m, err := l.Load()
	want := "rebuild offset map of a/1: 1 run records but no checkpoint\n" +
		"rebuild offset map of b/0: runs hold 4 records but the checkpoint says 5 were copied"
	if err == nil || err.Error() != want {
		t.Errorf("Load error:\n%v\nwant:\n%s", err, want)
	}
	if got := m.Partitions(); !slices.Equal(got, []TopicPartition{a}) {
		t.Fatalf("loaded %v", got)
	}
	if tr, ok := m.Translate(a, 4); !ok || tr != (Translation{Kind: Exact, Offset: 4}) {
		t.Errorf("Translate = %v, %v", tr, ok)
	}
	if _, ok := l.Checkpoint(b); ok {
		t.Error("checkpoint of a/1 found")
	}
	add("m", a, nil, 0)
	l.AddRecord(Record{Key: CheckpointKey("m", a), Tombstone: true})
	if p, ok, err := l.Rebuild(a); p != nil || ok || err != nil {
		t.Errorf("Rebuild of deleted state = %v, %v, %v", p, ok, err)
	}
}
