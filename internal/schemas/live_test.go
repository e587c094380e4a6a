package schemas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/cli"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/schemas"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// TestMain stops the real-Kafka clusters this package's tests started.
func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

// Schemas of the proof: an Address record referenced by the Order record, whose
// subject has three versions, the third soft-deleted.
const (
	addressV1 = `{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}`
	orderV1   = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"ship_to","type":"shop.Address"}]}`
	orderV2   = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"ship_to","type":"shop.Address"},{"name":"note","type":"string","default":""}]}`
	orderV3   = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"ship_to","type":"shop.Address"},{"name":"note","type":"string","default":""},{"name":"gift","type":"boolean","default":false}]}`
)

// registryRecord is a storage-topic record as a Confluent registry writes it.
func registryRecord(topic string, key, value any) *kgo.Record {
	k, _ := json.Marshal(key)
	r := &kgo.Record{Topic: topic, Key: k}
	if value != nil {
		r.Value, _ = json.Marshal(value)
	}
	return r
}

func schemaRecord(topic, subject string, version int, id int32, text string, deleted bool, refs ...schemas.Reference) *kgo.Record {
	v := map[string]any{"subject": subject, "version": version, "id": id, "schema": text, "deleted": deleted}
	if len(refs) > 0 {
		v["references"] = refs
	}
	return registryRecord(topic, map[string]any{"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}, v)
}

// registryRecords is the registry content of the proof, with ids that are
// neither contiguous nor starting at 1, so that keeping them shows.
func registryRecords(topic string, orderV2Text string) []*kgo.Record {
	ref := schemas.Reference{Name: "shop.Address", Subject: "shop-address", Version: 1}
	return []*kgo.Record{
		registryRecord(topic, map[string]any{"keytype": "CONFIG", "subject": nil, "magic": 0}, map[string]string{"compatibilityLevel": "BACKWARD"}),
		schemaRecord(topic, "shop-address", 1, 101, addressV1, false),
		schemaRecord(topic, "orders-value", 1, 205, orderV1, false, ref),
		schemaRecord(topic, "orders-value", 2, 206, orderV2Text, false, ref),
		schemaRecord(topic, "orders-value", 3, 310, orderV3, false, ref),
		registryRecord(topic, map[string]any{"keytype": "CONFIG", "subject": "orders-value", "magic": 0}, map[string]string{"compatibilityLevel": "FULL"}),
		// Version 3 soft-deleted: records written with it still carry id 310.
		schemaRecord(topic, "orders-value", 3, 310, orderV3, true, ref),
	}
}

// TestSchemaIDsSurviveTheMigration is the proof on real Kafka, with the
// registry's storage topic standing in for a registry server (none runs on
// the test machines): producers write Confluent wire-format records with ids
// of several versions (one soft-deleted) and a referenced schema; the storage
// topic and the data topic are migrated by `kmigrate run --until-caught-up`;
// a consumer on the target resolves every record's id through the target's
// copy of the registry and gets the source's schema; `schemas plan` finds
// nothing to do and verify's schemas check passes. Then a target registry
// whose id 206 holds another schema makes plan exit 1 naming subject, version
// and id, and makes verify's schemas check fail on that id.
func TestSchemaIDsSurviveTheMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real Kafka clusters; skipped under -short")
	}
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	regTopic := kafkatest.UniqueName(t, "_schemas")
	data := kafkatest.UniqueName(t, "orders")
	kafkatest.CreateTopic(t, src, regTopic, 1, map[string]string{"cleanup.policy": "compact"})
	kafkatest.CreateTopic(t, src, data, 3, nil)
	cl := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	kafkatest.Produce(t, cl, registryRecords(regTopic, orderV2)...)

	ids := []int32{205, 206, 310, 101}
	var recs []*kgo.Record
	for i := range 400 {
		r := &kgo.Record{Topic: data, Partition: int32(i % 3), Key: fmt.Appendf(nil, "order-%d", i)}
		switch {
		case i%10 == 9:
			r.Value = fmt.Appendf(nil, "plain text %d", i) // not every record is framed
		case i%50 == 0:
			r.Value = nil // tombstone
		default:
			r.Value = schemas.AppendWire(nil, ids[i%4], fmt.Appendf(nil, "payload %d", i))
		}
		recs = append(recs, r)
	}
	kafkatest.Produce(t, cl, recs...)

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "migration.yaml")
	migration := kafkatest.UniqueName(t, "m")
	writeConfig := func(targetTopic string) {
		body := fmt.Sprintf(`migration: %s
