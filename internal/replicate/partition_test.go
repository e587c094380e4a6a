package replicate

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
)

// These tests drive the partition state machine directly, the way the poll loop
// (copyPartition: append to inflight, skip control records) and the produce
// promise (ack) do, with no cluster at all.

// testPartition returns a partition whose map starts at source offset srcBegin
// and target offset tgtStart, with an engine failure flag.
func testPartition(t *testing.T, tgtStart, srcBegin int64) (*partition, *atomic.Bool) {
	t.Helper()
	m, err := offsetmap.New(tgtStart, srcBegin)
	if err != nil {
		t.Fatal(err)
	}
	p := newPartition(TP{Topic: "orders", Partition: 3}, "mig.orders", m, 1<<20)
	failed := &atomic.Bool{}
	p.anyFailed = failed
	return p, failed
}

// produced is what copyPartition does for a data record at source offset src.
func (p *partition) produced(src int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.srcPos = src + 1
	p.inflight = append(p.inflight, pending{src: src})
}

// control is what copyPartition does for a control record at source offset off.
func (p *partition) control(t *testing.T, off int64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.srcPos = off + 1
	if err := p.skipLocked(off); err != nil {
		t.Fatal(err)
	}
}

// acked acknowledges the head of inflight as landed at target offset tgt.
func (p *partition) acked(tgt int64, value string) {
	p.ack(&kgo.Record{Offset: tgt, Value: []byte(value), Timestamp: time.UnixMilli(1000 + tgt)}, nil)
}

func (p *partition) next() (int64, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m.Next()
}

func (p *partition) translate(c int64) offsetmap.Translation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m.Translate(c)
}

func wantNext(t *testing.T, p *partition, src, tgt int64) {
	t.Helper()
	if s, g := p.next(); s != src || g != tgt {
		t.Fatalf("map next = (src %d, tgt %d), want (%d, %d)", s, g, src, tgt)
	}
}

func TestAckOrderBuildsExactMap(t *testing.T) {
	p, failed := testPartition(t, 100, 10)
	// Source offsets 10, 11 and 13 (12 was compacted away) are in flight.
	for _, o := range []int64{10, 11, 13} {
		p.produced(o)
	}
	// Nothing is durable before an acknowledgement, whatever was produced.
	wantNext(t, p, 10, 100)
	if tr := p.translate(11); tr.Kind != offsetmap.Pending {
		t.Errorf("translate 11 before any ack = %v, want pending", tr)
	}
	p.acked(100, "a")
	wantNext(t, p, 11, 101)
	p.acked(101, "b")
	p.acked(102, "c")
	wantNext(t, p, 14, 103)
	if err := p.Err(); err != nil || failed.Load() {
		t.Fatalf("partition failed: %v (flag %v)", err, failed.Load())
	}
	for c, want := range map[int64]int64{10: 100, 11: 101, 12: 102, 13: 102, 14: 103} {
		if tr := p.translate(c); tr.Kind != offsetmap.Exact || tr.Offset != want {
			t.Errorf("translate %d = %v, want exact %d", c, tr, want)
		}
	}
	if tr := p.translate(15); tr.Kind != offsetmap.Pending {
		t.Errorf("translate 15 = %v, want pending", tr)
	}
	st := p.status(time.Now())
	if st.Copied != 3 || st.InFlight != 0 || st.Bytes != 3 || st.TgtNext != 103 || st.SrcNext != 14 || st.Runs != 2 {
		t.Errorf("status %+v", st)
	}
}

// An acknowledgement at another target offset than the next one means a record
// that kmigrate did not write landed in between: the partition must stop, and
// nothing after it may enter the map.
func TestAckAtWrongTargetOffsetStops(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int64
	}{
		{"ahead (a foreign record before ours)", 6},
		{"behind", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, failed := testPartition(t, 5, 0)
			p.produced(0)
			p.produced(1)
			p.acked(tc.at, "x")
			err := p.Err()
			if err == nil || !strings.Contains(err.Error(), "another writer") ||
				!strings.Contains(err.Error(), "mig.orders[3]") || !strings.Contains(err.Error(), "expected 5") {
				t.Fatalf("error %v, want another writer on mig.orders[3] at expected offset 5", err)
			}
			if !failed.Load() {
				t.Error("the engine's failure flag was not raised")
			}
			// The next acknowledgement, even at a plausible offset, changes nothing.
			p.acked(6, "y")
			wantNext(t, p, 0, 5)
			if st := p.status(time.Now()); st.Copied != 0 || st.InFlight != 0 || st.Error == "" {
				t.Errorf("status after the stop %+v", st)
			}
		})
	}
}

