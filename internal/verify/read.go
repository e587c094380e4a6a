package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
)

// Fetch sizes of the scanners: they read whole partitions, so their fetches
// are big (point reads use kafka.PointPartitionBytes).
const (
	scanFetchMaxBytes     = 64 << 20
	scanPartitionMaxBytes = 16 << 20
	// stallTimeout is how long a read may go without progress before it fails
	// with the partitions it still waits for.
	stallTimeout = 2 * time.Minute
)

// side is one cluster of the migration as verify reads it. The source is read
// with read_committed, as the copy read it, so aborted records and control
// records are never compared; the target is read as it is.
type side struct {
	role      kafka.Role
	cfg       config.Cluster
	builder   *kafka.Builder
	cl        *kgo.Client
	adm       *kadm.Client
	committed bool
}

func openSide(ctx context.Context, b *kafka.Builder, role kafka.Role, c config.Cluster) (*side, error) {
	cl, err := b.Client(ctx, role, c)
	if err != nil {
		return nil, err
	}
	if err := kafka.Ping(ctx, role, c, cl); err != nil {
		cl.Close()
		return nil, err
	}
	return &side{role: role, cfg: c, builder: b, cl: cl, adm: kadm.NewClient(cl), committed: role == kafka.Source}, nil
}

func (s *side) close() { s.cl.Close() }

// consumer builds a short-lived client that reads partitions directly. It never
// resets an offset that is out of range: a read below the log start is an error,
// not a silent jump.
func (s *side) consumer(ctx context.Context, maxBytes, partitionBytes int32) (*kgo.Client, error) {
	opts := []kgo.Opt{
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxBytes(maxBytes),
		kgo.FetchMaxPartitionBytes(partitionBytes),
		kgo.BrokerMaxReadBytes(2*maxBytes + 1<<20),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	if s.committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return s.builder.Client(ctx, s.role, s.cfg, opts...)
}

// span is a range of one partition to read: offsets [from, to), at most limit
// data records when limit is positive.
type span struct {
	topic     string
	partition int32
	from, to  int64
	limit     int64
}

// String names the span for errors.
func (sp span) String() string {
	return fmt.Sprintf("%s[%d] offsets %d to %d", sp.topic, sp.partition, sp.from, sp.to-1)
}

// scanFunc receives the data records of span i in offset order. Calls for one
// span never overlap; w is the worker, for per-worker scratch state.
type scanFunc func(w, i int, recs []*kgo.Record) error

// scan reads every span to its end with one client and big fetches, and hands
// the records to workers goroutines; a span always goes to the same worker, so
// its records arrive in order. Control records move the position but are not
// handed over. It returns the first error of fn or of the read.
func (s *side) scan(ctx context.Context, spans []span, workers int, fn scanFunc) error {
	type tpKey struct {
		t string
		p int32
	}
	index := map[tpKey]int{}
	start := map[string]map[int32]kgo.Offset{}
	pos := make([]int64, len(spans))
	counted := make([]int64, len(spans))
	remaining := 0
	for i, sp := range spans {
		pos[i] = sp.from
		if sp.from >= sp.to {
			continue
		}
		if _, dup := index[tpKey{sp.topic, sp.partition}]; dup {
			return fmt.Errorf("scan %s: partition listed twice", sp)
		}
		index[tpKey{sp.topic, sp.partition}] = i
		if start[sp.topic] == nil {
			start[sp.topic] = map[int32]kgo.Offset{}
		}
		start[sp.topic][sp.partition] = kgo.NewOffset().At(sp.from)
		remaining++
	}
	if remaining == 0 {
		return nil
	}
	cl, err := s.consumer(ctx, scanFetchMaxBytes, scanPartitionMaxBytes)
	if err != nil {
		return err
	}
	defer cl.Close()
	cl.AddConsumePartitions(start)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers = max(1, workers)
	type job struct {
		i    int
		recs []*kgo.Record
	}
	jobs := make([]chan job, workers)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for w := range jobs {
		jobs[w] = make(chan job, 4)
		wg.Go(func() {
			for j := range jobs[w] {
				if ctx.Err() != nil {
					continue // drain
				}
				if err := fn(w, j.i, j.recs); err != nil {
					fail(err)
				}
			}
		})
	}
	var stopOnce sync.Once
	stop := func() error {
		stopOnce.Do(func() {
			for _, ch := range jobs {
				close(ch)
			}
			wg.Wait()
		})
		return firstErr
	}
	defer stop()

	lastProgress := time.Now()
	for remaining > 0 {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			if err := stop(); err != nil {
				return err
			}
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = fmt.Errorf("read %s %s[%d]: %w", s.role, t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		done := map[string][]int32{}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			i, ok := index[tpKey{fp.Topic, fp.Partition}]
			if !ok || pos[i] >= spans[i].to {
				return
			}
			sp := spans[i]
			before := pos[i]
			var data []*kgo.Record
			for _, r := range fp.Records {
				if r.Offset < pos[i] {
					continue
				}
				if r.Offset >= sp.to || (sp.limit > 0 && counted[i] >= sp.limit) {
					pos[i] = sp.to
					break
				}
				pos[i] = r.Offset + 1
				if r.Attrs.IsControl() {
					continue
				}
				data = append(data, r)
				counted[i]++
			}
			if sp.limit > 0 && counted[i] >= sp.limit {
				pos[i] = sp.to
			}
			if pos[i] > before {
				lastProgress = time.Now()
			}
			if len(data) > 0 {
				select {
				case jobs[i%workers] <- job{i, data}:
				case <-ctx.Done():
				}
			}
			if pos[i] >= sp.to {
				remaining--
				done[fp.Topic] = append(done[fp.Topic], fp.Partition)
			}
		})
		if len(done) > 0 {
			cl.RemoveConsumePartitions(done)
		}
		if remaining > 0 && time.Since(lastProgress) > stallTimeout {
			var waiting []string
			for i, sp := range spans {
				if pos[i] < sp.to {
					waiting = append(waiting, fmt.Sprintf("%s[%d] at offset %d of %d", sp.topic, sp.partition, pos[i], sp.to))
					if len(waiting) == 5 {
						break
					}
				}
			}
			return fmt.Errorf("read %s: no progress for %s, waiting for %s", s.role, stallTimeout, strings.Join(waiting, ", "))
		}
	}
	// The workers finish before the result: their errors count.
	return stop()
}

// point asks for the first data record of a partition at an offset in
// [from, end).
type point struct {
	topic     string
	partition int32
	from, end int64
}

// readPoints returns, for each point, the first data record at an offset in
// [from, end), or nil when there is none; see kafka.ReadPoints.
func (s *side) readPoints(ctx context.Context, pts []point) ([]*kgo.Record, error) {
	kp := make([]kafka.Point, len(pts))
	some := false
	for i, pt := range pts {
		kp[i] = kafka.Point{Topic: pt.topic, Partition: pt.partition, From: pt.from, End: pt.end}
		some = some || pt.from < pt.end
	}
	if !some {
		return make([]*kgo.Record, len(pts)), nil
	}
	cl, err := s.consumer(ctx, scanFetchMaxBytes, kafka.PointPartitionBytes)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return kafka.ReadPoints(ctx, cl, s.role, kp, stallTimeout)
}

// recordBytes is the size of a record's key, value and headers: the data a
// migration moves.
func recordBytes(r *kgo.Record) int64 {
	n := int64(len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}
