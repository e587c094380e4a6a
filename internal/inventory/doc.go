// Package inventory takes a read-only snapshot of a Kafka cluster (Scan) and
// compares a source with a target before a migration starts (MakePlan). The
// baseline that progress is measured against is not kept here: `run` takes it and
// stores it in the state topic (package state). Nothing here writes to a cluster: the only request that could
// change one, CreateTopics, is sent with validate_only set.
//
// # What is exact and what is approximate
//
// Exact, as of the moment each request was answered: brokers and racks; the KRaft
// quorum (leader, epoch, high watermark, each voter's and observer's log end
// offset); topics with partitions, replication factor, leader, replicas and ISR;
// configurations and where each value comes from; earliest (log start) and latest
// (high watermark) offsets; committed group offsets; ACLs. The snapshot is not
// atomic: requests are answered at slightly different moments, so on a live
// cluster a group's committed offset may be read after or before the end offset
// it is compared with. Lag is clamped at 0 and is measured against the high
// watermark (consumers reading read_committed stop at the last stable offset,
// which the snapshot also records).
//
// Approximate, and said so in every report:
//   - Records stored is latest − earliest offset. It is the exact count of offsets,
//     and the exact count of records only when nothing left a hole. Compaction
//     removes records, and transactions write control records (and aborted records
//     that read_committed consumers never see), so for a compacted topic or one
//     written by transactional producers the count is an upper bound, flagged as
//     such. Transactional producers are detected with DescribeProducers, which
//     only knows producers whose state the broker still keeps
//     (producer.id.expiration.ms, one day by default), and with open transactions
//     (last stable offset below the high watermark); older transactional writes
//     cannot be seen without reading the partition.
//   - Size on disk comes from DescribeLogDirs and counts segment files, indexes
//     excluded. A topic's size is the sum of its leader replicas; the replica size
//     adds every copy. Data in tiered storage is not included.
//   - The oldest record timestamp of a partition is the timestamp of its first
//     record whose timestamp is 0 or later (ListOffsets by time), which is its
//     first record unless producers set timestamps out of order.
//
// The plan is exact where it compares what both clusters say now (partition
// counts, configs, permissions as the brokers report them, kmigrate's state
// against target offsets) and an estimate in one place: whether source retention
// deletes records before the copy reaches them, which assumes a copy rate and a
// steady copy (see planner.retention for the model).
//
// What the principal may not see is recorded, never fatal: every section that a
// broker refused (authorization) or does not support becomes an entry of
// Snapshot.Unavailable naming the request and the reason, and the scan carries on.
// Only a cluster that cannot be reached at all fails a scan.
//
// # Versioned JSON
//
// Snapshot and Plan carry a Schema field ("kmigrate.scan/v1",
// "kmigrate.plan/v1"). Fields are only ever added within a
// version; a removed or re-typed field bumps it. The JSON field names and their
// meaning are documented on the Go types of this package.
package inventory
