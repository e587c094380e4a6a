package inventory

import (
	"time"

	"github.com/kmigrate/kmigrate/internal/acls"
)

// ScanSchema is the schema version of a Snapshot's JSON form.
const ScanSchema = "kmigrate.scan/v1"

// Severities of notes and plan findings.
const (
	// SeverityBlocker stops a migration: `run` would refuse or fail.
	SeverityBlocker = "blocker"
	// SeverityWarning is a problem the operator must know about; the migration
	// can run.
	SeverityWarning = "warning"
	// SeverityInfo is worth knowing and needs no action.
	SeverityInfo = "info"
)

// Unknown is the value of a count, offset, size or timestamp that could not be
// read (the request was refused or failed); the reason is in Unavailable or in
// the item's Error.
const Unknown = -1

// Snapshot is what a scan saw of one cluster.
type Snapshot struct {
	// Schema is ScanSchema.
	Schema string `json:"schema"`
	// Role is "source" or "target": which side of the migration was scanned.
	Role string `json:"role"`
	// TakenAt is when the scan started.
	TakenAt time.Time `json:"taken_at"`
	// ElapsedMillis is how long the scan took.
	ElapsedMillis int64 `json:"elapsed_ms"`
	// Summary counts what follows.
	Summary Summary `json:"summary"`
	// ClusterID is the cluster's id.
	ClusterID string `json:"cluster_id"`
	// Brokers are the registered brokers, by id.
	Brokers []Broker `json:"brokers"`
	// Quorum is the KRaft quorum; nil when DescribeQuorum was refused or is not
	// supported (see Unavailable).
	Quorum *Quorum `json:"quorum,omitempty"`
	// TopicDefaults are the broker-level settings, as topics see them, that differ
	// from Kafka's built-in defaults (every topic inherits them unless it
	// overrides them).
	TopicDefaults []Config `json:"topic_defaults,omitempty"`
	// Topics are the topics scanned, by name. Internal topics (Kafka's "__*" and
	// kmigrate's "_kmigrate*") appear only when asked for, flagged Internal.
	Topics []Topic `json:"topics"`
	// Groups are the consumer groups, by name.
	Groups []Group `json:"groups"`
	// Authorizer is "on" (ACLs were listed), "off" (the cluster has no
	// authorizer) or "unknown" (listing ACLs was refused).
	Authorizer string `json:"authorizer"`
	// ACLs are every ACL of the cluster when Authorizer is "on".
	ACLs []ACL `json:"acls,omitempty"`
	// Health lists what looks wrong in the cluster: under-replicated and offline
	// partitions, unreachable brokers, lagging quorum members, missing racks.
	Health []Note `json:"health,omitempty"`
	// Unavailable lists what the scan could not see, and why.
	Unavailable []Gap `json:"unavailable,omitempty"`

	// metas is the raw metadata of every topic, with the principal's authorized
	// operations, for the plan.
	metas map[string]topicMeta
}

// Summary is the first thing a report shows.
type Summary struct {
	Brokers int `json:"brokers"`
	// Controllers is the number of KRaft voters; Unknown without the quorum.
	Controllers int `json:"controllers"`
	// Topics counts the topics listed; InternalTopics those flagged internal
	// among them.
	Topics         int `json:"topics"`
	InternalTopics int `json:"internal_topics"`
	// HiddenInternalTopics counts internal topics the cluster has but the scan
	// left out.
	HiddenInternalTopics int `json:"hidden_internal_topics"`
	// SelectedTopics counts topics the migration's selection picks (source scans).
	SelectedTopics      int `json:"selected_topics"`
	Partitions          int `json:"partitions"`
	UnderReplicated     int `json:"under_replicated_partitions"`
	Offline             int `json:"offline_partitions"`
	CompactedTopics     int `json:"compacted_topics"`
	TransactionalTopics int `json:"transactional_topics"`
	// Records is the sum of the topics' records stored; RecordsUpperBound is set
	// when any of them is an upper bound.
	Records           int64 `json:"records"`
	RecordsUpperBound bool  `json:"records_upper_bound"`
	// SizeBytes is the size of the leader replicas, ReplicaBytes of every
	// replica; Unknown when log dirs could not be described.
	SizeBytes    int64 `json:"size_bytes"`
	ReplicaBytes int64 `json:"replica_bytes"`
	Groups       int   `json:"groups"`
	// TotalLag is the sum of every group's lag.
	TotalLag int64 `json:"total_lag"`
	ACLs     int   `json:"acls"`
	// Warnings counts Health notes of severity warning; Unavailable counts gaps.
	Warnings    int `json:"warnings"`
	Unavailable int `json:"unavailable"`
}