source:
  bootstrap_servers: [%s]
target:
  bootstrap_servers: [%s]
topics:
  include: [%q, %q]
http:
  listen: "off"
replication:
  checkpoint_interval: 100ms
schemas:
  source:
    topic: %s
  target:
    topic: %s
  include_deleted: true
`, migration, strings.Join(src.Bootstrap, ","), strings.Join(tgt.Bootstrap, ","), regTopic, data, regTopic, targetTopic)
		if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(regTopic)
	start := time.Now()
	if _, stderr, err := kmigrate(t, "run", "-c", cfgFile, "--until-caught-up", "--log-level", "warn"); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	t.Logf("migrated the storage topic and %d records in %s", len(recs), time.Since(start).Round(time.Millisecond))

	// A consumer on the target resolves every record through the target's copy
	// of the registry and must get the source's schema, subject and version.
	ctx := context.Background()
	srcReg := readRegistry(t, src, regTopic)
	tgtReg := readRegistry(t, tgt, regTopic)
	srcRecs := kafkatest.ReadAll(t, src, data)
	resolved := map[int32]int{}
	for p, trs := range kafkatest.ReadAll(t, tgt, data) {
		if len(trs) != len(srcRecs[p]) {
			t.Fatalf("partition %d: %d records on the target, %d on the source", p, len(trs), len(srcRecs[p]))
		}
		for i, r := range trs {
			if !bytes.Equal(r.Value, srcRecs[p][i].Value) {
				t.Fatalf("%s[%d] offset %d: value differs from the source", data, p, r.Offset)
			}
			id, ok := schemas.WireID(r.Value)
			if !ok {
				continue
			}
			ts, tuses, err := tgtReg.Lookup(ctx, id)
			if err != nil || ts == nil {
				t.Fatalf("%s[%d] offset %d: id %d does not resolve on the target: %v", data, p, r.Offset, id, err)
			}
			ss, suses, _ := srcReg.Lookup(ctx, id)
			if !ss.Same(ts) || fmt.Sprint(suses) != fmt.Sprint(tuses) {
				t.Fatalf("id %d: target gives %v %s, source %v %s", id, tuses, ts.Fingerprint(), suses, ss.Fingerprint())
			}
			resolved[id]++
		}
	}
	if len(resolved) != 4 {
		t.Fatalf("resolved ids %v, want all of %v", resolved, ids)
	}
	t.Logf("records per resolved id on the target: %v", resolved)
	if v := tgtReg.Get("orders-value", 3); v == nil || !v.Deleted || v.ID != 310 {
		t.Errorf("the soft-deleted version on the target: %+v", v)
	}
	if tgtReg.Compatibility != "BACKWARD" || tgtReg.SubjectCompatibility["orders-value"] != "FULL" {
		t.Errorf("compatibility on the target: %q %v", tgtReg.Compatibility, tgtReg.SubjectCompatibility)
	}

	// plan: nothing to do.
	out, stderr, err := kmigrate(t, "schemas", "plan", "-c", cfgFile, "--log-level", "warn")
	if err != nil {
		t.Fatalf("schemas plan: %v\n%s\n%s", err, out, stderr)
	}
	if !strings.Contains(out, "nothing to do") || !strings.Contains(out, "4 considered, 4 already on the target") {
		t.Errorf("schemas plan:\n%s", out)
	}

	// sync --dry-run plans the same; a real sync needs the target's REST API.
	if out, _, err := kmigrate(t, "schemas", "sync", "-c", cfgFile, "--dry-run", "--log-level", "warn"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("schemas sync --dry-run: %v\n%s", err, out)
	}
	if _, _, err := kmigrate(t, "schemas", "sync", "-c", cfgFile, "--log-level", "warn"); err == nil || !strings.Contains(err.Error(), "target schema registry: no url configured") {
		t.Errorf("schemas sync to a topic: %v", err)
	}

	// verify: the schemas check passes and compared the four ids.
	rep := runVerify(t, cfgFile)
	sc := findCheck(t, rep, verify.CheckSchemas)
	if !rep.Pass || !sc.Pass || sc.Checked != 4 {
		t.Fatalf("verify: pass %v, schemas %+v", rep.Pass, sc)
	}
	t.Logf("verify schemas: %s", sc.Summary)

	// A provoked mismatch: a target registry whose id 206 holds another schema.
	bad := kafkatest.UniqueName(t, "_schemas-bad")
	kafkatest.CreateTopic(t, tgt, bad, 1, map[string]string{"cleanup.policy": "compact"})
	kafkatest.Produce(t, tgt.Client(t), registryRecords(bad, strings.Replace(orderV2, `"note"`, `"remark"`, 1))...)
	writeConfig(bad)
	out, _, err = kmigrate(t, "schemas", "plan", "-c", cfgFile, "--log-level", "warn", "--format", "json")
	if code := exitCode(err); code != 1 {
		t.Fatalf("schemas plan against a conflicting target: exit %d (%v), want 1\n%s", code, err, out)
	}
	var plan struct {
		Conflicts []schemas.Conflict `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan json: %v\n%s", err, out)
	}
	if len(plan.Conflicts) != 1 {
		t.Fatalf("conflicts: %+v", plan.Conflicts)
	}
	if c := plan.Conflicts[0]; c.Subject != "orders-value" || c.Version != 2 || c.ID != 206 || !strings.Contains(c.Message, "subject orders-value version 2 (id 206)") {
		t.Errorf("conflict: %+v", c)
	}
	t.Logf("conflict: %s", plan.Conflicts[0].Message)
	out, _, err = kmigrate(t, "schemas", "plan", "-c", cfgFile, "--log-level", "warn")
	if exitCode(err) != 1 || !strings.Contains(out, "FAIL: 1 conflicts") {
		t.Errorf("text plan: %v\n%s", err, out)
	}

	rep = runVerify(t, cfgFile)
	sc = findCheck(t, rep, verify.CheckSchemas)
	if rep.Pass || sc.Pass || sc.Failed != 1 {
		t.Fatalf("verify against a conflicting target: pass %v, schemas %+v", rep.Pass, sc)
	}
	f := sc.Failures[0]
	if f.Kind != "differs" || !strings.Contains(f.Message, "schema id 206 is subject orders-value version 2 on the source") || f.Topic != data {
		t.Errorf("failure: %+v", f)
	}
	t.Logf("verify failure: %s", f.Message)
}

func readRegistry(t *testing.T, c *kafkatest.Cluster, topic string) *schemas.Snapshot {
	t.Helper()
	cl := c.Client(t, kgo.KeepControlRecords())
	s, err := schemas.ReadTopic(context.Background(), cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runVerify(t *testing.T, cfgFile string) *verify.Report {
	t.Helper()
	out, stderr, err := kmigrate(t, "verify", "-c", cfgFile, "--mode", "counts", "--format", "json", "--log-level", "warn")
	if err != nil && exitCode(err) != 1 {
		t.Fatalf("verify: %v\n%s", err, stderr)
	}
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify json: %v\n%s", err, out)
	}
	return &rep
}

func findCheck(t *testing.T, rep *verify.Report, name string) *verify.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("verify report has no %s check", name)
	return nil
}

func kmigrate(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := cli.Run(ctx, args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return out.String(), errOut.String(), err
}

func exitCode(err error) int {
	var discard bytes.Buffer
	return cli.ExitCode(err, &discard)
}
