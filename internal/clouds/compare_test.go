package clouds

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func recs(first int64, values ...string) []*kgo.Record {
	var out []*kgo.Record
	for i, v := range values {
		out = append(out, &kgo.Record{Offset: first + int64(i), Value: []byte(v), Timestamp: time.Unix(int64(i), 0)})
	}
	return out
}

func acks(values ...string) map[int32][]Ack {
	out := map[int32][]Ack{}
	for i, v := range values {
		out[0] = append(out[0], Ack{Partition: 0, Offset: int64(i), Value: v})
	}
	return out
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		acked                          []string
		src, tgt                       []*kgo.Record
		missing, duplicated, reordered int
		ok                             bool
	}{
		{name: "exact", acked: []string{"0", "1", "2"}, src: recs(0, "0", "1", "2"), tgt: recs(0, "0", "1", "2"), ok: true},
		{name: "unacked extra on both", acked: []string{"0", "1"}, src: recs(0, "0", "1", "2"), tgt: recs(0, "0", "1", "2"), ok: true},
		{name: "lost", acked: []string{"0", "1", "2"}, src: recs(0, "0", "1", "2"), tgt: recs(0, "0", "2"), missing: 1},
		{name: "duplicated", acked: []string{"0", "1"}, src: recs(0, "0", "1"), tgt: recs(0, "0", "1", "1"), duplicated: 1},
		{name: "reordered", acked: []string{"0", "1"}, src: recs(0, "0", "1"), tgt: recs(0, "1", "0"), reordered: 1},
		{name: "altered timestamp", acked: []string{"0"}, src: recs(0, "0"), tgt: []*kgo.Record{{Value: []byte("0"), Timestamp: time.Unix(9, 0)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(acks(tc.acked...), map[int32][]*kgo.Record{0: tc.src}, map[int32][]*kgo.Record{0: tc.tgt})
			if c.OK() != tc.ok || c.Missing != tc.missing || c.Duplicated != tc.duplicated || c.Reordered != tc.reordered {
				t.Fatalf("got %s", c)
			}
		})
	}
}

func TestTargetPosition(t *testing.T) {
	// Source offsets 100, 101, 105 (a gap) copied to target 0, 1, 2.
	src := []*kgo.Record{{Offset: 100}, {Offset: 101}, {Offset: 105}}
	tgt := recs(0, "a", "b", "c")
	for pos, want := range map[int64]int64{100: 0, 101: 1, 102: 2, 105: 2, 106: 3} {
		got, ok := TargetPosition(src, tgt, pos)
		if !ok || got != want {
			t.Errorf("source %d: got %d %v, want %d", pos, got, ok, want)
		}
	}
	if _, ok := TargetPosition(src, nil, 100); ok {
		t.Error("a position on an empty target must be unknown")
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"20mbit": 20e6, "1.5gbit": 1.5e9, "500kbit": 5e5, "800": 800, "0": 0} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("%s: got %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "-1mbit", "mbit"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestApplyRejects(t *testing.T) {
	c := &Clouds{}
	for _, args := range [][]string{{}, {"explode"}, {"latency", "aws", "30ms"}, {"kill-broker", "1"}, {"resets", "2", "1s"}} {
		if err := c.Apply(t.Context(), args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
