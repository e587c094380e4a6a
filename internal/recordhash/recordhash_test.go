package recordhash

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestHashDistinguishes(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	base := func() *kgo.Record {
		return &kgo.Record{Key: []byte("k"), Value: []byte("v"), Timestamp: ts,
			Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "a", Value: nil}}}
	}
	variants := []struct {
		name   string
		mutate func(*kgo.Record)
		diff   string
	}{
		{"null key", func(r *kgo.Record) { r.Key = nil }, "key"},
		{"empty key", func(r *kgo.Record) { r.Key = []byte{} }, "key"},
		{"tombstone", func(r *kgo.Record) { r.Value = nil }, "value"},
		{"empty value", func(r *kgo.Record) { r.Value = []byte{} }, "value"},
		{"value", func(r *kgo.Record) { r.Value = []byte("w") }, "value"},
		{"header order", func(r *kgo.Record) { r.Headers[0], r.Headers[1] = r.Headers[1], r.Headers[0] }, "header a"},
		{"header null vs empty", func(r *kgo.Record) { r.Headers[1].Value = []byte{} }, "header a"},
		{"header dropped", func(r *kgo.Record) { r.Headers = r.Headers[:1] }, "headers"},
		{"timestamp", func(r *kgo.Record) { r.Timestamp = ts.Add(time.Millisecond) }, "timestamp"},
		// Key and value boundaries must not blur: "k"+"v" vs ""+"kv".
		{"boundary", func(r *kgo.Record) { r.Key, r.Value = []byte{}, []byte("kv") }, "key"},
	}
	want := Record(base())
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			r := base()
			v.mutate(r)
			if Record(r) == want {
				t.Errorf("hash did not change")
			}
			if d := Diff(base(), r); d != v.diff {
				t.Errorf("Diff = %q, want %q", d, v.diff)
			}
		})
	}
	other := base()
	other.Offset, other.Partition, other.Topic = 99, 3, "elsewhere"
	if Record(other) != want || Diff(base(), other) != "" {
		t.Error("topic, partition and offset must not count")
	}
	h := New()
	first := h.Record(base())
	h.Record(&kgo.Record{Key: []byte("something else")})
	if first != want || h.Record(base()) != want {
		t.Error("reused Hasher gives a different sum")
	}
}

func BenchmarkHash1KiB(b *testing.B) {
	r := &kgo.Record{Key: []byte("key-000001"), Value: make([]byte, 1024), Timestamp: time.Now()}
	h := New()
	b.SetBytes(int64(len(r.Value) + len(r.Key)))
	for b.Loop() {
		h.Record(r)
	}
}
