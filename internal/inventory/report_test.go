package inventory_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files of the report tests")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test -run %s -update and review the diff.\ngot:\n%s", path, t.Name(), got)
	}
}

// fixtureSnapshot is a source scan with one of everything a report shows. Its
// values are fixed, so the reports built from it are too.
func fixtureSnapshot() *inventory.Snapshot {
	taken := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	return &inventory.Snapshot{
		Schema: inventory.ScanSchema, Role: "source", TakenAt: taken, ElapsedMillis: 1234,
		ClusterID: "MkU3OEVBNTcwNTJENDM2Qk",
		Summary: inventory.Summary{
			Brokers: 3, Controllers: 3, Topics: 3, InternalTopics: 1, HiddenInternalTopics: 0, SelectedTopics: 2,
			Partitions: 4, UnderReplicated: 1, Offline: 1, CompactedTopics: 1, TransactionalTopics: 1,
			Records: 2_000_130, RecordsUpperBound: true, SizeBytes: 3 << 30, ReplicaBytes: 9 << 30,
			Groups: 2, TotalLag: 1500, ACLs: 2, Warnings: 2, Unavailable: 1,
		},
		Brokers: []inventory.Broker{
			{ID: 1, Host: "b-1.example", Port: 9092, Rack: "eu-west-1a", Leaders: 2, Replicas: 4, SizeBytes: 3 << 30},
			{ID: 2, Host: "b-2.example", Port: 9092, Rack: "eu-west-1b", Leaders: 1, Replicas: 3, SizeBytes: 3 << 30},
			{ID: 3, Host: "b-3.example", Port: 9092, Rack: "eu-west-1c", Fenced: true, Replicas: 3, SizeBytes: inventory.Unknown},
		},
		Quorum: &inventory.Quorum{LeaderID: 101, LeaderEpoch: 7, HighWatermark: 98765,
			Voters: []inventory.QuorumMember{
				{ID: 101, Endpoint: "c-1.example:9093", LogEndOffset: 98765, CaughtUpMillisAgo: 0},
				{ID: 102, Endpoint: "c-2.example:9093", LogEndOffset: 98765, CaughtUpMillisAgo: 120},
				{ID: 103, Endpoint: "c-3.example:9093", LogEndOffset: 98700, Lag: 65, CaughtUpMillisAgo: 45000},
			},
			Observers: []inventory.QuorumMember{
				{ID: 1, LogEndOffset: 98765, CaughtUpMillisAgo: 80},
				{ID: 2, LogEndOffset: 98765, CaughtUpMillisAgo: 90},
			},
		},
		TopicDefaults: []inventory.Config{{Name: "min.insync.replicas", Value: "2", Source: "static", Default: "1", DefaultSource: "default"}},
		Topics: []inventory.Topic{
			{Name: "__consumer_offsets", Internal: true, Partitions: 1, ReplicationFactor: 3, CleanupPolicy: "compact", Compacted: true,
				RetentionMillis: 604800000, MaxMessageBytes: 1048588, MinInsyncReplicas: 2, TimestampType: "CreateTime",
				Records: 120, RecordsUpperBound: true, SizeBytes: 4096, ReplicaBytes: 12288, OldestTimestampMillis: 1741900000000,
				PartitionList: []inventory.Partition{{Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3},
					Earliest: 0, Latest: 120, Stable: 120, Records: 120, FirstTimestampMillis: 1741900000000, SizeBytes: 4096, ReplicaBytes: 12288}}},
			{Name: "orders", Selected: true, Partitions: 2, ReplicationFactor: 3, CleanupPolicy: "delete",
				RetentionMillis: 259200000, MaxMessageBytes: 2097152, MinInsyncReplicas: 2, TimestampType: "CreateTime", Transactional: true,
				Configs: []inventory.Config{
					{Name: "max.message.bytes", Value: "2097152", Source: "topic", Default: "1048588", DefaultSource: "default"},
					{Name: "retention.ms", Value: "259200000", Source: "topic", Default: "168", DefaultSource: "default", DefaultName: "log.retention.hours"},
				},
				Records: 2_000_000, RecordsUpperBound: true, SizeBytes: 3 << 30, ReplicaBytes: 9 << 30, OldestTimestampMillis: 1741700000000,
				UnderReplicated: 1, Offline: 1,
				PartitionList: []inventory.Partition{
					{Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, UnderReplicated: true,
						Earliest: 1_000_000_000, Latest: 1_002_000_000, Stable: 1_001_999_990, Records: 2_000_000,
						FirstTimestampMillis: 1741700000000, SizeBytes: 3 << 30, ReplicaBytes: 9 << 30, TransactionalProducers: 2, OpenTransaction: true},
					{Partition: 1, Leader: -1, Replicas: []int32{3}, ISR: []int32{3}, Offline: true,
						Earliest: inventory.Unknown, Latest: inventory.Unknown, Stable: inventory.Unknown, Records: inventory.Unknown,
						FirstTimestampMillis: inventory.Unknown, SizeBytes: inventory.Unknown, ReplicaBytes: inventory.Unknown},
				}},
			{Name: "users", Selected: true, Partitions: 1, ReplicationFactor: 3, CleanupPolicy: "compact", Compacted: true,
				RetentionMillis: 604800000, MaxMessageBytes: 1048588, MinInsyncReplicas: 2, TimestampType: "CreateTime",
				Configs: []inventory.Config{{Name: "cleanup.policy", Value: "compact", Source: "topic", Default: "delete", DefaultSource: "default"}},
				Records: 10, RecordsUpperBound: true, SizeBytes: 2048, ReplicaBytes: 6144, OldestTimestampMillis: 1741800000000,
				PartitionList: []inventory.Partition{{Partition: 0, Leader: 2, Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3, 1},
					Earliest: 0, Latest: 10, Stable: 10, Records: 10, FirstTimestampMillis: 1741800000000, SizeBytes: 2048, ReplicaBytes: 6144}}},
		},
		Groups: []inventory.Group{
			{Name: "billing", Selected: true, Type: "classic", State: "Stable", ProtocolType: "consumer", Protocol: "cooperative-sticky",
				Members: 2, Coordinator: 1, Lag: 1500, UnselectedTopics: []string{"audit"},
				Offsets: []inventory.GroupOffset{
					{Topic: "audit", Partition: 0, Committed: 40, Latest: 40, Lag: 0},
					{Topic: "orders", Partition: 0, Committed: 1_001_998_500, Latest: 1_002_000_000, Lag: 1500},
				}},
			{Name: "reports", Type: "classic", State: "Empty", Coordinator: 2, Offsets: []inventory.GroupOffset{}, Error: "committed offsets: GROUP_AUTHORIZATION_FAILED"},
		},
		Authorizer: "on",
		ACLs: []inventory.ACL{
			{Principal: "User:kmigrate", Host: "*", ResourceType: "TOPIC", ResourceName: "*", PatternType: "LITERAL", Operation: "READ", Permission: "ALLOW"},
			{Principal: "User:orders-app", Host: "*", ResourceType: "TOPIC", ResourceName: "orders", PatternType: "PREFIXED", Operation: "WRITE", Permission: "ALLOW"},
		},
		Health: []inventory.Note{
			{Severity: inventory.SeverityWarning, Code: "fenced-broker", Subject: "broker 3", Message: "broker 3 is registered but fenced: it serves no partition"},
			{Severity: inventory.SeverityWarning, Code: "offline", Subject: "orders[1]", Message: "orders[1] has no leader: replicas 3 are all offline or out of sync; its data cannot be read"},
		},
		Unavailable: []inventory.Gap{{What: "log dir sizes on broker 3", Request: "DescribeLogDirs", Reason: "unable to dial: dial tcp 10.0.0.3:9092: connect: connection refused (nothing listens there: check bootstrap_servers)"}},
	}
}

