package clouds

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// Java main classes of the witnesses.
const (
	classVerifiableProducer = "org.apache.kafka.tools.VerifiableProducer"
	classVerifiableConsumer = "org.apache.kafka.tools.VerifiableConsumer"
)

// Ack is one record the source acknowledged to the witness producer.
type Ack struct {
	Partition int32
	Offset    int64
	Value     string
}

// event is one JSON line of VerifiableProducer or VerifiableConsumer; only the
// fields the ledger reads.
type event struct {
	Name      string  `json:"name"`
	Key       *string `json:"key"`
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Value     *string `json:"value"`
	Message   string  `json:"message"`
	Exception string  `json:"exception"`
	Success   *bool   `json:"success"`
	Error     string  `json:"error"`
	Offsets   []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	} `json:"offsets"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Count     int64  `json:"count"`
	} `json:"partitions"`
}

// witness is a Java tool whose standard output is parsed line by line.
type witness struct {
	cmd    *exec.Cmd
	stderr kafkatest.SyncBuffer
	done   chan struct{}
	mu     sync.Mutex
	err    error // the process's exit, once done
	bad    []string
}

func startWitness(ctx context.Context, cl *kafkatest.Cluster, class string, onEvent func(event), args ...string) (*witness, error) {
	cmd, err := cl.JavaCommand(ctx, class, args...)
	if err != nil {
		return nil, err
	}
	w := &witness{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &w.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", class, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", class, err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				w.mu.Lock()
				w.bad = append(w.bad, sc.Text())
				w.mu.Unlock()
				continue
			}
			onEvent(e)
		}
		_, _ = io.Copy(io.Discard, out)
		err := cmd.Wait()
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}()
	return w, nil
}

// stop asks the tool to shut down (SIGTERM: both tools flush, commit and print
// shutdown_complete on it) and waits up to grace, then kills it.
func (w *witness) stop(grace time.Duration) error {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-w.done:
	case <-time.After(grace):
		_ = w.cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("%s did not stop within %s after SIGTERM", w.cmd.Path, grace)
	}
	return nil
}

// Producer is Apache's VerifiableProducer writing to a topic of the source from
// inside its cloud, with acks=all: the ledger of what the source acknowledged.
type Producer struct {
	w      *witness
	topic  string
	mu     sync.Mutex
	acks   []Ack
	errors []string
}

// ProducerOptions shape the witness producer's load.
type ProducerOptions struct {
	// Rate is records per second; Max the records in all (-1: until Stop).
	Rate, Max int
	// ValuePrefix, a number, makes the values "PREFIX.N" instead of "N", so that
	// two producers on one topic write distinct values.
	ValuePrefix string
	// RepeatingKeys, when above 0, keys the records "0" to "RepeatingKeys-1" in
	// turn (a compacted topic refuses records without a key).
	RepeatingKeys int
	// Props are producer settings ("metadata.max.age.ms=1000") added to its
	// defaults.
	Props []string
}

// StartProducer starts VerifiableProducer on cl's PLAINTEXT listener (inside the
// cloud, so it keeps writing while the link is cut), acks=all.
func StartProducer(ctx context.Context, cl *kafkatest.Cluster, topic string, o ProducerOptions) (*Producer, error) {
	p := &Producer{topic: topic}
	args := []string{"--bootstrap-server", cl.Bootstrap[0], "--topic", topic, "--acks", "-1",
		"--throughput", strconv.Itoa(o.Rate), "--max-messages", strconv.Itoa(o.Max)}
	if o.ValuePrefix != "" {
		args = append(args, "--value-prefix", o.ValuePrefix)
	}
	if o.RepeatingKeys > 0 {
		args = append(args, "--repeating-keys", strconv.Itoa(o.RepeatingKeys))
	}
	if props := o.Props; len(props) > 0 {
		f, err := os.CreateTemp(cl.Dir, "producer-*.properties")
		if err != nil {
			return nil, fmt.Errorf("write producer settings: %w", err)
		}
		_, err = f.WriteString(strings.Join(props, "\n") + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write producer settings: %w", err)
		}
		args = append(args, "--producer.config", f.Name())
	}
	w, err := startWitness(ctx, cl, classVerifiableProducer, p.onEvent, args...)
	if err != nil {
		return nil, err
	}
	p.w = w
	return p, nil
}

func (p *Producer) onEvent(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Name {
	case "producer_send_success":
		v := ""
		if e.Value != nil {
			v = *e.Value
		}
		p.acks = append(p.acks, Ack{Partition: e.Partition, Offset: e.Offset, Value: v})
	case "producer_send_error":
		p.errors = append(p.errors, e.Exception+": "+e.Message)
	}
}

// Acked returns how many records the source has acknowledged so far.
func (p *Producer) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// Stop stops the producer (it flushes first) and returns the acknowledged records
// per partition in offset order, and the send errors it reported.
func (p *Producer) Stop() (map[int32][]Ack, []string, error) {
	err := p.w.stop(30 * time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int32][]Ack{}
	for _, a := range p.acks {
		out[a.Partition] = append(out[a.Partition], a)
	}
	for _, as := range out {
		sort.Slice(as, func(i, j int) bool { return as[i].Offset < as[j].Offset })
	}
	if len(p.acks) == 0 {
		err = errors.Join(err, fmt.Errorf("the producer acknowledged nothing; its standard error:\n%s", p.w.stderr.String()))
	}
	return out, append([]string(nil), p.errors...), err
}

// Done is closed when the producer has exited.
func (p *Producer) Done() <-chan struct{} { return p.w.done }

// Wait waits until the producer has exited by itself (after max records) or ctx
// ends.
func (p *Producer) Wait(ctx context.Context) error {
	select {
	case <-p.w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the producer: %w", ctx.Err())
	}
}

// Consumer is Apache's VerifiableConsumer in a group on the source, inside its
// cloud: the witness of the positions the group committed.
type Consumer struct {
	w         *witness
	mu        sync.Mutex
	consumed  int64
	committed map[int32]int64
	failed    []string
	// records are the records read, in order, when the consumer is verbose.
	records []Record
}

// Record is one record a verbose witness consumer read.
type Record struct {
	Partition int32
	Offset    int64
	Value     string
}

// StartConsumer starts VerifiableConsumer in group on topic, reading from the
// earliest offset and committing after each batch, for at most max records.
func StartConsumer(ctx context.Context, cl *kafkatest.Cluster, topic, group string, max int) (*Consumer, error) {
	c := &Consumer{committed: map[int32]int64{}}
	w, err := startWitness(ctx, cl, classVerifiableConsumer, c.onEvent,
		"--bootstrap-server", cl.Bootstrap[0], "--topic", topic, "--group-id", group,
		"--reset-policy", "earliest", "--max-messages", strconv.Itoa(max))
	if err != nil {
		return nil, err
	}
	c.w = w
	return c, nil
}

func (c *Consumer) onEvent(e event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Name {
	case "record_data":
		v := ""
		if e.Value != nil {
			v = *e.Value
		}
		c.records = append(c.records, Record{Partition: e.Partition, Offset: e.Offset, Value: v})
	case "records_consumed":
		for _, p := range e.Partitions {
			c.consumed += p.Count
		}
	case "offsets_committed":
		if e.Success != nil && !*e.Success {
			// A commit that timed out during a fault is retried with the next
			// batch: only a failure that no later commit made good counts.
			c.failed = append(c.failed, e.Error)
			return
		}
		c.failed = nil
		for _, o := range e.Offsets {
			c.committed[o.Partition] = o.Offset
		}
	}
}

// StartVerboseConsumer starts VerifiableConsumer in group on topic of cl
// (the PLAINTEXT listener), with read_committed isolation, printing every
// record it reads (Records) and committing after each batch, until Stop.
func StartVerboseConsumer(ctx context.Context, cl *kafkatest.Cluster, topic, group string) (*Consumer, error) {
	f, err := os.CreateTemp(cl.Dir, "consumer-*.properties")
	if err != nil {
		return nil, fmt.Errorf("write consumer settings: %w", err)
	}
	_, err = f.WriteString("isolation.level=read_committed\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write consumer settings: %w", err)
	}
	c := &Consumer{committed: map[int32]int64{}}
	w, err := startWitness(ctx, cl, classVerifiableConsumer, c.onEvent,
		"--bootstrap-server", cl.Bootstrap[0], "--topic", topic, "--group-id", group,
		"--reset-policy", "earliest", "--verbose", "--consumer.config", f.Name())
	if err != nil {
		return nil, err
	}
	c.w = w
	return c, nil
}

// Stop stops the consumer (SIGTERM: it commits what it consumed and leaves the
// group) and returns the records it read and its last committed positions.
func (c *Consumer) Stop() ([]Record, map[int32]int64, error) {
	err := c.w.stop(30 * time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failed) > 0 {
		err = errors.Join(err, fmt.Errorf("commits failed: %v", c.failed))
	}
	committed := map[int32]int64{}
	for p, o := range c.committed {
		committed[p] = o
	}
	return append([]Record(nil), c.records...), committed, err
}

// Consumed returns how many records the consumer has read.
func (c *Consumer) Consumed() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consumed
}

// Wait waits for the consumer to exit by itself (after max records), or stops it
// when ctx ends, and returns the last committed position of every partition.
func (c *Consumer) Wait(ctx context.Context) (map[int32]int64, error) {
	var err error
	select {
	case <-c.w.done:
	case <-ctx.Done():
		err = errors.Join(fmt.Errorf("wait for the consumer: %w", ctx.Err()), c.w.stop(30*time.Second))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failed) > 0 {
		err = errors.Join(err, fmt.Errorf("commits failed: %v", c.failed))
	}
	out := map[int32]int64{}
	for p, o := range c.committed {
		out[p] = o
	}
	if len(out) == 0 {
		err = errors.Join(err, fmt.Errorf("the consumer committed nothing; its standard error:\n%s", c.w.stderr.String()))
	}
	return out, err
}
