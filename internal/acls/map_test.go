package acls

import (
	"slices"
	"testing"

	"github.com/kmigrate/kmigrate/internal/config"
)

func acl(rt, name, pattern, principal, op, perm string) ACL {
	return ACL{Principal: principal, Host: "*", ResourceType: rt, ResourceName: name, PatternType: pattern, Operation: op, Permission: perm}
}

// TestMap checks the mapping rules without a cluster: selection, the rename
// rule on literal and prefixed topic ACLs, principal mapping, WRITE and ALL held
// back, DENY copied at once, and the diff against the target.
func TestMap(t *testing.T) {
	cfg := config.Default()
	cfg.Migration = "m"
	cfg.Topics.Include = []string{"orders.*", "payments"}
	cfg.Groups.Exclude = []string{"legacy"}
	cfg.Replication.TopicPrefix = "aws."
	cfg.ACLs.Principals = map[string]string{"User:alice": "User:alice-gcp"}
	cfg.ACLs.Rewrite = []config.PrincipalRewrite{{Match: "User:arn:aws:iam::.*:role/(.*)", Replace: "User:$1"}}
	for _, err := range []error{cfg.Topics.Compile(), cfg.Groups.Compile(), cfg.ACLs.Compile()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	role := "User:arn:aws:iam::123456789012:role/billing"
	src := []ACL{
		acl(Topic, "orders", Literal, "User:alice", "READ", Allow),
		acl(Topic, "orders", Literal, "User:alice", OpWrite, Allow),
		acl(Topic, "orders", Literal, "User:mallory", OpWrite, Deny),
		acl(Topic, "orders.", Prefixed, role, OpAll, Allow),
		acl(Topic, "inventory", Literal, "User:alice", "READ", Allow),
		acl(Topic, "zzz", Prefixed, "User:alice", "READ", Allow),
		acl(Group, "billing", Literal, role, "READ", Allow),
		acl(Group, "legacy", Literal, role, "READ", Allow),
		acl(TransactionalID, "billing-tx", Literal, role, OpWrite, Allow),
		acl(Cluster, "kafka-cluster", Literal, role, "IDEMPOTENT_WRITE", Allow),
		acl(Topic, "payments", Literal, "User:bob", "DESCRIBE", Allow),
	}
	tgt := []ACL{
		acl(Topic, "aws.payments", Literal, "User:bob", "DESCRIBE", Allow),
		acl(Topic, "gcp-only", Literal, "User:carol", "READ", Allow),
	}
	p := Map(cfg, []string{"orders", "orders.eu", "payments"}, src, tgt)
	type want struct{ status, target string }
	var got []want
	for _, r := range p.Rows {
		w := want{status: r.Status}
		if r.Target != nil {
			w.target = r.Target.Permission + " " + r.Target.Principal + " " + r.Target.Operation + " " + r.Target.ResourceType + ":" + r.Target.PatternType + ":" + r.Target.ResourceName
		}
		got = append(got, w)
	}
	exp := []want{
		{StatusAdd, "ALLOW User:alice-gcp READ TOPIC:LITERAL:aws.orders"},
		{StatusHeld, "ALLOW User:alice-gcp WRITE TOPIC:LITERAL:aws.orders"},
		{StatusAdd, "DENY User:mallory WRITE TOPIC:LITERAL:aws.orders"},
		{StatusHeld, "ALLOW User:billing ALL TOPIC:PREFIXED:aws.orders."},
		{StatusAdd, "ALLOW User:billing READ TOPIC:PREFIXED:aws.orders."},
		{StatusAdd, "ALLOW User:billing CREATE TOPIC:PREFIXED:aws.orders."},
		{StatusAdd, "ALLOW User:billing DELETE TOPIC:PREFIXED:aws.orders."},
		{StatusAdd, "ALLOW User:billing ALTER TOPIC:PREFIXED:aws.orders."},
		{StatusAdd, "ALLOW User:billing DESCRIBE TOPIC:PREFIXED:aws.orders."},
		{StatusAdd, "ALLOW User:billing DESCRIBE_CONFIGS TOPIC:PREFIXED:aws.orders."},
		{StatusAdd, "ALLOW User:billing ALTER_CONFIGS TOPIC:PREFIXED:aws.orders."},
		{StatusSkipped, ""},
		{StatusSkipped, ""},
		{StatusAdd, "ALLOW User:billing READ GROUP:LITERAL:billing"},
		{StatusSkipped, ""},
		{StatusAdd, "ALLOW User:billing WRITE TRANSACTIONAL_ID:LITERAL:billing-tx"},
		{StatusAdd, "ALLOW User:billing IDEMPOTENT_WRITE CLUSTER:LITERAL:kafka-cluster"},
		{StatusPresent, "ALLOW User:bob DESCRIBE TOPIC:LITERAL:aws.payments"},
		{StatusExtra, "ALLOW User:carol READ TOPIC:LITERAL:gcp-only"},
	}
	if !slices.Equal(got, exp) {
		for i := range max(len(got), len(exp)) {
			var g, e want
			if i < len(got) {
				g = got[i]
			}
			if i < len(exp) {
				e = exp[i]
			}
			if g != e {
				t.Errorf("row %d: got %v, want %v", i, g, e)
			}
		}
	}
	grants := WriteGrants(p)
	if len(grants) != 2 || grants[0].Operation != OpWrite || grants[1].Operation != OpAll {
		t.Errorf("write grants: %v", grants)
	}
	var principals []string
	for _, pr := range p.Principals {
		principals = append(principals, pr.Target)
	}
	if !slices.Equal(principals, []string{"User:alice-gcp", "User:billing", "User:bob", "User:mallory"}) {
		t.Errorf("principals %v", principals)
	}
}
