package offsetmap

import (
	"errors"
	"fmt"
)

// syncState tracks what the state topic holds, so that Changes lists only the
// records that must be (re)written.
//
// Changes happen at two ends only: Append grows the last run or adds runs at the
// tail, and coarsening rewrites the head. So "everything after the run keyed
// syncKey, plus that run if its count moved, plus the segment if it changed"
// describes all upserts without any bookkeeping on the hot path.
type syncState struct {
	// The state topic holds every exact run keyed below syncKey as it is in
	// memory, and the run keyed syncKey with syncCount records (-1: unknown,
	// rewrite it).
	syncKey, syncCount int64
	// handedOut is the highest run key ever returned by Changes. A merged run
	// keyed above it was never written and needs no tombstone.
	handedOut int64
	// deleted lists run keys to tombstone; deletedBase is how many were
	// dropped from its front by MarkSynced, so snapshots can use absolute
	// positions.
	deleted     []int64
	deletedBase int
	// segDirty says the segment must be rewritten; segGen counts its changes so
	// MarkSynced clears segDirty only if the segment written is still current.
	segDirty bool
	segGen   uint64
	// seq numbers snapshots; syncedSeq is the newest one marked synced.
	seq, syncedSeq uint64
}

func newSyncState() syncState {
	return syncState{syncKey: -1, handedOut: -1}
}

// Change is one record to write to the state topic: a run to upsert under key
// SrcStart, or a tombstone for that key.
type Change struct {
	// SrcStart is the run key.
	SrcStart int64
	// Run is the value to write, unless Delete is set.
	Run Run
	// Delete asks for a tombstone (a nil value) for the key.
	Delete bool
}

// Changes is what must be written to the state topic to make it match a
// partition: run records in a crash-safe order, then the checkpoint.
type Changes struct {
	// Runs are the run upserts and tombstones, in the order to write them.
	Runs []Change
	// Checkpoint is written last, after the run records and to the same
	// state-topic partition. The caller fills Hash and UnixMilli.
	Checkpoint Checkpoint

	owner       *Partition
	seq         uint64
	syncKey     int64
	syncCount   int64
	deletedUpTo int
	segGen      uint64
}

// Changes lists the records that bring the state topic up to date with the
// partition, as a snapshot: the partition may change while they are written.
// After all of them, checkpoint included, are acknowledged, call MarkSynced. If
// writing fails, just call Changes again later: the new list covers the failed
// one.
//
// All records of one partition must go to the same state-topic partition, in
// the order given, so that log order is write order. The order makes every
// prefix of the writes loadable by Rebuild:
//  1. the coarsened segment, if it changed. It is keyed like the oldest run it
//     replaces, and Rebuild ignores the exact runs inside its span, whose
//     tombstones may not be written yet;
//  2. tombstones for the runs merged into the segment;
//  3. exact runs in source order, so each run is written after the run before
//     it has its final count and the written runs stay contiguous in target
//     space;
//  4. the checkpoint, the commit point. Run records after the last checkpoint
//     are cut away by Rebuild.
func (p *Partition) Changes() Changes {
	s := &p.sync
	s.seq++
	c := Changes{
		owner:       p,
		seq:         s.seq,
		syncKey:     s.syncKey,
		syncCount:   s.syncCount,
		deletedUpTo: s.deletedBase + len(s.deleted),
		segGen:      s.segGen,
		Checkpoint:  p.Checkpoint(),
	}
	if p.coarsened && s.segDirty {
		c.Runs = append(c.Runs, Change{SrcStart: p.runs[0].src, Run: p.pub(0)})
	}
	for _, k := range s.deleted {
		// A key that is live again (a run dropped by Rebuild and copied anew)
		// is upserted below or above; a tombstone would delete the new value
		// when it precedes the segment.
		if p.isLive(k) {
			continue
		}
		c.Runs = append(c.Runs, Change{SrcStart: k, Delete: true})
	}
	for i := p.lastBefore(s.syncKey) + 1; i < len(p.runs); i++ {
		if i == 0 && p.coarsened {
			continue
		}
		r := p.runs[i]
		if r.src == s.syncKey && r.count == s.syncCount {
			continue
		}
		c.Runs = append(c.Runs, Change{SrcStart: r.src, Run: p.pub(i)})
	}
	if n := len(p.runs); n > 0 {
		last := p.runs[n-1]
		c.syncKey, c.syncCount = last.src, last.count
		if n == 1 && p.coarsened {
			// The segment is tracked by segGen, never as an exact run.
			c.syncCount = -1
		}
		s.handedOut = max(s.handedOut, last.src)
	}
	return c
}

// MarkSynced records that every record of c, taken from this partition by
// Changes, was acknowledged by the state topic. Marking an older snapshot
// after a newer one does nothing.
func (p *Partition) MarkSynced(c Changes) error {
	if c.owner != p {
		return errors.New("mark offset map synced: changes were taken from another partition")
	}
	s := &p.sync
	if c.seq <= s.syncedSeq {
		return nil
	}
	s.syncedSeq = c.seq
	s.syncKey, s.syncCount = c.syncKey, c.syncCount
	if drop := c.deletedUpTo - s.deletedBase; drop > 0 {
		// Copy rather than reslice so the array does not keep growing.
		s.deleted = append([]int64(nil), s.deleted[drop:]...)
		s.deletedBase = c.deletedUpTo
	}
	if s.segGen == c.segGen {
		s.segDirty = false
	}
	return nil
}

// isLive reports whether a run is keyed k. A live key in the deleted list is
// always dirty, so skipping its tombstone never leaves a stale value.
func (p *Partition) isLive(k int64) bool {
	i := p.lastBefore(k + 1)
	return i >= 0 && p.runs[i].src == k
}

// KeyValue is one encoded state-topic record. Value is nil for a tombstone.
type KeyValue struct {
	Key, Value []byte
}

// Encode encodes the changes of partition tp of a migration as state-topic
// records in write order, the checkpoint last.
func (c Changes) Encode(migration string, tp TopicPartition) ([]KeyValue, error) {
	out := make([]KeyValue, 0, len(c.Runs)+1)
	for _, ch := range c.Runs {
		k, err := RunKey(migration, tp, ch.SrcStart).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode changes of %v: %w", tp, err)
		}
		kv := KeyValue{Key: k}
		if !ch.Delete {
			if ch.Run.SrcStart != ch.SrcStart {
				return nil, fmt.Errorf("encode changes of %v: run %v under key %d", tp, ch.Run, ch.SrcStart)
			}
			if kv.Value, err = ch.Run.MarshalBinary(); err != nil {
				return nil, fmt.Errorf("encode changes of %v: %w", tp, err)
			}
		}
		out = append(out, kv)
	}
	k, err := CheckpointKey(migration, tp).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode changes of %v: %w", tp, err)
	}
	v, err := c.Checkpoint.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode changes of %v: %w", tp, err)
	}
	return append(out, KeyValue{Key: k, Value: v}), nil
}
