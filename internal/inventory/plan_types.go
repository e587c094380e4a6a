package inventory

import (
	"time"

	"github.com/kmigrate/kmigrate/internal/quotas"
)

// PlanSchema is the schema version of a Plan's JSON form.
const PlanSchema = "kmigrate.plan/v1"

// DefaultAssumedRate is the copy rate, in bytes per second, that the retention
// check assumes when neither the operator (`plan --assumed-rate`) nor the
// configuration (replication.max_bytes_per_second) gives one: 20 MiB/s, what
// one kmigrate process sustains across a wide-area link with room to spare. A
// slower real rate makes the check optimistic, so pass a measured figure.
const DefaultAssumedRate = 20 << 20

// Finding codes. Blockers: `run` would refuse or fail.
const (
	// CodePartitionCount: a target topic exists with a partition count that
	// differs from the source's, and kmigrate did not create it.
	CodePartitionCount = "partition-count-differs"
	// CodeSameCluster: source and target have the same cluster id.
	CodeSameCluster = "same-cluster"
	// CodeForeignData: a target partition holds records and kmigrate's state
	// has nothing for it.
	CodeForeignData = "foreign-data"
	// CodeStateMismatch: kmigrate's state says it wrote records that the target
	// no longer holds (topic deleted or recreated), or the state is inconsistent.
	CodeStateMismatch = "state-mismatch"
	// CodeCannotReadSource: the principal may not read a selected source topic
	// or group.
	CodeCannotReadSource = "cannot-read-source"
	// CodeCannotCreate: the target refuses to create a topic (permission, or the
	// spec: replication factor, configs).
	CodeCannotCreate = "cannot-create-target"
	// CodeCannotWrite: the principal may not write, or configure, a target topic
	// (the state topic included).
	CodeCannotWrite = "cannot-write-target"
)

// Warning codes: the migration can run; the operator must know.
const (
	// CodeRFCapped: the source replication factor is above the target's broker
	// count; the target topic gets fewer replicas.
	CodeRFCapped = "rf-capped"
	// CodeMinInsync: min.insync.replicas is above the replication factor the
	// target topic gets.
	CodeMinInsync = "min-insync-above-rf"
	// CodeMaxMessageBytes: the target's max.message.bytes is below the
	// source's: records the source accepted may not fit.
	CodeMaxMessageBytes = "max-message-bytes-lower"
	// CodeLogAppendTime: the target topic stamps records with LogAppendTime, so
	// the source timestamps are not kept.
	CodeLogAppendTime = "log-append-time"
	// CodeCleanupPolicy: the target topic's cleanup.policy differs from the
	// source's.
	CodeCleanupPolicy = "cleanup-policy-differs"
	// CodeRetention: source retention deletes records before the copy, at the
	// assumed rate, reaches them.
	CodeRetention = "retention-before-copy"
)

// Information codes.
const (
	CodePartitionsRaised = "partitions-raised"
	CodeTailToReconcile  = "tail-to-reconcile"
	CodeTopicMissing     = "topic-missing"
	CodeGroupMissing     = "group-missing"
	CodeGroupUnselected  = "group-reads-unselected"
	CodeNothingSelected  = "nothing-selected"
	CodeRetentionUnknown = "retention-unknown"
)

// Plan is what a migration will do to the target and what stands in its way.
type Plan struct {
	// Schema is PlanSchema.
	Schema    string    `json:"schema"`
	Migration string    `json:"migration"`
	TakenAt   time.Time `json:"taken_at"`
	// Source and Target describe the two clusters.
	Source PlanCluster `json:"source"`
	Target PlanCluster `json:"target"`
	// Rate is the copy rate the retention check assumed.
	Rate CopyRate `json:"rate"`
	// Summary counts what follows; Ready is false when any blocker exists.
	Summary PlanSummary `json:"summary"`
	// Findings are the problems, blockers first, then warnings, then notes.
	Findings []Finding `json:"findings"`
	// Topics are the selected source topics and what the target gets.
	Topics []PlannedTopic `json:"topics"`
	// Groups are the selected consumer groups.
	Groups []PlannedGroup `json:"groups"`
	// ClientQuotas are the source's client quotas, one row per entity and key,
	// which `kmigrate quotas sync` copies (user names mapped).
	ClientQuotas []quotas.Quota `json:"client_quotas,omitempty"`
	// Unavailable lists what could not be seen on either cluster.
	Unavailable []Gap `json:"unavailable,omitempty"`
}

