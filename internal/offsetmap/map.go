package offsetmap

import (
	"fmt"
	"slices"
	"sync"
)

// Map holds the offset maps of many partitions and is safe for concurrent use.
//
// Each partition has its own read-write lock, so the replicator can update one
// partition (once per fetched batch, not per record: the lock costs more than
// Append) while consumer-group translation and status reads it, and partitions
// never wait on each other. Lock order: Map.mu, released before a partition's
// lock is taken; no code holds two partition locks.
type Map struct {
	mu    sync.RWMutex
	parts map[TopicPartition]*entry
}

type entry struct {
	mu sync.RWMutex
	p  *Partition
}

// NewMap returns an empty Map.
func NewMap() *Map {
	return &Map{parts: make(map[TopicPartition]*entry)}
}

// Put adds or replaces the map of tp. The Map owns p afterwards: use it only
// through Update and View.
func (m *Map) Put(tp TopicPartition, p *Partition) {
	m.mu.Lock()
	m.parts[tp] = &entry{p: p}
	m.mu.Unlock()
}

// Remove drops the map of tp, for example when the partition moves to another
// instance.
func (m *Map) Remove(tp TopicPartition) {
	m.mu.Lock()
	delete(m.parts, tp)
	m.mu.Unlock()
}

func (m *Map) get(tp TopicPartition) *entry {
	m.mu.RLock()
	e := m.parts[tp]
	m.mu.RUnlock()
	return e
}

// Update runs fn with the map of tp locked for writing and returns fn's error.
func (m *Map) Update(tp TopicPartition, fn func(*Partition) error) error {
	e := m.get(tp)
	if e == nil {
		return fmt.Errorf("update offset map of %v: unknown partition", tp)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return fn(e.p)
}

// View runs fn with the map of tp locked for reading; fn must not modify it.
// It returns false if tp is unknown.
func (m *Map) View(tp TopicPartition, fn func(*Partition)) bool {
	e := m.get(tp)
	if e == nil {
		return false
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.p)
	return true
}

// Translate translates source position c of tp; ok is false if tp is unknown.
func (m *Map) Translate(tp TopicPartition, c int64) (t Translation, ok bool) {
	ok = m.View(tp, func(p *Partition) { t = p.Translate(c) })
	return t, ok
}

// Partitions lists the partitions held, sorted by topic and partition.
func (m *Map) Partitions() []TopicPartition {
	m.mu.RLock()
	out := make([]TopicPartition, 0, len(m.parts))
	for tp := range m.parts {
		out = append(out, tp)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, compareTP)
	return out
}

// Len returns the number of partitions held.
func (m *Map) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.parts)
}
