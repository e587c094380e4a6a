package acls_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

// authTarget is a second shared cluster with the Auth cluster's options: SASL,
// TLS and the StandardAuthorizer.
const authTarget = "auth-tgt"

func authClusters(t *testing.T) (src, tgt *kafkatest.Cluster) {
	t.Helper()
	opts := kafkatest.Options{SASL: true, TLS: true, Authorizer: true}
	return kafkatest.SharedT(t, kafkatest.Auth, opts), kafkatest.SharedT(t, authTarget, opts)
}

// app is an application's identity on one cluster: a SCRAM user.
type app struct {
	c          *kafkatest.Cluster
	user, pass string
}

// newApp creates a SCRAM-SHA-512 user on c and waits until it can log in.
func newApp(t *testing.T, c *kafkatest.Cluster, user string) app {
	t.Helper()
	a := app{c: c, user: user, pass: kafkatest.UniqueName(t, "pw")}
	res, err := c.Admin(t).AlterUserSCRAMs(context.Background(), nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: a.pass}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create user %s on %s: %v", user, c.Name, err)
	}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		cl := a.client(t)
		defer cl.Close()
		return cl.Ping(context.Background())
	})
	return a
}

func (a app) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(a.c.SASLBootstrap...),
		kgo.SASL(scram.Auth{User: a.user, Pass: a.pass}.AsSha512Mechanism()),
		kgo.RecordDeliveryTimeout(10 * time.Second), kgo.RequestRetries(2),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// produce writes one record to topic, transactionally when txnID is set.
func (a app) produce(t *testing.T, topic, txnID string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: topic, Value: []byte("from " + a.user)}
	if txnID == "" {
		cl := a.client(t)
		defer cl.Close()
		return cl.ProduceSync(ctx, rec).FirstErr()
	}
	cl := a.client(t, kgo.TransactionalID(txnID))
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		return err
	}
	return cl.EndTransaction(ctx, kgo.TryCommit)
}

// consume reads one record of topic as group and commits it. A consumer that
// may not read a topic does not always get an error (the client keeps asking
// for the topic's metadata), so any failure to read within the deadline counts
// as not allowed; the probes are polled, so a slow ACL propagation only retries.
func (a app) consume(t *testing.T, topic, group string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := a.client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s as %s: %w", topic, group, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		if fs.NumRecords() > 0 {
			return cl.CommitUncommittedOffsets(ctx)
		}
	}
}

func denied(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed)
}

// rights is what an application may do, as a real client finds out.
type rights struct{ produce, produceTxn, consume, produceAll, consumeAll, produceOther bool }

func probe(t *testing.T, a app, topic, allTopic, other, group, txnID string) rights {
	t.Helper()
	check := func(what string, err error) bool {
		if err != nil && !denied(err) {
			t.Fatalf("%s as %s on %s: not an authorization error: %v", what, a.user, a.c.Name, err)
		}
		return err == nil
	}
	// Something to read, whatever the group committed before.
	kafkatest.Produce(t, a.c.ClientAs(t, "admin"), &kgo.Record{Topic: topic, Value: []byte("seed")}, &kgo.Record{Topic: allTopic, Value: []byte("seed")})
	return rights{
		produce:      check("produce to "+topic, a.produce(t, topic, "")),
		produceTxn:   check("produce to "+topic+" in a transaction", a.produce(t, topic, txnID)),
		consume:      a.consume(t, topic, group) == nil,
		produceAll:   check("produce to "+allTopic, a.produce(t, allTopic, "")),
		consumeAll:   a.consume(t, allTopic, group) == nil,
		produceOther: check("produce to "+other, a.produce(t, other, "")),
	}
}