// PlanCluster describes one side of the plan.
type PlanCluster struct {
	ClusterID string `json:"cluster_id"`
	Brokers   int    `json:"brokers"`
}

// CopyRate is the copy rate assumed and where it comes from.
type CopyRate struct {
	BytesPerSecond int64 `json:"bytes_per_second"`
	// Origin is "--assumed-rate", "replication.max_bytes_per_second" or
	// "default".
	Origin string `json:"origin"`
}

// PlanSummary counts a plan.
type PlanSummary struct {
	Topics     int `json:"topics"`
	Create     int `json:"create"`
	Existing   int `json:"existing"`
	Partitions int `json:"partitions"`
	// Records and SizeBytes total the selected topics (Records is an upper
	// bound when RecordsUpperBound is set; SizeBytes Unknown when not visible).
	Records           int64 `json:"records"`
	RecordsUpperBound bool  `json:"records_upper_bound"`
	SizeBytes         int64 `json:"size_bytes"`
	// CopySeconds is SizeBytes at the assumed rate; Unknown with SizeBytes.
	CopySeconds int64 `json:"copy_seconds"`
	Groups      int   `json:"groups"`
	Blockers    int   `json:"blockers"`
	Warnings    int   `json:"warnings"`
	Infos       int   `json:"infos"`
	// Ready is true when there is no blocker.
	Ready bool `json:"ready"`
}

// Finding is one problem or note.
type Finding struct {
	// Severity is blocker, warning or info; Code is one of the Code constants.
	Severity string `json:"severity"`
	Code     string `json:"code"`
	// Topic is the source topic and Target the target topic concerned; Group the
	// consumer group; any may be empty.
	Topic  string `json:"topic,omitempty"`
	Target string `json:"target,omitempty"`
	Group  string `json:"group,omitempty"`
	// Partitions lists the partitions concerned, when not all of them.
	Partitions []int32 `json:"partitions,omitempty"`
	Message    string  `json:"message"`
	// Fix says what to do about it, when something can be done.
	Fix string `json:"fix,omitempty"`
}

// PlannedTopic is one selected source topic and its target.
type PlannedTopic struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Action is "create", "exists", "raise partitions", "update configs" or
	// "blocked".
	Action            string `json:"action"`
	Partitions        int32  `json:"partitions"`
	ReplicationFactor int16  `json:"replication_factor"`
	SourceRF          int16  `json:"source_replication_factor"`
	// Configs are the configs kmigrate sets on the target topic; Skipped the
	// source overrides it does not copy, with the reason.
	Configs map[string]string `json:"configs,omitempty"`
	Skipped map[string]string `json:"skipped,omitempty"`
	// Accepts are the configs among Configs that are set so that the target
	// takes every record the source took, with the reason.
	Accepts           map[string]string `json:"accepts,omitempty"`
	Compacted         bool              `json:"compacted,omitempty"`
	Records           int64             `json:"records"`
	RecordsUpperBound bool              `json:"records_upper_bound"`
	SizeBytes         int64             `json:"size_bytes"`
}

// PlannedGroup is one selected consumer group.
type PlannedGroup struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Members int    `json:"members"`
	Lag     int64  `json:"lag"`
	// Topics are the topics it has committed offsets for; UnselectedTopics those
	// of them the topic selection leaves out.
	Topics           []string `json:"topics"`
	UnselectedTopics []string `json:"unselected_topics,omitempty"`
}