func TestAckErrorAndSpuriousAckStop(t *testing.T) {
	// The broker's refusal stops the partition.
	p, _ := testPartition(t, 0, 0)
	p.produced(0)
	refused := kerr.MessageTooLarge
	p.ack(&kgo.Record{Offset: -1}, refused)
	if err := p.Err(); !errors.Is(err, refused) || !strings.Contains(err.Error(), "source offset 0") {
		t.Fatalf("error %v, want the produce error naming source offset 0", err)
	}
	wantNext(t, p, 0, 0)

	// An error that may heal (a broken connection, a response that is not
	// Kafka's) pauses it instead, and stops its later records from going out.
	r, failed := testPartition(t, 0, 0)
	r.produceUnder(context.Background())
	pctx := r.produceCtx
	r.produced(0)
	r.produced(1)
	broken := errors.New("invalid large response size 1213486160 > limit 104857600; the four size bytes are 'HTTP' in ascii")
	r.ack(&kgo.Record{Offset: -1}, broken)
	r.acked(0, "x") // a later record that landed anyway: for the reconciliation to judge
	st := r.status(time.Now())
	if r.Err() != nil || !strings.Contains(st.Recovering, "source offset 0") || !failed.Load() || pctx.Err() == nil {
		t.Fatalf("after a write error that may heal: error %v, recovering %q, flag %v, produce context %v; want paused, flagged, its produce context cancelled",
			r.Err(), st.Recovering, failed.Load(), pctx.Err())
	}
	wantNext(t, r, 0, 0)

	q, failed := testPartition(t, 0, 0)
	q.acked(0, "x") // nothing in flight
	if err := q.Err(); err == nil || !strings.Contains(err.Error(), "nothing in flight") || !failed.Load() {
		t.Fatalf("ack with nothing in flight: error %v, flag %v", err, failed.Load())
	}
}

// The first error wins: a later one does not replace the cause an operator sees.
func TestFirstErrorWins(t *testing.T) {
	p, _ := testPartition(t, 0, 0)
	p.produced(0)
	p.produced(1)
	p.acked(3, "x")
	first := p.Err()
	p.ack(&kgo.Record{}, kerr.InvalidRecord)
	if got := p.Err(); got != first {
		t.Fatalf("error became %v, want the first %v", got, first)
	}
}

func TestControlRecordSkip(t *testing.T) {
	t.Run("nothing in flight: the map moves at once", func(t *testing.T) {
		p, _ := testPartition(t, 0, 0)
		p.produced(0)
		p.acked(0, "a")
		p.mu.Lock()
		p.dirty = false
		p.mu.Unlock()
		p.control(t, 1) // a commit marker
		wantNext(t, p, 2, 1)
		p.mu.Lock()
		dirty := p.dirty
		p.mu.Unlock()
		if !dirty {
			t.Error("skipping a control record did not mark the partition for a checkpoint")
		}
		// A consumer at 2 (past the marker) resumes at target 1: nothing to re-read.
		if tr := p.translate(2); tr.Kind != offsetmap.Exact || tr.Offset != 1 {
			t.Errorf("translate 2 = %v, want exact 1", tr)
		}
	})
	t.Run("records in flight: the move waits for the last of them", func(t *testing.T) {
		p, _ := testPartition(t, 0, 0)
		p.produced(0)
		p.produced(1)
		p.control(t, 2)
		p.control(t, 3) // two markers in a row: the later one wins
		wantNext(t, p, 0, 0)
		p.acked(0, "a")
		// The marker sits after offset 1, which is not acknowledged yet: a
		// checkpoint now must not claim offsets 2 and 3 are done.
		wantNext(t, p, 1, 1)
		p.acked(1, "b")
		wantNext(t, p, 4, 2)
		p.produced(4)
		p.acked(2, "c")
		wantNext(t, p, 5, 3)
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a crash before the last ack leaves the marker uncounted", func(t *testing.T) {
		p, _ := testPartition(t, 0, 0)
		p.produced(0)
		p.control(t, 1)
		// The record's produce fails: the partition stops, and the map must
		// not have moved past the marker either.
		p.ack(&kgo.Record{}, errors.New("broken"))
		wantNext(t, p, 0, 0)
	})
}

func TestCaughtUp(t *testing.T) {
	p, _ := testPartition(t, 0, 0)
	p.produced(0)
	p.acked(0, "a")
	if p.caughtUp() {
		t.Fatal("caught up without a goal")
	}
	p.mu.Lock()
	p.goal = 3
	p.mu.Unlock()
	p.produced(1)
	p.acked(1, "b")
	if p.caughtUp() {
		t.Fatal("caught up at 2 of 3")
	}
	p.produced(2) // produced but not acknowledged: not caught up
	if p.caughtUp() {
		t.Fatal("caught up with the last record in flight")
	}
	p.acked(2, "c")
	if !p.caughtUp() {
		t.Fatal("not caught up at the goal")
	}

	// A goal reached through a trailing commit marker.
	q, _ := testPartition(t, 0, 0)
	q.mu.Lock()
	q.goal = 2
	q.mu.Unlock()
	q.produced(0)
	q.control(t, 1)
	if q.caughtUp() {
		t.Fatal("caught up with the record before the marker in flight")
	}
	q.acked(0, "a")
	if !q.caughtUp() {
		t.Fatal("not caught up after the marker that ends at the goal")
	}
	if failedPartition(TP{Topic: "x"}, "x", errors.New("no")).caughtUp() {
		t.Error("a failed partition counts as caught up")
	}
}

