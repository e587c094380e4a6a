package replicate

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/state"
)

// TestResumeChecksOnPointsReadAhead: the checks a resuming partition makes
// against the checkpoint's hash (the source history, the target boundary)
// reach the same verdicts from records read ahead for many partitions at once
// (prefetchPoints) as from a reader of their own, and read ahead exactly the
// offsets they compare.
func TestResumeChecksOnPointsReadAhead(t *testing.T) {
	rec := func(off int64, v string) *kgo.Record { return &kgo.Record{Topic: "t", Offset: off, Value: []byte(v)} }
	m, err := offsetmap.New(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AppendRun(0, 10); err != nil {
		t.Fatal(err)
	}
	last := rec(9, "v9")
	cp := offsetmap.Checkpoint{SrcNext: 10, TgtStart: 0, TgtNext: 10, Hash: recordhash.New().Record(last), HasHash: true}
	input := func() resumeInput {
		return resumeInput{tp: TP{Topic: "t", Partition: 0}, tgtTopic: "t2",
			saved:    &state.Saved{Map: m, Checkpoint: cp},
			srcStart: 0, srcEnd: 10, tgtStart: 0, tgtEnd: 10}
	}

	in := input()
	if pt, ok := historyPoint(in); !ok || pt != (kafka.Point{Topic: "t", Partition: 0, From: 9, End: 10}) {
		t.Errorf("history point %+v (%v), want source t[0] offset 9", pt, ok)
	}
	if pt, ok := boundaryPoint(in); !ok || pt != (kafka.Point{Topic: "t2", Partition: 0, From: 9, End: 10, Controls: true}) {
		t.Errorf("boundary point %+v (%v), want target t2[0] offset 9 with markers", pt, ok)
	}
	in.tgtEnd = 12 // a tail past the checkpoint: read in one pass with it
	if pt, ok := boundaryPoint(in); ok {
		t.Errorf("boundary point %+v read ahead for a partition with a tail", pt)
	}
	in = input()
	in.srcStart = 10 // retention removed the last copied record: nothing to compare
	if pt, ok := historyPoint(in); ok {
		t.Errorf("history point %+v below the source log start", pt)
	}

	e := &Engine{cfg: config.Default(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now}
	for _, c := range []struct {
		name      string
		rec       *kgo.Record
		compacted bool
		want      string
	}{
		{name: "the record kmigrate wrote", rec: last},
		{name: "another record", rec: rec(9, "other"), want: "t2[0] offset 9 is not the record kmigrate wrote there"},
		{name: "removed, not compacted", want: "t2[0] has no record at offset 9"},
		{name: "removed by compaction", compacted: true},
	} {
		in := input()
		in.tgtCompacted = c.compacted
		in.boundary = &pointRead{rec: c.rec}
		p := newPartition(in.tp, in.tgtTopic, m, 1<<20)
		check(t, "boundary: "+c.name, e.reconcile(context.Background(), p, in, cp), c.want)
	}
	for _, c := range []struct {
		name string
		rec  *kgo.Record
		want string
	}{
		{name: "the record copied", rec: last},
		{name: "another record at the offset", rec: rec(9, "new"), want: "source t/0 offset 9 is not the record kmigrate copied from there"},
		{name: "compacted away", rec: nil},
	} {
		in := input()
		in.history = &pointRead{rec: c.rec}
		check(t, "history: "+c.name, e.checkSourceHistory(context.Background(), in, cp), c.want)
	}
}

func check(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v", name, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s: error %v, want one with %q", name, err, want)
	}
}