// Broker is one registered broker.
type Broker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	// Rack is the broker's rack, empty when none is set.
	Rack string `json:"rack,omitempty"`
	// Fenced is set for a broker the controller fenced (registered, not serving).
	Fenced bool `json:"fenced,omitempty"`
	// Leaders is how many of the scanned partitions this broker leads; Replicas
	// how many it holds a replica of.
	Leaders  int `json:"leaders"`
	Replicas int `json:"replicas"`
	// SizeBytes is the size of the scanned partitions' replicas on this broker;
	// Unknown when its log dirs could not be described.
	SizeBytes int64 `json:"size_bytes"`
}

// Quorum is the KRaft metadata quorum, as DescribeQuorum reports it.
type Quorum struct {
	// LeaderID is the active controller.
	LeaderID      int32 `json:"leader_id"`
	LeaderEpoch   int32 `json:"leader_epoch"`
	HighWatermark int64 `json:"high_watermark"`
	// Voters are the controllers that vote; Observers the brokers (and any
	// controller not voting) that replicate the metadata log.
	Voters    []QuorumMember `json:"voters"`
	Observers []QuorumMember `json:"observers"`
}

// QuorumMember is one replica of the metadata log.
type QuorumMember struct {
	ID int32 `json:"id"`
	// Endpoint is host:port of its controller listener, when reported.
	Endpoint     string `json:"endpoint,omitempty"`
	LogEndOffset int64  `json:"log_end_offset"`
	// Lag is the high watermark minus the member's log end offset, never below 0.
	Lag int64 `json:"lag"`
	// CaughtUpMillisAgo is how long ago the member last caught up with the
	// leader; Unknown when the leader does not say.
	CaughtUpMillisAgo int64 `json:"caught_up_ms_ago"`
}

// Config is one configuration value and where it comes from.
type Config struct {
	Name string `json:"name"`
	// Value is the value; empty and Sensitive set when the broker hides it.
	Value     string `json:"value"`
	Sensitive bool   `json:"sensitive,omitempty"`
	// Source says where the value is set: "topic" (a topic override), "broker"
	// (dynamic, one broker), "cluster" (dynamic, every broker), "static" (the
	// broker's server.properties) or "default" (Kafka's built-in default).
	Source string `json:"source"`
	// Default is the value the topic would have without this override,
	// DefaultSource where that comes from, and DefaultName the broker setting
	// that holds it when its name differs (log.retention.hours for
	// retention.ms: mind the unit). Topic overrides only, but for TopicDefaults,
	// where Default is Kafka's built-in value.
	Default       string `json:"default,omitempty"`
	DefaultSource string `json:"default_source,omitempty"`
	DefaultName   string `json:"default_name,omitempty"`
}

// Topic is one topic.
type Topic struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
	// Internal is set for Kafka's and kmigrate's own topics.
	Internal bool `json:"internal,omitempty"`
	// Selected is set when the migration's topic selection picks the topic
	// (source scans only).
	Selected          bool `json:"selected,omitempty"`
	Partitions        int  `json:"partitions"`
	ReplicationFactor int  `json:"replication_factor"`
	// CleanupPolicy is the effective cleanup.policy; Compacted is set when it
	// includes compact. Empty when configs could not be read.
	CleanupPolicy string `json:"cleanup_policy,omitempty"`
	Compacted     bool   `json:"compacted,omitempty"`
	// RetentionMillis, MaxMessageBytes and MinInsyncReplicas are the effective
	// retention.ms, max.message.bytes and min.insync.replicas; TimestampType the
	// effective message.timestamp.type. Unknown (or empty) when configs could not
	// be read.
	RetentionMillis   int64  `json:"retention_ms"`
	MaxMessageBytes   int64  `json:"max_message_bytes"`
	MinInsyncReplicas int    `json:"min_insync_replicas"`
	TimestampType     string `json:"timestamp_type,omitempty"`
	// Transactional is set when transactional producers were seen writing it
	// (see the package documentation for what can be seen).
	Transactional bool `json:"transactional,omitempty"`
	// Configs are the topic's overrides of the broker defaults.
	Configs []Config `json:"configs,omitempty"`
	// Records is the sum of the partitions' records stored; RecordsUpperBound is
	// set when compaction or transactions make it an upper bound.
	Records           int64 `json:"records"`
	RecordsUpperBound bool  `json:"records_upper_bound"`
	// SizeBytes is the size of the leader replicas, ReplicaBytes of all
	// replicas; Unknown when log dirs could not be described.
	SizeBytes    int64 `json:"size_bytes"`
	ReplicaBytes int64 `json:"replica_bytes"`
	// OldestTimestampMillis is the oldest first-record timestamp of its
	// partitions (Unix milliseconds); Unknown when empty or not visible.
	OldestTimestampMillis int64 `json:"oldest_timestamp_ms"`
	UnderReplicated       int   `json:"under_replicated_partitions"`
	Offline               int   `json:"offline_partitions"`
	// PartitionList has one row per partition, by number.
	PartitionList []Partition `json:"partition_list"`
	// Error says why the topic could not be described, when it could not.
	Error string `json:"error,omitempty"`
}

