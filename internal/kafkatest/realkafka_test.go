package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createTopic creates a topic (rf -1: the broker default) and waits until every
// broker knows it and every partition has a leader and a full ISR.
func createTopic(t *testing.T, c *Cluster, name string, partitions int32, rf int16) {
	t.Helper()
	adm := c.Admin(t)
	ctx := ctxT(t, 30*time.Second)
	resp, err := adm.CreateTopic(ctx, partitions, rf, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	c.WaitTopics(t, 30*time.Second, name)
	Eventually(t, 30*time.Second, func() error {
		td, err := adm.ListTopics(ctx, name)
		if err != nil {
			return err
		}
		d := td[name]
		if d.Err != nil {
			return d.Err
		}
		if len(d.Partitions) != int(partitions) {
			return fmt.Errorf("topic %s has %d of %d partitions", name, len(d.Partitions), partitions)
		}
		for _, p := range d.Partitions {
			if p.Leader < 0 || len(p.ISR) != len(p.Replicas) || (rf > 0 && len(p.Replicas) != int(rf)) {
				return fmt.Errorf("partition %d: leader %d, isr %v", p.Partition, p.Leader, p.ISR)
			}
		}
		return nil
	})
}

// testRecords returns n records with binary keys and values, headers (one of them
// repeated, one with an empty value), and a tombstone, spread over partitions.
func testRecords(topic string, n int, partitions int32) []*kgo.Record {
	var recs []*kgo.Record
	for i := range n {
		r := &kgo.Record{
			Topic:     topic,
			Partition: int32(i) % partitions,
			Key:       []byte{byte(i), 0x00, 0xff, '\n', ',', ':', byte(i >> 8)},
			Value:     append([]byte(fmt.Sprintf("value-%d-ü-", i)), 0x00, 0x01, 0xfe, '\n', byte(i)),
			Headers: []kgo.RecordHeader{
				{Key: "h1", Value: []byte("v" + strconv.Itoa(i))},
				{Key: "trace", Value: []byte("abc")},
				{Key: "trace", Value: []byte("def")},
				{Key: "empty", Value: []byte{}},
			},
		}
		if i == n-1 {
			r.Value = nil // a tombstone
		}
		recs = append(recs, r)
	}
	return recs
}

func produce(t *testing.T, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consumeAll reads n records of topic from the start, failing the test if they do
// not arrive within the deadline.
func consumeAll(t *testing.T, c *Cluster, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := c.Client(t, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	return pollN(t, cl, n)
}

func pollN(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, err)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		got = append(got, fs.Records()...)
	}
	return got
}

// sameRecords compares key, value (nil stays nil), headers and partition of the
// records, in partition-then-offset order.
func sameRecords(t *testing.T, want, got []*kgo.Record) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	sortRecs := func(rs []*kgo.Record) []*kgo.Record {
		rs = slices.Clone(rs)
		slices.SortStableFunc(rs, func(a, b *kgo.Record) int {
			if a.Partition != b.Partition {
				return int(a.Partition - b.Partition)
			}
			return int(a.Offset - b.Offset)
		})
		return rs
	}
	want, got = sortRecs(want), sortRecs(got)
	for i := range want {
		w, g := want[i], got[i]
		if w.Partition != g.Partition || !bytes.Equal(w.Key, g.Key) || !bytes.Equal(w.Value, g.Value) || (w.Value == nil) != (g.Value == nil) {
			t.Fatalf("record %d: got p%d key %q value %q, want p%d key %q value %q", i, g.Partition, g.Key, g.Value, w.Partition, w.Key, w.Value)
		}
		if len(w.Headers) != len(g.Headers) {
			t.Fatalf("record %d: got headers %v, want %v", i, g.Headers, w.Headers)
		}
		for j := range w.Headers {
			if w.Headers[j].Key != g.Headers[j].Key || !bytes.Equal(w.Headers[j].Value, g.Headers[j].Value) {
				t.Fatalf("record %d header %d: got %q=%q, want %q=%q", i, j, g.Headers[j].Key, g.Headers[j].Value, w.Headers[j].Key, w.Headers[j].Value)
			}
		}
	}
}

func TestProduceConsumeSingle(t *testing.T) {
	c := SharedT(t, Src, Options{})
	topic := UniqueName(t, "t")
	createTopic(t, c, topic, 3, 1)
	want := testRecords(topic, 30, 3)
	produce(t, c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), want)
	sameRecords(t, want, consumeAll(t, c, topic, len(want)))
}

