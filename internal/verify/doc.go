// Package verify proves that a migration's copy is complete and intact, and
// measures its progress. It backs `kmigrate verify` and `kmigrate status`.
//
// Everything here reads: the source, the target, and the migration's state topic
// on the target (offset maps, checkpoints, ranges lost to retention, baseline), so
// both commands work whether or not `kmigrate run` is alive. Nothing is written.
//
// # The copied range
//
// A partition's offset map says which source offsets were copied to which target
// offsets, up to its checkpoint (srcNext, tgtNext). Verification compares that
// range, [srcBegin, srcNext) against [t0, tgtNext), narrowed to what both clusters
// still hold when retention has removed the oldest records. The source is read
// with read_committed, as the copy read it, so control records and aborted records
// are never compared. Records written to the target after the last checkpoint
// (the tail, while `run` is copying) are matched one by one against the next
// source records: a tail that matches is the copy in progress; one that does not
// is a record kmigrate did not write.
//
// # Checks and what is exact
//
//   - coverage: every selected source partition has a consistent map, and no
//     source range was deleted by retention before it was copied. Exact.
//   - counts: records per partition, source against target against the map.
//     Exact: where the map has no gap, the source offsets are dense and are
//     counted by subtraction; where it has gaps (transactions), the source range
//     is read and its committed records counted. The target is written by kmigrate
//     alone, contiguously, so its count comes from its offsets, and the record at
//     the checkpoint must still hash as the checkpoint says. Not run on compacted
//     topics, where compaction makes counts meaningless.
//   - sample: SHA-256 (package recordhash) of the first, the last and N random
//     copied records of each partition, source against target through the map. A
//     sample only proves the records it reads: it is evidence, not proof.
//   - full: every copied record of both sides hashed, in order, and the first
//     diverging offset reported. Exact. The two sides are read independently at
//     full speed and folded into digests of fixed-size chunks of records; only a
//     chunk whose digests differ is read again to name the first differing record
//     and what differs in it.
//   - compacted: the latest state per key (SHA-256 of the key → SHA-256 of the
//     latest record; a tombstone deletes the key) of source and target at a
//     consistent cut: the checkpoint (srcNext on the source, tgtNext on the
//     target, which the map says hold the same records). Keys written after the
//     cut on either side are left out and counted, since compaction may already
//     have removed their state at the cut. Exact for the keys compared.
//   - groups: for each translated group partition (a source group's committed
//     offset C, and a committed offset T of the same group on the target), the
//     first record at or after C on the source and at or after T on the target
//     hash the same, or both are at the end; and the lags agree: the target lag
//     (target end minus T) equals the number of records the map says were copied
//     at or after C, plus any tail. Exact where the map is exact; inside a
//     coarsened part of the map, T may be up to the map's duplicate bound early.
//
// Where a map was coarsened (see package offsetmap), single records inside the
// coarsened segment cannot be paired: sample skips them and says so; full pairs
// them by order, which the read filter makes exact.
//
// # Progress
//
// Status compares the checkpoints with the baseline (the source end offsets
// taken at the first run) and with the current end offsets. The lag in records
// counts offsets, an upper bound where the source has gaps; the lag in seconds is
// the age of the oldest record not yet copied, read from the source at srcNext.
// Rates come from two samples of the end offsets and are as good as the interval
// between them.
package verify