// loadCheckpoint applies recs to loader, as a restart reads the state topic, and
// returns the checkpoint and rebuilt map of p.
func loadCheckpoint(t *testing.T, loader *offsetmap.Loader, p *partition, recs []*kgo.Record) (offsetmap.Checkpoint, *offsetmap.Partition) {
	t.Helper()
	for _, r := range recs {
		if err := loader.Add(r.Key, r.Value); err != nil {
			t.Fatalf("decode state record: %v", err)
		}
	}
	cp, ok := loader.Checkpoint(p.tp)
	if !ok {
		t.Fatal("no checkpoint in the state records")
	}
	m, ok, err := loader.Rebuild(p.tp)
	if err != nil || !ok {
		t.Fatalf("rebuild: ok %v, %v", ok, err)
	}
	return cp, m
}

func TestCheckpointAndRedirty(t *testing.T) {
	const migration = "m1"
	h := recordhash.New()
	loader := offsetmap.NewLoader(migration)
	p, _ := testPartition(t, 0, 7)
	// A fresh partition has nothing to persist until something changes.
	if recs, done, err := p.checkpoint(migration, h, time.Now()); recs != nil || done != nil || err != nil {
		t.Fatalf("clean partition: %d records, done %v, err %v", len(recs), done != nil, err)
	}
	p.produced(7)
	p.produced(8)
	p.acked(0, "a")
	p.produced(10) // in flight: not in the checkpoint
	recs, _, err := p.checkpoint(migration, h, time.UnixMilli(5000))
	if err != nil || len(recs) == 0 {
		t.Fatalf("dirty partition: %d records, err %v", len(recs), err)
	}
	// The write failed (the records never reached the state topic). Nothing
	// changed since, so without redirty the progress would never be written.
	if again, _, _ := p.checkpoint(migration, h, time.Now()); again != nil {
		t.Fatal("a checkpoint right after another has records to write")
	}
	p.redirty()
	recs, done, err := p.checkpoint(migration, h, time.UnixMilli(6000))
	if err != nil || done == nil || len(recs) == 0 {
		t.Fatalf("after redirty: %d records, err %v", len(recs), err)
	}
	cp, m := loadCheckpoint(t, loader, p, recs)
	done()
	if cp.SrcBegin != 7 || cp.SrcNext != 8 || cp.TgtStart != 0 || cp.TgtNext != 1 || cp.UnixMilli != 6000 {
		t.Errorf("checkpoint %+v, want source [7,8) to target [0,1) at 6000", cp)
	}
	if tr := m.Translate(9); tr.Kind != offsetmap.Pending {
		t.Errorf("rebuilt map translates 9 to %v before offset 8 was copied, want pending", tr)
	}
	p.acked(1, "b")
	recs, done, err = p.checkpoint(migration, h, time.UnixMilli(6500))
	if err != nil || done == nil {
		t.Fatalf("after the second ack: %d records, err %v", len(recs), err)
	}
	cp, m = loadCheckpoint(t, loader, p, recs)
	done()
	if cp.SrcBegin != 7 || cp.SrcNext != 9 || cp.TgtStart != 0 || cp.TgtNext != 2 || cp.UnixMilli != 6500 {
		t.Errorf("checkpoint %+v, want source [7,9) to target [0,2) at 6500", cp)
	}
	p.mu.Lock()
	last := p.lastAcked
	p.mu.Unlock()
	if !cp.HasHash || cp.Hash != h.Record(last) || string(last.Value) != "b" {
		t.Errorf("checkpoint hash %x (has %v), want that of the last record written (%q)", cp.Hash, cp.HasHash, last.Value)
	}
	if tr := m.Translate(8); tr.Kind != offsetmap.Exact || tr.Offset != 1 {
		t.Errorf("rebuilt map translates 8 to %v, want exact 1", tr)
	}
	// Written: nothing left until the next change.
	if recs, _, _ := p.checkpoint(migration, h, time.Now()); recs != nil {
		t.Fatalf("after a successful write: %d records to write again", len(recs))
	}
	// Offset 9 is a gap; 10 lands: a second run.
	p.acked(2, "c")
	recs, done, err = p.checkpoint(migration, h, time.UnixMilli(7000))
	if err != nil || len(recs) == 0 {
		t.Fatalf("after one more record: %d records, err %v", len(recs), err)
	}
	cp, m = loadCheckpoint(t, loader, p, recs)
	done()
	if cp.SrcNext != 11 || cp.TgtNext != 3 || m.NumRuns() != 2 {
		t.Errorf("checkpoint %+v with %d runs, want source next 11, target next 3, 2 runs", cp, m.NumRuns())
	}
	for c, want := range map[int64]int64{9: 2, 10: 2, 11: 3} {
		if tr := m.Translate(c); tr.Kind != offsetmap.Exact || tr.Offset != want {
			t.Errorf("rebuilt map translates %d to %v, want exact %d", c, tr, want)
		}
	}
}
