package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/quotas"
)

// TestACLsAndQuotasCommands drives `acls plan|sync` and `quotas plan|sync` end
// to end against two clusters with the authorizer: --dry-run changes nothing,
// sync creates the rows, a second plan has nothing to add, JSON has one row per
// ACL; and both commands fail with a clear error on a cluster without an
// authorizer.
func TestACLsAndQuotasCommands(t *testing.T) {
	opts := kafkatest.Options{SASL: true, TLS: true, Authorizer: true}
	src, tgt := kafkatest.SharedT(t, kafkatest.Auth, opts), kafkatest.SharedT(t, "auth-tgt", opts)
	topic := kafkatest.UniqueName(t, "acl")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	user := kafkatest.UniqueName(t, "u")
	if errs := acls.Create(t.Context(), src.ClientAs(t, "admin"), []acls.ACL{
		{Principal: "User:" + user, Host: "*", ResourceType: acls.Topic, ResourceName: topic, PatternType: acls.Literal, Operation: "READ", Permission: acls.Allow},
		{Principal: "User:" + user, Host: "*", ResourceType: acls.Topic, ResourceName: topic, PatternType: acls.Literal, Operation: acls.OpWrite, Permission: acls.Allow},
	}); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	cluster := func(c *kafkatest.Cluster) string {
		return fmt.Sprintf("  bootstrap_servers: [%s]\n  sasl:\n    mechanism: SCRAM-SHA-512\n    username: admin\n    password: %q\n",
			strings.Join(c.SASLBootstrap, ", "), c.Users["admin"])
	}
	cfg := filepath.Join(t.TempDir(), "migration.yaml")
	yaml := fmt.Sprintf("migration: %s\nsource:\n%starget:\n%stopics:\n  include: [%s]\nacls:\n  rewrite:\n    - match: \"User:(.*)\"\n      replace: \"User:gcp-$1\"\n",
		kafkatest.UniqueName(t, "m"), cluster(src), cluster(tgt), topic)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := func(args ...string) *acls.Plan {
		t.Helper()
		out, err := runCLI(t, append(args, "-c", cfg, "--format", "json")...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var p acls.Plan
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%v output is not JSON: %v\n%s", args, err, out)
		}
		return &p
	}
	mine := func(p *acls.Plan) map[string]string {
		out := map[string]string{}
		for _, r := range p.Rows {
			if r.Target != nil && r.Target.Principal == "User:gcp-"+user {
				out[r.Target.Operation] = r.Status
			}
		}
		return out
	}
	if got := mine(plan("acls", "sync", "--dry-run")); got["READ"] != acls.StatusAdd || got["WRITE"] != acls.StatusHeld || len(got) != 2 {
		t.Errorf("dry run: %v", got)
	}
	if got := mine(plan("acls", "sync")); got["READ"] != acls.StatusAdded || got["WRITE"] != acls.StatusHeld {
		t.Errorf("sync: %v", got)
	}
	p := plan("acls", "plan")
	if got := mine(p); got["READ"] != acls.StatusPresent || got["WRITE"] != acls.StatusHeld {
		t.Errorf("plan after sync: %v", got)
	}
	for _, pr := range p.Principals {
		if pr.Target == "User:gcp-"+user && pr.Status != acls.NoCredentialOnTarget {
			t.Errorf("principal without a SCRAM user on the target: %+v", pr)
		}
	}
	out, err := runCLI(t, "acls", "plan", "-c", cfg)
	if err != nil || !strings.Contains(out, "User:gcp-"+user) || !strings.Contains(out, "no-credential-on-target") {
		t.Errorf("acls plan text: %v\n%s", err, out)
	}

	out, err = runCLI(t, "quotas", "sync", "-c", cfg, "--dry-run", "--format", "json")
	var qp quotas.Plan
	if err != nil || json.Unmarshal([]byte(out), &qp) != nil || qp.Schema != quotas.PlanSchema {
		t.Errorf("quotas sync --dry-run: %v\n%s", err, out)
	}

	plain := inventoryConfig(t, kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{}), kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{}), topic)
	if _, err := runCLI(t, "acls", "plan", "-c", plain); err == nil || !strings.Contains(err.Error(), "no authorizer") {
		t.Errorf("acls plan without an authorizer: %v, want an error saying so", err)
	}
}