func TestProduceConsumeSeed(t *testing.T) {
	c := SharedT(t, SeedSrc, Options{Topology: TopologySeed})
	if got := len(c.Brokers()); got != 3 {
		t.Fatalf("seed cluster has %d brokers, want 3", got)
	}
	if got := len(c.Controllers()); got != 3 {
		t.Fatalf("seed cluster has %d controllers, want 3", got)
	}
	adm := c.Admin(t)
	topic := UniqueName(t, "t")
	// Replication factor -1: the broker default, which must be 3.
	createTopic(t, c, topic, 3, -1)
	ctx := ctxT(t, 30*time.Second)
	td, err := adm.ListTopics(ctx, topic)
	if err == nil {
		err = td[topic].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(td[topic].Partitions) != 3 {
		t.Fatalf("topic %s has %d partitions, want 3", topic, len(td[topic].Partitions))
	}
	for _, p := range td[topic].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("partition %d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}
	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rc.On(topic, nil)
	if err == nil {
		err = v.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if isr := configValue(v, "min.insync.replicas"); isr != "2" {
		t.Fatalf("min.insync.replicas = %q, want 2", isr)
	}
	want := testRecords(topic, 30, 3)
	produce(t, c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks())), want)
	sameRecords(t, want, consumeAll(t, c, topic, len(want)))

	// The offsets topic is replicated three times too: commit through a group.
	group := UniqueName(t, "g")
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	pollN(t, cl, 1)
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// The coordinator created __consumer_offsets; the other brokers may learn of
	// it later.
	c.WaitTopics(t, 30*time.Second, "__consumer_offsets")
	td, err = adm.ListTopics(ctx, "__consumer_offsets")
	if err == nil {
		err = td["__consumer_offsets"].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(td["__consumer_offsets"].Partitions) == 0 {
		t.Fatal("__consumer_offsets has no partitions")
	}
	for _, p := range td["__consumer_offsets"].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("__consumer_offsets partition %d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}
}

func configValue(rc kadm.ResourceConfig, key string) string {
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

// TestBrokerFailure stops and kills brokers of a cluster of its own: the ISR of an
// RF-3 topic shrinks to 2 and comes back to 3, and acks=all writes go on meanwhile.
func TestBrokerFailure(t *testing.T) {
	c := StartT(t, "kafkatest-failure", Options{Topology: TopologySeed})
	adm := c.Admin(t)
	topic := UniqueName(t, "t")
	createTopic(t, c, topic, 3, 3)
	prod := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	ctx := ctxT(t, 4*time.Minute)

	isrs := func() (map[int32][]int32, error) {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return nil, err
		}
		// A broker that has just restarted may not know the topic yet: no
		// partitions would make every ISR check below pass.
		if err := td[topic].Err; err != nil {
			return nil, err
		}
		out := map[int32][]int32{}
		for _, p := range td[topic].Partitions {
			if p.Err != nil {
				return nil, p.Err
			}
			out[p.Partition] = p.ISR
		}
		if len(out) != 3 {
			return nil, fmt.Errorf("topic %s shows %d of 3 partitions", topic, len(out))
		}
		return out, nil
	}
	waitISR := func(size int, without int32) {
		t.Helper()
		Eventually(t, 60*time.Second, func() error {
			m, err := isrs()
			if err != nil {
				return err
			}
			for p, isr := range m {
				if len(isr) != size || slices.Contains(isr, without) {
					return fmt.Errorf("partition %d isr %v, want %d replicas without %d", p, isr, size, without)
				}
			}
			return nil
		})
	}

	for _, step := range []struct {
		name string
		id   int32
		down func(int32) error
	}{
		{"sigterm", 2, c.StopBroker},
		{"sigkill", 3, c.KillBroker},
	} {
		began := time.Now()
		if err := step.down(step.id); err != nil {
			t.Fatalf("%s broker %d: %v", step.name, step.id, err)
		}
		t.Logf("%s broker %d: process gone after %s", step.name, step.id, time.Since(began))
		waitISR(2, step.id)
		t.Logf("%s broker %d: isr shrank to 2 after %s", step.name, step.id, time.Since(began))
		// min.insync.replicas is 2: acks=all still succeeds with one broker down.
		produce(t, prod, []*kgo.Record{{Value: []byte("during " + step.name)}})
		began = time.Now()
		if err := c.StartBroker(ctx, step.id); err != nil {
			t.Fatalf("start broker %d: %v", step.id, err)
		}
		t.Logf("start broker %d: serving after %s", step.id, time.Since(began))
		waitISR(3, -1)
		t.Logf("start broker %d: isr whole after %s", step.id, time.Since(began))
	}
	if n := len(consumeAll(t, c, topic, 2)); n != 2 {
		t.Fatalf("read %d records, want 2", n)
	}
}

func TestSASL(t *testing.T) {
	c := SharedT(t, Auth, Options{SASL: true, TLS: true, Authorizer: true})
	for _, tc := range []struct {
		mech, user, pass string
		ok               bool
	}{
		{MechPlain, "admin", c.Users["admin"], true},
		{MechPlain, "admin", "wrong", false},
		{MechPlain, "nobody", c.Users["admin"], false},
		{MechScramSHA256, "alice", c.Users["alice"], true},
		{MechScramSHA512, "alice", c.Users["alice"], true},
		{MechScramSHA512, "alice", c.Users["admin"], false},
		{MechScramSHA512, "nobody", "x", false},
	} {
		t.Run(fmt.Sprintf("%s/%s/%v", tc.mech, tc.user, tc.ok), func(t *testing.T) {
			m, err := Mechanism(tc.mech, tc.user, tc.pass)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.SASLBootstrap...), kgo.SASL(m))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			_, err = kadm.NewClient(cl).ListBrokers(ctxT(t, 20*time.Second))
			switch {
			case tc.ok && err != nil:
				t.Fatalf("login failed: %v", err)
			case !tc.ok && !errors.Is(err, kerr.SaslAuthenticationFailed):
				t.Fatalf("login with bad credentials: got %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	c := SharedT(t, Auth, Options{SASL: true, TLS: true, Authorizer: true})
	good, err := c.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("unrelated")
	if err != nil {
		t.Fatal(err)
	}
	bad := good.Clone()
	bad.RootCAs = other.Pool()
	for _, tc := range []struct {
		name string
		ok   bool
		opts []kgo.Opt
	}{
		{"cluster ca", true, []kgo.Opt{kgo.DialTLSConfig(good)}},
		{"wrong ca", false, []kgo.Opt{kgo.DialTLSConfig(bad)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.TLSBootstrap...)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			_, err = kadm.NewClient(cl).ListBrokers(ctxT(t, 10*time.Second))
			switch {
			case tc.ok && err != nil:
				t.Fatalf("tls with the cluster's ca: %v", err)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), "certificate")):
				t.Fatalf("tls with a wrong ca: got %v, want a certificate error", err)
			}
		})
	}
}

// TestAuthorizer shows both kinds of principal a test needs: the super user and a
// restricted one (User:ANONYMOUS on PLAINTEXT, User:alice on SASL) that gains
// rights only through ACLs.
func TestAuthorizer(t *testing.T) {
	c := SharedT(t, Auth, Options{SASL: true, TLS: true, Authorizer: true})
	adm := c.Admin(t)
	topic := UniqueName(t, "t")
	createTopic(t, c, topic, 1, 1)
	ctx := ctxT(t, 60*time.Second)
	rec := &kgo.Record{Topic: topic, Value: []byte("x")}

	anon := c.Client(t)
	if err := anon.ProduceSync(ctx, rec).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("anonymous produce: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	alice := c.ClientAs(t, "alice")
	if _, err := kadm.NewClient(alice).CreateTopic(ctx, 1, 1, nil, UniqueName(t, "denied")); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice creates a topic: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if err := alice.ProduceSync(ctx, rec).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces before the acl: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	acl := kadm.NewACLs().Allow("User:alice").Topics(topic).Operations(kadm.OpWrite, kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	res, err := adm.CreateACLs(ctx, acl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create acl: %v", r.Err)
		}
	}
	// ACLs reach the broker through the metadata log: poll until the write is allowed.
	Eventually(t, 30*time.Second, func() error {
		return alice.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("from alice")}).FirstErr()
	})
	if err := anon.ProduceSync(ctx, rec).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("anonymous produce after alice's acl: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// kcatRecord is one record as kcat prints it with the format of TestKcatReadsFranzBytes.
type kcatRecord struct {
	partition  int32
	key, value []byte // nil when kcat reports length -1
	headers    string
}

// parseKcat parses records printed with -f '%p %K %k %S %s %h\n': lengths before
// key and value make binary data unambiguous.
func parseKcat(out []byte) ([]kcatRecord, error) {
	var recs []kcatRecord
	next := func(sep byte) (string, error) {
		i := bytes.IndexByte(out, sep)
		if i < 0 {
			return "", fmt.Errorf("kcat output: no %q in %q", sep, out)
		}
		s := string(out[:i])
		out = out[i+1:]
		return s, nil
	}
	bytesOf := func(n int) ([]byte, error) {
		if n < 0 {
			return nil, nil
		}
		if len(out) < n+1 {
			return nil, fmt.Errorf("kcat output: short data")
		}
		b := bytes.Clone(out[:n])
		out = out[n+1:] // the field and the space after it
		return b, nil
	}
	for len(out) > 0 {
		var r kcatRecord
		p, err := next(' ')
		if err != nil {
			return nil, err
		}
		pn, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("kcat output: partition %q: %w", p, err)
		}
		r.partition = int32(pn)
		for _, dst := range []*[]byte{&r.key, &r.value} {
			l, err := next(' ')
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(l)
			if err != nil {
				return nil, fmt.Errorf("kcat output: length %q: %w", l, err)
			}
			if n < 0 {
				// kcat prints nothing for a null field, but still the space after it.
				if _, err := bytesOf(0); err != nil {
					return nil, err
				}
				continue
			}
			if *dst, err = bytesOf(n); err != nil {
				return nil, err
			}
		}
		if r.headers, err = next('\n'); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// TestKcatReadsFranzBytes: a third-party client (kcat, librdkafka) reads exactly the
// bytes franz-go wrote: binary keys and values, a tombstone, repeated and empty
// headers.
func TestKcatReadsFranzBytes(t *testing.T) {
	kcat, err := Kcat()
	if err != nil {
		t.Fatal(err)
	}
	c := SharedT(t, Src, Options{})
	topic := UniqueName(t, "t")
	createTopic(t, c, topic, 2, 1)
	want := testRecords(topic, 20, 2)
	produce(t, c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), want)

	args, err := c.KcatArgs(ListenerPlaintext, "")
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", `%p %K %k %S %s %h\n`)
	ctx := ctxT(t, 60*time.Second)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	got, err := parseKcat(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("kcat read %d records, want %d", len(got), len(want))
	}
	// kcat prints each partition in offset order; group want the same way.
	byPart := map[int32][]*kgo.Record{}
	for _, w := range want {
		byPart[w.Partition] = append(byPart[w.Partition], w)
	}
	seen := map[int32]int{}
	for i, g := range got {
		w := byPart[g.partition][seen[g.partition]]
		seen[g.partition]++
		if !bytes.Equal(g.key, w.Key) || !bytes.Equal(g.value, w.Value) || (g.value == nil) != (w.Value == nil) {
			t.Fatalf("kcat record %d (p%d): key %q value %q, want key %q value %q", i, g.partition, g.key, g.value, w.Key, w.Value)
		}
		var hs []string
		for _, h := range w.Headers {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
		if wh := strings.Join(hs, ","); g.headers != wh {
			t.Fatalf("kcat record %d headers %q, want %q", i, g.headers, wh)
		}
	}
}

// TestJavaConsoleConsumer: the Java client (kafka-console-consumer, through RunJava)
// reads what franz-go wrote, over SASL as the super user.
func TestJavaConsoleConsumer(t *testing.T) {
	c := SharedT(t, Auth, Options{SASL: true, TLS: true, Authorizer: true})
	topic := UniqueName(t, "t")
	createTopic(t, c, topic, 1, 1)
	var want []*kgo.Record
	for i := range 5 {
		want = append(want, &kgo.Record{
			Topic:   topic,
			Key:     []byte(fmt.Sprintf("k%d", i)),
			Value:   []byte(fmt.Sprintf("wert-ü-%d\twith tab", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprintf("v%d", i))}},
		})
	}
	produce(t, c.ClientAs(t, "admin"), want)

	cfg, err := c.JavaClientConfig(ListenerSASL, "admin")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RunJava(ctxT(t, 90*time.Second), ClassConsoleConsumer,
		"--bootstrap-server", strings.Join(c.SASLBootstrap, ","),
		"--consumer.config", cfg,
		"--topic", topic, "--from-beginning", "--max-messages", strconv.Itoa(len(want)), "--timeout-ms", "60000",
		"--property", "print.key=true", "--property", "print.headers=true",
		"--property", "key.separator=|", "--property", "headers.separator=;",
	)
	if err != nil {
		t.Fatal(err)
	}
	var wantOut bytes.Buffer
	for _, r := range want {
		fmt.Fprintf(&wantOut, "%s:%s|%s|%s\n", r.Headers[0].Key, r.Headers[0].Value, r.Key, r.Value)
	}
	if !bytes.Equal(out, wantOut.Bytes()) {
		t.Fatalf("console consumer printed\n%q\nwant\n%q", out, wantOut.Bytes())
	}
}

// TestProducerPerformance runs Kafka's producer benchmark tool and checks that the
// records it claims to have written are there.
func TestProducerPerformance(t *testing.T) {
	c := SharedT(t, Src, Options{})
	adm := c.Admin(t)
	topic := UniqueName(t, "t")
	createTopic(t, c, topic, 1, 1)
	ctx := ctxT(t, 90*time.Second)
	out, err := c.RunJava(ctx, ClassProducerPerformance,
		"--topic", topic, "--num-records", "2000", "--record-size", "100", "--throughput", "-1",
		"--producer-props", "bootstrap.servers="+strings.Join(c.Bootstrap, ","), "acks=all")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "2000 records sent") {
		t.Fatalf("producer performance printed %q, want \"2000 records sent\"", out)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 2000 {
		t.Fatalf("end offset %d, want 2000", o.Offset)
	}
}

// TestSharedDirectory exercises sharing through KMIGRATE_TEST_CLUSTERS: a second
// process (simulated by a second open) finds the running cluster instead of
// starting another, and a stopped cluster is started afresh.
func TestSharedDirectory(t *testing.T) {
	SkipShort(t)
	root := t.TempDir()
	ctx := ctxT(t, 3*time.Minute)
	opts, _ := Options{}.normalize()
	first, err := openOrStart(ctx, root, "reuse", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := first.Remove(); err != nil {
			t.Error(err)
		}
	})
	second, err := openOrStart(ctx, root, "reuse", opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Nodes[0].PID != second.Nodes[0].PID || first.ClusterID != second.ClusterID {
		t.Fatalf("second open started a new cluster: pid %d→%d, id %s→%s", first.Nodes[0].PID, second.Nodes[0].PID, first.ClusterID, second.ClusterID)
	}
	if _, err := openOrStart(ctx, root, "reuse", Options{Topology: TopologySingle, TLS: true}); err == nil {
		t.Fatal("open with other options succeeded, want an error")
	}
	if _, err := Shared(Src, Options{Topology: TopologySeed}); err == nil {
		t.Fatal("shared src with seed options succeeded, want an error")
	}
}

// TestStartFailureShowsLog: when a node cannot start, the error carries its log.
func TestStartFailureShowsLog(t *testing.T) {
	SkipShort(t)
	t.Setenv("KAFKA_HEAP_OPTS", "-Xmx1m")
	// The storage format runs a JVM before the node does; on a loaded machine
	// (load average 100 on two cores was seen) it alone took over a minute.
	_, err := StartIn(ctxT(t, 5*time.Minute), t.TempDir(), "broken", Options{})
	if err == nil {
		t.Fatal("start with a 1 MiB heap succeeded")
	}
	if !strings.Contains(err.Error(), "server.log") || !strings.Contains(strings.ToLower(err.Error()), "heap") {
		t.Fatalf("error does not show the node's log: %v", err)
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t, "p"), UniqueName(t, "p")
	if a == b {
		t.Fatalf("two calls gave %q", a)
	}
	if !strings.HasPrefix(a, "p-TestUniqueName-") {
		t.Fatalf("name %q lacks prefix and test name", a)
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if err := Poll(time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("poll: err %v after %d calls, want nil after 3", err, n)
	}
	want := errors.New("never")
	if err := Poll(50*time.Millisecond, func() error { return want }); err != want {
		t.Fatalf("poll: got %v, want the last error", err)
	}
}
