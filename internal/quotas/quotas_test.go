package quotas_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/quotas"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

func str(s string) *string { return &s }

// TestQuotasCopied sets user, client-id and user+client-id quotas on a real
// source, maps the user, and checks that sync sets exactly those on the target,
// updates a differing value, leaves a target-only quota alone, and that a second
// plan finds everything present.
func TestQuotasCopied(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	ctx := context.Background()
	user, mapped := kafkatest.UniqueName(t, "alice"), kafkatest.UniqueName(t, "alice-gcp")
	client := kafkatest.UniqueName(t, "orders-svc")
	only := kafkatest.UniqueName(t, "gcp-only")
	set := func(c *kafkatest.Cluster, entries ...kadm.AlterClientQuotaEntry) {
		t.Helper()
		res, err := c.Admin(t).AlterClientQuotas(ctx, entries)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			t.Fatalf("set quotas on %s: %v", c.Name, err)
		}
	}
	entity := func(kv ...string) kadm.ClientQuotaEntity {
		var e kadm.ClientQuotaEntity
		for i := 0; i < len(kv); i += 2 {
			e = append(e, kadm.ClientQuotaEntityComponent{Type: kv[i], Name: str(kv[i+1])})
		}
		return e
	}
	set(src,
		kadm.AlterClientQuotaEntry{Entity: entity("user", user), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1048576}, {Key: "consumer_byte_rate", Value: 2097152}}},
		kadm.AlterClientQuotaEntry{Entity: entity("client-id", client), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 50}}},
		kadm.AlterClientQuotaEntry{Entity: entity("user", user, "client-id", client), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 524288}}},
	)
	set(tgt,
		kadm.AlterClientQuotaEntry{Entity: entity("user", mapped), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		kadm.AlterClientQuotaEntry{Entity: entity("client-id", only), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 10}}},
	)
	cfg := config.Default()
	cfg.Migration = kafkatest.UniqueName(t, "m")
	cfg.ACLs.Principals = map[string]string{"User:" + user: "User:" + mapped}

	// Other tests' quotas may share the clusters: look only at this test's.
	mine := func(p *quotas.Plan) map[string]string {
		out := map[string]string{}
		for _, r := range p.Rows {
			q := r.Target
			if q == nil {
				q = r.Source
			}
			for _, n := range []string{user, mapped, client, only} {
				if strings.Contains(q.Entity, n) {
					out[q.Entity+" "+q.Key] = r.Status + " " + quotas.FormatValue(q.Value)
				}
			}
		}
		return out
	}
	// The brokers learn quotas from the metadata log: wait until both sides
	// show what was set.
	var p *quotas.Plan
	kafkatest.Eventually(t, 30*time.Second, func() error {
		var err error
		if p, err = quotas.MakePlan(ctx, cfg, src.Client(t), tgt.Client(t)); err != nil {
			return err
		}
		if n := len(mine(p)); n != 5 {
			return fmt.Errorf("%d of the 5 quotas visible: %v", n, mine(p))
		}
		return nil
	})
	want := map[string]string{
		"user=" + mapped + " producer_byte_rate":                          "update 1048576",
		"user=" + mapped + " consumer_byte_rate":                          "add 2097152",
		"client-id=" + client + " request_percentage":                     "add 50",
		"user=" + mapped + ",client-id=" + client + " producer_byte_rate": "add 524288",
		"client-id=" + only + " request_percentage":                       "extra 10",
	}
	check := func(what string, got map[string]string, want map[string]string) {
		t.Helper()
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s is %q, want %q", what, k, got[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	check("plan", mine(p), want)
	if n := quotas.Sync(ctx, tgt.Client(t), p); n != 0 {
		t.Fatalf("sync: %d failures: %+v", n, p.Rows)
	}
	for k, w := range want {
		if status, value, _ := strings.Cut(w, " "); status != quotas.StatusExtra {
			want[k] = quotas.StatusPresent + " " + value
		}
	}
	// Again, the brokers learn the new quotas from the metadata log.
	kafkatest.Eventually(t, 30*time.Second, func() error {
		again, err := quotas.MakePlan(ctx, cfg, src.Client(t), tgt.Client(t))
		if err != nil {
			return err
		}
		if got := mine(again); !maps.Equal(got, want) {
			return fmt.Errorf("second plan %v, want %v", got, want)
		}
		return nil
	})
}
