package offsetmap

import (
	"errors"
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	m := NewMap()
	a, b := TopicPartition{"a", 0}, TopicPartition{"a", 1}
	if err := m.Update(a, func(*Partition) error { return nil }); err == nil || err.Error() != "update offset map of a/0: unknown partition" {
		t.Fatalf("Update of unknown partition = %v", err)
	}
	if _, ok := m.Translate(a, 0); ok {
		t.Fatal("Translate of unknown partition succeeded")
	}
	pa, _ := New(0, 0)
	pb, _ := New(0, 0)
	m.Put(a, pa)
	m.Put(b, pb)
	if m.Len() != 2 {
		t.Fatalf("Len() = %d", m.Len())
	}
	boom := errors.New("boom")
	if err := m.Update(a, func(*Partition) error { return boom }); err != boom {
		t.Fatalf("Update returned %v; want fn's error", err)
	}
	m.Remove(b)
	if m.Len() != 1 || m.View(b, func(*Partition) {}) {
		t.Fatal("Remove left the partition")
	}
}

// TestMapConcurrent has one writer per partition appending in batches while
// readers translate; run with -race.
func TestMapConcurrent(t *testing.T) {
	m := NewMap()
	tps := []TopicPartition{{"a", 0}, {"a", 1}, {"b", 0}}
	for _, tp := range tps {
		p, _ := New(0, 0)
		m.Put(tp, p)
	}
	var wg sync.WaitGroup
	for _, tp := range tps {
		wg.Go(func() {
			for batch := range int64(200) {
				err := m.Update(tp, func(p *Partition) error {
					for i := range int64(50) {
						if i%7 == 0 {
							continue // a compaction hole
						}
						if err := p.Append(batch*50 + i); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			last := int64(-1)
			for range 2000 {
				var src int64
				m.View(tp, func(p *Partition) { src, _ = p.Next() })
				tr, ok := m.Translate(tp, src)
				if !ok || tr.Kind != Exact || tr.Offset < last {
					t.Errorf("Translate(%v, %d) = %v, %v after %d", tp, src, tr, ok, last)
					return
				}
				last = tr.Offset
			}
		})
	}
	wg.Wait()
	for _, tp := range tps {
		m.View(tp, func(p *Partition) {
			if err := p.check(); err != nil {
				t.Error(err)
			}
			if got := p.Copied(); got != 200*(50-8) {
				t.Errorf("%v: copied %d", tp, got)
			}
		})
	}
}
