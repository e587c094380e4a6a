package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Consumed is a record as a third-party consumer printed it.
type Consumed struct {
	Offset     int64
	Key, Value string
}

// KcatGroup reads n records of topic as consumer group group with kcat, a
// consumer that is not ours (librdkafka, read_committed), and returns them. kcat
// commits its position when it exits.
//
// librdkafka's read_committed consumer stores positions past aborted batches it
// has only prefetched, so on a transactional topic with aborts it may commit the
// end of the topic rather than the position after its last record: use
// JavaGroup there.
func KcatGroup(t testing.TB, c *Cluster, group, topic string, n int) []Consumed {
	t.Helper()
	bin, err := Kcat()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"-b", strings.Join(c.Bootstrap, ","), "-G", group, "-c", strconv.Itoa(n),
		"-X", "auto.offset.reset=earliest", "-X", "isolation.level=read_committed",
		"-f", "%o\t%k\t%s\n", "-q", topic}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, stderr.String())
	}
	var recs []Consumed
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) != 3 {
			t.Fatalf("kcat printed %q", sc.Text())
		}
		off, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, Consumed{Offset: off, Key: f[1], Value: f[2]})
	}
	if len(recs) != n {
		t.Fatalf("kcat read %d records of %s, want %d", len(recs), topic, n)
	}
	return recs
}

// JavaGroup reads n records of topic as consumer group group with Apache
// Kafka's console consumer (the Java client, read_committed, one record per poll
// so that the position it commits on exit is right after the last record it
// printed).
func JavaGroup(t testing.TB, c *Cluster, group, topic string, n int) []Consumed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := c.RunJava(ctx, "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", strings.Join(c.Bootstrap, ","), "--topic", topic, "--group", group,
		"--max-messages", strconv.Itoa(n), "--isolation-level", "read_committed", "--timeout-ms", "60000",
		"--consumer-property", "auto.offset.reset=earliest", "--consumer-property", "max.poll.records=1",
		"--property", "print.offset=true", "--property", "print.key=true")
	if err != nil {
		t.Fatalf("console consumer: %v\n%s", err, out)
	}
	var recs []Consumed
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "Offset:")
		if !ok {
			continue // log lines
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("console consumer printed %q", sc.Text())
		}
		off, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, Consumed{Offset: off, Key: f[1], Value: f[2]})
	}
	if len(recs) != n {
		t.Fatalf("console consumer read %d records of %s, want %d:\n%s", len(recs), topic, n, out)
	}
	return recs
}