// Partition is one partition of a topic.
type Partition struct {
	Partition int32 `json:"partition"`
	// Leader is the leader's broker id, -1 when the partition has none.
	Leader          int32   `json:"leader"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas,omitempty"`
	// UnderReplicated is set when the ISR is smaller than the replica set;
	// Offline when the partition has no leader.
	UnderReplicated bool `json:"under_replicated,omitempty"`
	Offline         bool `json:"offline,omitempty"`
	// Earliest is the log start offset and Latest the high watermark; Stable is
	// the last stable offset (below Latest while a transaction is open).
	Earliest int64 `json:"earliest"`
	Latest   int64 `json:"latest"`
	Stable   int64 `json:"stable"`
	// Records is Latest − Earliest; see the package documentation.
	Records int64 `json:"records"`
	// FirstTimestampMillis is the timestamp of the first record; Unknown when the
	// partition is empty or it could not be read.
	FirstTimestampMillis int64 `json:"first_timestamp_ms"`
	// SizeBytes is the leader replica's size, ReplicaBytes all replicas'.
	SizeBytes    int64 `json:"size_bytes"`
	ReplicaBytes int64 `json:"replica_bytes"`
	// TransactionalProducers counts producers that wrote transactionally
	// (DescribeProducers); OpenTransaction is set while one is open.
	TransactionalProducers int  `json:"transactional_producers,omitempty"`
	OpenTransaction        bool `json:"open_transaction,omitempty"`
	// Error is the first error met describing the partition.
	Error string `json:"error,omitempty"`
}

// Group is one consumer group.
type Group struct {
	Name string `json:"name"`
	// Selected is set when the migration's group selection picks it (source
	// scans only).
	Selected bool `json:"selected,omitempty"`
	// Type is "classic", "consumer" (KIP-848) or "share".
	Type string `json:"type,omitempty"`
	// State is Kafka's group state (Stable, Empty, PreparingRebalance, ...).
	State string `json:"state"`
	// ProtocolType is "consumer" for consumers, "connect" for Kafka Connect;
	// Protocol is the assignor in use.
	ProtocolType string `json:"protocol_type,omitempty"`
	Protocol     string `json:"protocol,omitempty"`
	Members      int    `json:"members"`
	Coordinator  int32  `json:"coordinator"`
	// Lag is the sum of the partitions' lag.
	Lag int64 `json:"lag"`
	// Offsets has one row per committed partition, by topic and partition.
	Offsets []GroupOffset `json:"offsets"`
	// UnselectedTopics are topics the group reads (commits to or is assigned)
	// that the migration's topic selection leaves out: their positions will not
	// be translated.
	UnselectedTopics []string `json:"unselected_topics,omitempty"`
	// Error says what could not be read about the group.
	Error string `json:"error,omitempty"`
}

// GroupOffset is a group's committed position in one partition.
type GroupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the committed offset (the next record to read).
	Committed int64 `json:"committed"`
	// Latest is the partition's high watermark; Unknown when not visible.
	Latest int64 `json:"latest"`
	// Lag is Latest − Committed, never below 0; Unknown with Latest.
	Lag int64 `json:"lag"`
}

// ACL is one access control entry; package acls owns the type.
type ACL = acls.ACL

// Note is a health observation.
type Note struct {
	Severity string `json:"severity"`
	// Code is stable: under-replicated, offline, partition-error,
	// broker-unreachable, log-dir-error, quorum-lag, rack-missing, fenced-broker,
	// open-transaction.
	Code string `json:"code"`
	// Subject names what the note is about: topic[partition], broker 2, ...
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// Gap is something the scan could not see.
type Gap struct {
	// What names the information missing ("log dir sizes", "configs of orders").
	What string `json:"what"`
	// Request is the Kafka request that was refused or failed.
	Request string `json:"request"`
	// Reason is the error, with a hint where one helps.
	Reason string `json:"reason"`
}
