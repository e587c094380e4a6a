package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/translate"
)

// runCLIIn runs kmigrate with stdin as its standard input.
func runCLIIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := Run(ctx, args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	if err != nil {
		t.Logf("kmigrate %s: %v; stderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

// TestTranslateCheckpointedOffsets is the proof of `kmigrate translate`: real
// consumers that are not ours (kcat; Apache's Java console consumer on the
// transactional topic) read a topic whose log starts at 50 and a topic with
// aborted transactions in rounds on the source, committing after each; every
// committed position, fed through `translate --batch -` as a stream processor's
// checkpoint would be, lands on the target (renamed) exactly on the copy of the
// record the consumer would have read next, byte for byte, or at the target's
// end when the consumer had read everything.
func TestTranslateCheckpointedOffsets(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	ctx := context.Background()
	ordinary := kafkatest.UniqueName(t, "trimmed")
	txn := kafkatest.UniqueName(t, "txn")
	kafkatest.CreateTopic(t, src, ordinary, 1, nil)
	kafkatest.CreateTopic(t, src, txn, 1, nil)
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Topic: ordinary, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "ordinary-%d", i),
			Headers: []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	kafkatest.Produce(t, src.Client(t), recs...)
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: ordinary, Partition: 0, At: 50})
	if _, err := src.Admin(t).DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	kafkatest.ProduceTransactions(t, src.Client(t, kgo.TransactionalID(kafkatest.UniqueName(t, "tx"))), 12, func(i int) bool { return i%2 == 1 }, func(i int) []*kgo.Record {
		var recs []*kgo.Record
		for j := range 10 {
			recs = append(recs, &kgo.Record{Topic: txn, Key: fmt.Appendf(nil, "t%d-%d", i, j), Value: fmt.Appendf(nil, "txn-%d-%d", i, j)})
		}
		return recs
	})

	// Rounds of a real consumer; after each, the position it committed is a
	// checkpoint to translate.
	type checkpoint struct {
		topic  string
		offset int64
	}
	var checkpoints []checkpoint
	committed := func(group, topic string) int64 {
		t.Helper()
		offs, err := src.Admin(t).FetchOffsets(ctx, group)
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok {
			t.Fatalf("group %s committed nothing on %s", group, topic)
		}
		return o.At
	}
	for _, c := range []struct {
		topic  string
		rounds []int
		read   func(testing.TB, *kafkatest.Cluster, string, string, int) []kafkatest.Consumed
	}{
		{ordinary, []int{1, 36, 62, 51}, kafkatest.KcatGroup}, // 150 records from offset 50
		{txn, []int{7, 25, 28}, kafkatest.JavaGroup},          // 60 committed records
	} {
		group := kafkatest.UniqueName(t, "job")
		for _, n := range c.rounds {
			c.read(t, src, group, c.topic, n)
			checkpoints = append(checkpoints, checkpoint{c.topic, committed(group, c.topic)})
		}
	}
	if last := checkpoints[3]; last.offset != 200 {
		t.Fatalf("the ordinary topic's consumer committed %d after reading everything, want 200", last.offset)
	}

	cfg := filepath.Join(t.TempDir(), "migration.yaml")
	yaml := fmt.Sprintf("migration: %s\nsource:\n  bootstrap_servers: [%s]\ntarget:\n  bootstrap_servers: [%s]\ntopics:\n  include: [%s, %s]\nreplication:\n  topic_prefix: gcp.\nhttp:\n  listen: \"off\"\n",
		kafkatest.UniqueName(t, "m"), strings.Join(src.Bootstrap, ", "), strings.Join(tgt.Bootstrap, ", "), ordinary, txn)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "run", "-c", cfg, "--until-caught-up"); err != nil {
		t.Fatal(err)
	}

	// The batch, half CSV and half JSON lines, as a job's checkpoint exporter
	// might write it.
	var in strings.Builder
	in.WriteString("topic,partition,offset\n")
	for i, c := range checkpoints {
		if i%2 == 0 {
			fmt.Fprintf(&in, "%s,0,%d\n", c.topic, c.offset)
		} else {
			fmt.Fprintf(&in, `{"topic":%q,"partition":0,"offset":%d}`+"\n", c.topic, c.offset)
		}
	}
	out, err := runCLIIn(t, in.String(), "translate", "-c", cfg, "--batch", "-", "--format", "json")
	if err != nil {
		t.Fatalf("translate --batch: %v\n%s", err, out)
	}
	var answers []translate.Answer
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var a translate.Answer
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("translate output is not JSON lines: %v\n%s", err, out)
		}
		answers = append(answers, a)
	}
	if len(answers) != len(checkpoints) {
		t.Fatalf("%d answers for %d checkpoints:\n%s", len(answers), len(checkpoints), out)
	}
	source := map[string][]*kgo.Record{ordinary: kafkatest.ReadAll(t, src, ordinary)[0], txn: kafkatest.ReadAll(t, src, txn)[0]}
	target := map[string][]*kgo.Record{}
	for _, tp := range []string{ordinary, txn} {
		target[tp] = kafkatest.ReadAll(t, tgt, "gcp."+tp)[0]
	}
	for i, a := range answers {
		c := checkpoints[i]
		if a.Topic != c.topic || a.Offset != c.offset || a.TargetTopic != "gcp."+c.topic || a.Status != translate.Exact || a.TargetOffset == nil {
			t.Errorf("checkpoint %s@%d: %+v", c.topic, c.offset, a)
			continue
		}
		var next *kgo.Record
		for _, r := range source[c.topic] {
			if r.Offset >= c.offset {
				next = r
				break
			}
		}
		tr := target[c.topic]
		end := tr[len(tr)-1].Offset + 1
		if next == nil {
			if *a.TargetOffset != end {
				t.Errorf("checkpoint %s@%d is the source's end: target offset %d, want the target's end %d", c.topic, c.offset, *a.TargetOffset, end)
			}
			continue
		}
		var got *kgo.Record
		for _, r := range tr {
			if r.Offset == *a.TargetOffset {
				got = r
			}
		}
		if got == nil || !bytes.Equal(got.Key, next.Key) || !bytes.Equal(got.Value, next.Value) || !got.Timestamp.Equal(next.Timestamp) || fmt.Sprint(got.Headers) != fmt.Sprint(next.Headers) {
			t.Errorf("checkpoint %s@%d translates to target offset %d holding %v, want the copy of source offset %d %q=%q", c.topic, c.offset, *a.TargetOffset, got, next.Offset, next.Key, next.Value)
		}
	}
	t.Logf("%d checkpoints translated exactly: %+v", len(checkpoints), checkpoints)

	// One position at a time, in text; and a topic that is not migrated fails.
	out, err = runCLI(t, "translate", "-c", cfg, "--topic", ordinary, "--partition", "0", "--offset", "120")
	if err != nil || !strings.Contains(out, "gcp."+ordinary) || !strings.Contains(out, "exact") {
		t.Errorf("translate one position: %v\n%s", err, out)
	}
	_, err = runCLI(t, "translate", "-c", cfg, "--topic", "not-"+ordinary, "--partition", "0", "--offset", "1")
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 1 {
		t.Errorf("translate a topic that is not migrated: %v, want exit 1", err)
	}
}
