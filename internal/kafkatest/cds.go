package kafkatest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Class data sharing. Loading and verifying Kafka's classes is most of the CPU a
// node spends starting, and a seed cluster starts six JVMs on what may be two cores.
// A dynamic AppCDS archive, made once per Kafka version and JDK by running a
// training cluster, lets every later JVM map those classes instead: a seed cluster
// then starts with about 40% less CPU. The JVM checks the archive against its own
// build and class path and ignores it when they differ, so a stale archive costs
// nothing but the saving. KMIGRATE_KAFKA_CDS=0 turns it off.

// cdsPaths returns the archive path for the JDK in use, and the marker that records
// a failed training so that it is not retried on every start.
func cdsPaths(k *kafkaDist) (archive, failed string, err error) {
	java, err := JavaBin()
	if err != nil {
		return "", "", err
	}
	real, err := filepath.EvalSymlinks(java)
	if err != nil {
		return "", "", fmt.Errorf("resolve %s: %w", java, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", "", fmt.Errorf("stat %s: %w", real, err)
	}
	sum := sha256.Sum256([]byte(real + "\x00" + strconv.FormatInt(st.ModTime().UnixNano(), 10) + "\x00" + strconv.FormatInt(st.Size(), 10)))
	base := filepath.Join(k.Dir, "cds", "kafka-"+hex.EncodeToString(sum[:6]))
	return base + ".jsa", base + ".failed", nil
}

// Prepare fetches Apache Kafka if needed and makes the class data archive, so that
// the first cluster starts as fast as the next ones. Start does the same lazily.
func Prepare(ctx context.Context) error {
	k, err := dist(ctx)
	if err != nil {
		return err
	}
	useCDS(ctx, k)
	return nil
}

// useCDS sets k.CDS when the archive exists, training it first when needed. Errors
// only cost the speed-up: the cluster starts without the archive.
func useCDS(ctx context.Context, k *kafkaDist) {
	if os.Getenv("KMIGRATE_KAFKA_CDS") == "0" || k.CDS != "" {
		return
	}
	archive, failed, err := cdsPaths(k)
	if err != nil {
		return
	}
	if _, err := os.Stat(archive); err == nil {
		k.CDS = archive
		return
	}
	if _, err := os.Stat(failed); err == nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		return
	}
	unlock, err := lockFile(archive + ".lock")
	if err != nil {
		return
	}
	defer unlock()
	if _, err := os.Stat(archive); err == nil {
		k.CDS = archive
		return
	}
	if err := trainCDS(ctx, k, archive); err != nil {
		_ = os.WriteFile(failed, []byte(err.Error()+"\n"), 0o644)
		return
	}
	k.CDS = archive
}

// trainCDS runs a single-node cluster with every listener and the authorizer,
// exercises it (topic, produce, consume, SASL and TLS logins during readiness),
// stops it so that the JVM writes the classes it loaded to archive.
func trainCDS(ctx context.Context, k *kafkaDist, archive string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(archive), "train-")
	if err != nil {
		return fmt.Errorf("train class data archive: %w", err)
	}
	defer os.RemoveAll(tmp)
	dump := filepath.Join(tmp, "kafka.jsa")
	train := *k
	train.dumpCDS = dump
	c, err := startOnce(ctx, &train, filepath.Join(tmp, "train"), "cds-train",
		Options{Topology: TopologySingle, SASL: true, TLS: true, Authorizer: true}, 0)
	if err != nil {
		return fmt.Errorf("train class data archive: %w", err)
	}
	werr := exercise(ctx, c)
	// Writing the archive happens at exit and takes a few seconds: a long grace.
	c.mu.Lock()
	n := c.Nodes[0]
	c.mu.Unlock()
	serr := terminate(n.PID, n.ConfigFile, 2*time.Minute)
	if werr != nil {
		return fmt.Errorf("train class data archive: %w", werr)
	}
	if serr != nil {
		return fmt.Errorf("train class data archive: %w", serr)
	}
	if st, err := os.Stat(dump); err != nil || st.Size() == 0 {
		return fmt.Errorf("train class data archive: no archive written; tail of %s:\n%s", n.LogFile, tailFile(n.LogFile, 20))
	}
	if err := os.Rename(dump, archive); err != nil {
		return fmt.Errorf("train class data archive: %w", err)
	}
	return nil
}

// exercise creates a topic, produces and consumes, as the super user.
func exercise(ctx context.Context, c *Cluster) error {
	opts, err := c.listenerOpts(ListenerSASL, "admin", MechScramSHA512)
	if err != nil {
		return err
	}
	const topic = "cds-train"
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ConsumerGroup("cds-train"))...)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req := kgo.Record{Topic: topic}
	var recs []*kgo.Record
	for i := range 100 {
		r := req
		r.Key = []byte(strconv.Itoa(i))
		r.Value = make([]byte, 100)
		recs = append(recs, &r)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	got := 0
	for got < len(recs) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		got += len(fs.Records())
	}
	return cl.CommitUncommittedOffsets(ctx)
}