func fixturePlan() *inventory.Plan {
	return &inventory.Plan{
		Schema: inventory.PlanSchema, Migration: "aws-to-gcp", TakenAt: time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC),
		Source: inventory.PlanCluster{ClusterID: "MkU3OEVBNTcwNTJENDM2Qk", Brokers: 3},
		Target: inventory.PlanCluster{ClusterID: "Xk2NXoQfQ4y0g3V5Vn1pbw", Brokers: 1},
		Rate:   inventory.CopyRate{BytesPerSecond: 20 << 20, Origin: "default"},
		Summary: inventory.PlanSummary{Topics: 3, Create: 1, Existing: 1, Partitions: 7, Records: 2_000_010, RecordsUpperBound: true,
			SizeBytes: 3 << 30, CopySeconds: 154, Groups: 1, Blockers: 1, Warnings: 2, Infos: 1},
		Findings: []inventory.Finding{
			{Severity: inventory.SeverityBlocker, Code: inventory.CodeForeignData, Topic: "payments", Target: "payments", Partitions: []int32{0, 2},
				Message: "target topic payments holds 12 records that kmigrate did not write (partitions 0,2): kmigrate must be the only writer of its target partitions",
				Fix:     "empty or delete the target topic, or pick another target name with a rename rule"},
			{Severity: inventory.SeverityWarning, Code: inventory.CodeRFCapped, Topic: "orders", Target: "orders",
				Message: "source replication factor 3 is above the target's 1 broker(s): target topic orders gets replication factor 1",
				Fix:     "add target brokers, or accept the lower replication factor (replication.replication_factor sets it per topic)"},
			{Severity: inventory.SeverityWarning, Code: inventory.CodeRetention, Topic: "orders", Target: "orders",
				Message: "retention (retention.ms=259200000) may delete about 1200 records of orders before the copy reaches them: copying 3.0 GiB at 20.0 MiB/s takes about 2m34s, and its oldest records expire in 1m0s",
				Fix:     "raise retention.ms of orders on the source for the duration of the copy, or copy faster (replication.max_bytes_per_second, more bandwidth)"},
			{Severity: inventory.SeverityInfo, Code: inventory.CodeGroupUnselected, Group: "billing",
				Message: "group billing also reads audit, outside the topic selection: its positions there are not translated"},
		},
		Topics: []inventory.PlannedTopic{
			{Source: "orders", Target: "orders", Action: "create", Partitions: 2, ReplicationFactor: 1, SourceRF: 3,
				Configs: map[string]string{"max.message.bytes": "2097152", "retention.ms": "259200000"},
				Skipped: map[string]string{"message.timestamp.type": "LogAppendTime on the target would replace the source timestamps kmigrate preserves"},
				Records: 2_000_000, RecordsUpperBound: true, SizeBytes: 3 << 30},
			{Source: "payments", Target: "payments", Action: "blocked", Partitions: 4, ReplicationFactor: 1, SourceRF: 1, Records: 0, SizeBytes: 0},
			{Source: "users", Target: "users", Action: "exists", Partitions: 1, ReplicationFactor: 1, SourceRF: 1,
				Configs: map[string]string{"cleanup.policy": "compact"}, Compacted: true, Records: 10, RecordsUpperBound: true, SizeBytes: 2048},
		},
		Groups: []inventory.PlannedGroup{{Name: "billing", State: "Stable", Members: 2, Lag: 1500, Topics: []string{"audit", "orders"}, UnselectedTopics: []string{"audit"}}},
		Unavailable: []inventory.Gap{{What: "target: broker defaults for new topics", Request: "DescribeConfigs",
			Reason: "CLUSTER_AUTHORIZATION_FAILED: Cluster authorization failed. (the principal lacks a cluster ACL for this operation)"}},
	}
}

// TestReportGolden pins the text, Markdown and JSON forms of the scan and plan
// reports: layout changes show up as a diff to review.
func TestReportGolden(t *testing.T) {
	snap, plan := fixtureSnapshot(), fixturePlan()
	plan.Summary.Ready = plan.Summary.Blockers == 0
	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"scan.txt", func(b *bytes.Buffer) error { return snap.WriteText(b) }},
		{"scan.md", func(b *bytes.Buffer) error { return snap.WriteMarkdown(b) }},
		{"scan.json", func(b *bytes.Buffer) error { return jsonIndent(b, snap) }},
		{"plan.txt", func(b *bytes.Buffer) error { return plan.WriteText(b) }},
		{"plan.md", func(b *bytes.Buffer) error { return plan.WriteMarkdown(b) }},
		{"plan.json", func(b *bytes.Buffer) error { return jsonIndent(b, plan) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, b.Bytes())
		})
	}
}

func jsonIndent(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
