// Package offsetmap keeps, for each migrated partition, the map from source offsets
// to target offsets, translates consumer positions through it, and encodes it for
// the compacted state topic on the target cluster.
//
// # Model
//
// kmigrate is the only writer of a target partition and never writes control
// records, so the target offsets it produces are contiguous from a start t0. A
// partition's map is therefore t0 plus the ordered list of source offsets that
// were copied. That list is stored as runs of consecutive source offsets
// (SrcStart, Count) with their target start: one run for an ordinary topic, one
// per gap for compacted or transactional topics (compaction holes, aborted
// records and transaction markers are never copied).
//
// Besides the runs, a [Partition] knows srcBegin, the source offset replication
// started reading at, and srcNext, the source offset it will read next. Every
// source offset in [srcBegin, srcNext) has been either copied or skipped on
// purpose, so the map is complete up to srcNext.
//
// # What is exact and what is approximate
//
// A consumer's position C is the next source offset it would read. Its target
// position is t0 plus the number of copied source records with offset below C:
//
//   - srcBegin <= C <= srcNext: [Exact]. The consumer resumes on the target at the
//     same record, with no duplicate and no skip.
//   - C > srcNext: [Pending]. Not copied yet; no offset is guessed.
//   - C < srcBegin: [BehindStart]. The records between C and srcBegin were never
//     copied (retention removed them, or the migration began later); the answer
//     is t0 and reports must flag it.
//   - Inside a coarsened segment: [Approximate]. See below.
//
// [Partition.TargetOf] and [Partition.SourceOf] map single copied records both
// ways for verification. They answer only where the map is exact.
//
// # Coarsening
//
// A compacted topic can have a gap after nearly every record, hence millions of
// runs. To bound memory, the oldest runs can be merged into one coarsened segment
// (see [Partition.Coarsen] and [Partition.SetMaxRuns]). A segment keeps its source
// span [s, e), its target start and its record count n, but forgets where inside
// the span its records are. For a position s < C < e the number of its records
// below C is at least max(0, n-(e-C)) and at most min(n, C-s). Translate answers
// the lower bound: an earlier target offset, so the consumer may re-read up to
// Translation.MaxDuplicates records but never skips one. Positions outside the
// segment stay exact, and only the oldest runs are merged because consumers near
// the head, the ones that matter at cutover, sit in the newest runs.
//
// # Persistence
//
// The map is written to a compacted topic as two kinds of records (see [Key]):
// one record per run, keyed by (migration, topic, partition, run SrcStart), and
// one checkpoint per partition, keyed by (migration, topic, partition). As
// replication advances, the last run's count grows, so its key is rewritten with
// larger counts; a gap starts a new run under a new key; coarsening rewrites the
// oldest key as the segment and deletes the merged keys with tombstones.
// [Partition.Changes] lists exactly these writes in a crash-safe order and
// [Partition.MarkSynced] records that they were acknowledged.
//
// The first checkpoint is written before the first record is copied, so that t0
// and srcBegin are durable before the target holds anything. All records of a
// partition go to one state-topic partition, so log order is write order.
//
// The checkpoint is the commit point. [Rebuild] and [Loader] reconstruct a
// partition from the records read back in log order and cut it at the
// checkpoint; run records written after the last checkpoint (a crash in the
// middle of a flush) are dropped and scheduled for deletion, and the records
// they describe are found again by tail reconciliation. A coarsened segment
// written by such a flush may reach past the checkpoint; it is cut there,
// which can leave the map coarser than it was at the checkpoint, never wrong.
//
// # Concurrency
//
// A [Partition] is not safe for concurrent use: its hot path, [Partition.Append],
// takes no lock. [Map] holds many partitions and gives each its own read-write
// lock, so a replicator can update one partition per batch while group
// translation reads it.
package offsetmap
