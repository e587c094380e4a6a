package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
)

// records returns what a run writes for one partition that copied source
// offsets 100..109 to target 0..9, lost [90,100) to retention, plus the
// baseline and the topic's ids.
func records(t testing.TB) []*kgo.Record {
	t.Helper()
	tp := Key{Topic: "orders", Partition: 2}
	m, err := offsetmap.New(0, 90)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Advance(100); err != nil {
		t.Fatal(err)
	}
	for off := int64(100); off < 110; off++ {
		if err := m.Append(off); err != nil {
			t.Fatal(err)
		}
	}
	ch := m.Changes()
	ch.Checkpoint.UnixMilli = 1
	recs, err := ChangeRecords("m1", tp, ch, []LostRange{{From: 90, To: 100, DetectedMilli: 5}})
	if err != nil {
		t.Fatal(err)
	}
	bl, err := BaselineRecord("m1", &Baseline{TakenMilli: 7, EndOffsets: map[string]map[int32]int64{"orders": {2: 110}}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := TopicIDsRecord("m1", "orders", TopicIDs{Source: offsetmap.TopicID{1}, Target: offsetmap.TopicID{2}})
	if err != nil {
		t.Fatal(err)
	}
	return append(recs, bl, ids)
}

func build(t testing.TB, recs []*kgo.Record) (*State, error) {
	t.Helper()
	b := newBuilder("m1")
	for _, r := range recs {
		if err := b.add(r.Key, r.Value); err != nil {
			return nil, err
		}
	}
	return b.state(), nil
}

func TestRoundTrip(t *testing.T) {
	recs := records(t)
	st, err := build(t, recs)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != len(recs) {
		t.Errorf("Records = %d, want %d", st.Records, len(recs))
	}
	sv := st.Partitions[Key{Topic: "orders", Partition: 2}]
	if sv == nil || sv.Err != nil || sv.Map == nil {
		t.Fatalf("partition not rebuilt: %+v", sv)
	}
	if src, tgt := sv.Map.Next(); src != 110 || tgt != 10 {
		t.Errorf("map next = (%d, %d), want (110, 10)", src, tgt)
	}
	if tr := sv.Map.Translate(105); tr.Offset != 5 {
		t.Errorf("translate 105 = %+v, want 5", tr)
	}
	if len(sv.Lost) != 1 || sv.Lost[0] != (LostRange{From: 90, To: 100, DetectedMilli: 5}) {
		t.Errorf("lost = %+v", sv.Lost)
	}
	if st.Baseline == nil || st.Baseline.TakenMilli != 7 || st.Baseline.EndOffsets["orders"][2] != 110 {
		t.Errorf("baseline = %+v", st.Baseline)
	}
	if ids := st.Topics["orders"]; ids.Source != (offsetmap.TopicID{1}) || ids.Target != (offsetmap.TopicID{2}) {
		t.Errorf("topic ids = %+v", ids)
	}
}

// TestTombstones checks that a deleted lost range, baseline or topic binding is
// gone after a rebuild, as compaction would leave it.
func TestTombstones(t *testing.T) {
	recs := records(t)
	var extra []*kgo.Record
	for _, r := range recs {
		k, err := offsetmap.DecodeKey(r.Key)
		if err != nil {
			t.Fatal(err)
		}
		if k.Kind == offsetmap.KindLost || k.Kind == offsetmap.KindBaseline || k.Kind == offsetmap.KindTopicIDs {
			extra = append(extra, &kgo.Record{Key: r.Key})
		}
	}
	st, err := build(t, append(recs, extra...))
	if err != nil {
		t.Fatal(err)
	}
	if sv := st.Partitions[Key{Topic: "orders", Partition: 2}]; len(sv.Lost) != 0 {
		t.Errorf("lost after tombstone = %+v", sv.Lost)
	}
	if st.Baseline != nil || len(st.Topics) != 0 {
		t.Errorf("baseline %+v, topics %+v after tombstones", st.Baseline, st.Topics)
	}
}

func TestRejects(t *testing.T) {
	good := records(t)
	other, err := TopicIDsRecord("m2", "orders", TopicIDs{})
	if err != nil {
		t.Fatal(err)
	}
	badBaseline, err := BaselineRecord("m1", &Baseline{})
	if err != nil {
		t.Fatal(err)
	}
	badBaseline.Value = []byte("{not json")
	truncatedLost := &kgo.Record{Key: good[0].Key, Value: good[0].Value[:9]}
	for _, tt := range []struct {
		name string
		rec  *kgo.Record
		want string
	}{
		{"another migration", other, "holds a record of another migration"},
		{"baseline not JSON", badBaseline, "decode baseline"},
		{"truncated lost range", truncatedLost, "truncated"},
		{"unknown kind", &kgo.Record{Key: append([]byte{1, 9}, good[0].Key[2:]...), Value: []byte{1}}, "unknown record kind 9"},
		{"short key", &kgo.Record{Key: []byte{1}, Value: []byte{1}}, "truncated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, append(append([]*kgo.Record(nil), good...), tt.rec))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// FuzzRecords feeds the builder arbitrary records after a valid state: it
// never panics, and a record it accepts re-encodes to the same bytes.
func FuzzRecords(f *testing.F) {
	for _, r := range records(f) {
		f.Add(r.Key, r.Value)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		b := newBuilder("m1")
		for _, r := range records(t) {
			if err := b.add(r.Key, r.Value); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.add(key, value); err != nil {
			var known bool
			for _, e := range []error{offsetmap.ErrTruncated, offsetmap.ErrVersion, offsetmap.ErrKind, offsetmap.ErrCorrupt} {
				known = known || errors.Is(err, e)
			}
			if !known && !strings.Contains(err.Error(), "another migration") && !strings.Contains(err.Error(), "decode baseline") {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		_ = b.state()
		rec, err := offsetmap.Decode(key, value)
		if err != nil {
			t.Fatalf("accepted by the builder but not by Decode: %v", err)
		}
		k, err := rec.Key.MarshalBinary()
		if err != nil || !bytes.Equal(k, key) {
			t.Fatalf("key re-encodes to %x, %v; was %x", k, err, key)
		}
	})
}