// TestACLsMoveWithTheApplication is the proof of the ACL migration against the
// StandardAuthorizer on both sides: an application user on the source may
// produce (plain and transactional) and consume with a group on a literal topic,
// do everything on a prefixed topic family (ALL), and nothing on another topic.
// After acls sync, the mapped user on the target may consume but write nothing;
// after the cutover's write grants, it may do exactly what it could on the
// source; after the rollback removes them, it may write nothing again.
func TestACLsMoveWithTheApplication(t *testing.T) {
	src, tgt := authClusters(t)
	ctx := context.Background()
	topic := kafkatest.UniqueName(t, "orders")
	prefix := kafkatest.UniqueName(t, "fam") + "."
	allTopic := prefix + "eu"
	other := kafkatest.UniqueName(t, "secret")
	group := kafkatest.UniqueName(t, "billing")
	txnID := kafkatest.UniqueName(t, "billing-tx")
	const rename = "gcp."
	for _, tp := range []string{topic, allTopic, other} {
		kafkatest.CreateTopic(t, src, tp, 1, nil)
		kafkatest.CreateTopic(t, tgt, rename+tp, 1, nil)
		kafkatest.Produce(t, src.ClientAs(t, "admin"), &kgo.Record{Topic: tp, Value: []byte("seed")})
		kafkatest.Produce(t, tgt.ClientAs(t, "admin"), &kgo.Record{Topic: rename + tp, Value: []byte("seed")})
	}
	srcApp := newApp(t, src, kafkatest.UniqueName(t, "app-aws"))
	tgtApp := newApp(t, tgt, kafkatest.UniqueName(t, "app-gcp"))
	ghost := "User:" + kafkatest.UniqueName(t, "ghost")

	// The application's ACLs on the source.
	p := "User:" + srcApp.user
	mk := func(rt, name, pattern, principal, op, perm string) acls.ACL {
		return acls.ACL{Principal: principal, Host: "*", ResourceType: rt, ResourceName: name, PatternType: pattern, Operation: op, Permission: perm}
	}
	source := []acls.ACL{
		mk(acls.Topic, topic, acls.Literal, p, "READ", acls.Allow),
		mk(acls.Topic, topic, acls.Literal, p, acls.OpWrite, acls.Allow),
		mk(acls.Topic, topic, acls.Literal, p, "DESCRIBE", acls.Allow),
		mk(acls.Topic, prefix, acls.Prefixed, p, acls.OpAll, acls.Allow),
		mk(acls.Group, group, acls.Literal, p, "READ", acls.Allow),
		mk(acls.TransactionalID, txnID, acls.Literal, p, acls.OpWrite, acls.Allow),
		mk(acls.TransactionalID, txnID, acls.Literal, p, "DESCRIBE", acls.Allow),
		mk(acls.Topic, topic, acls.Literal, ghost, "READ", acls.Allow),
		mk(acls.Topic, other, acls.Literal, p, acls.OpWrite, acls.Deny),
	}
	if err := errors.Join(acls.Create(ctx, src.ClientAs(t, "admin"), source)...); err != nil {
		t.Fatalf("create source acls: %v", err)
	}
	want := rights{produce: true, produceTxn: true, consume: true, produceAll: true, consumeAll: true}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if got := probe(t, srcApp, topic, allTopic, other, group, txnID); got != want {
			return fmt.Errorf("on the source %s may %+v, want %+v", srcApp.user, got, want)
		}
		return nil
	})

	cfg := config.Default()
	cfg.Migration = kafkatest.UniqueName(t, "m")
	cfg.Topics.Include = []string{regexp.QuoteMeta(topic), regexp.QuoteMeta(prefix) + ".*", regexp.QuoteMeta(other)}
	cfg.Replication.TopicPrefix = rename
	cfg.ACLs.Principals = map[string]string{p: "User:" + tgtApp.user}
	for _, err := range []error{cfg.Topics.Compile(), cfg.Groups.Compile(), cfg.ACLs.Compile()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	opts := acls.Options{Config: cfg, Source: src.ClientAs(t, "admin"), Target: tgt.ClientAs(t, "admin")}
	plan, err := acls.MakePlan(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := acls.Sync(ctx, opts.Target, plan); n != 0 {
		t.Fatalf("sync: %d failures: %+v", n, plan.Rows)
	}
	grants := acls.WriteGrants(plan)
	if len(grants) != 2 {
		t.Fatalf("write grants %v, want WRITE on %s%s and ALL on the prefix %s%s", grants, rename, topic, rename, prefix)
	}
	for _, pr := range plan.Principals {
		switch pr.Target {
		case "User:" + tgtApp.user:
			if pr.Status != acls.CredentialOnTarget || len(pr.Sources) != 1 || pr.Sources[0] != p {
				t.Errorf("mapped principal: %+v", pr)
			}
		case ghost:
			if pr.Status != acls.NoCredentialOnTarget {
				t.Errorf("principal without a credential on the target: %+v", pr)
			}
		default:
			t.Errorf("unexpected principal %+v", pr)
		}
	}
	if len(plan.Principals) != 2 {
		t.Errorf("principals %+v", plan.Principals)
	}

	// Before cutover: everything but writing.
	before := rights{consume: true, consumeAll: true}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if got := probe(t, tgtApp, rename+topic, rename+allTopic, rename+other, group, txnID); got != before {
			return fmt.Errorf("before cutover %s may %+v on the target, want %+v", tgtApp.user, got, before)
		}
		return nil
	})
	// A second plan finds everything in place.
	again, err := acls.MakePlan(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Summary[acls.StatusAdd] != 0 || again.Summary[acls.StatusHeld] != 2 {
		t.Errorf("second plan: %v", again.Summary)
	}

	// Cutover seals: the write grants. Then exactly the source's rights.
	if err := errors.Join(acls.Create(ctx, opts.Target, grants)...); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if got := probe(t, tgtApp, rename+topic, rename+allTopic, rename+other, group, txnID); got != want {
			return fmt.Errorf("after cutover %s may %+v on the target, want %+v", tgtApp.user, got, want)
		}
		return nil
	})

	// Rollback removes them again.
	if err := errors.Join(acls.Delete(ctx, opts.Target, grants)...); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if got := probe(t, tgtApp, rename+topic, rename+allTopic, rename+other, group, txnID); got != before {
			return fmt.Errorf("after rollback %s may %+v on the target, want %+v", tgtApp.user, got, before)
		}
		return nil
	})
}
