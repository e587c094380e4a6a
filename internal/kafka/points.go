package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PointPartitionBytes is the fetch size per partition that suits point reads:
// they want one record (a larger record still comes back whole).
const PointPartitionBytes = 256 << 10

// Point asks for the first data record of a partition at an offset in
// [From, End). With Controls, a transaction marker in the range counts as
// the first record too: for a reader to whom one is news.
type Point struct {
	Topic     string
	Partition int32
	From, End int64
	Controls  bool
}

// ReadPoints returns, for each point, the first record of its range (see
// Point), or nil when there is none, through cl: a client that consumes
// nothing yet, keeps control records and never resets an offset (an offset
// below the log start is an error, not a jump). Any number of partitions are
// read at once, so that many point reads cost a few fetches, not one client
// and one metadata load each. Points of one partition are read in offset
// order: each round starts every partition at its next unresolved point, and
// a fetch resolves every point it covers. A partition that makes no progress
// for stall fails the read, named with role.
func ReadPoints(ctx context.Context, cl *kgo.Client, role Role, pts []Point, stall time.Duration) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, len(pts))
	type tpKey struct {
		t string
		p int32
	}
	queues := map[tpKey][]int{}
	for i, pt := range pts {
		if pt.From >= pt.End {
			continue
		}
		k := tpKey{pt.Topic, pt.Partition}
		queues[k] = append(queues[k], i)
	}
	for _, q := range queues {
		sort.SliceStable(q, func(a, b int) bool { return pts[q[a]].From < pts[q[b]].From })
	}
	next := map[tpKey]int{} // index into the queue of the next unresolved point
	for {
		round := map[string]map[int32]kgo.Offset{}
		active := map[tpKey]bool{}
		roundStart := map[tpKey]int{}
		for k, q := range queues {
			if next[k] < len(q) {
				roundStart[k] = next[k]
				if round[k.t] == nil {
					round[k.t] = map[int32]kgo.Offset{}
				}
				round[k.t][k.p] = kgo.NewOffset().At(pts[q[next[k]]].From)
				active[k] = true
			}
		}
		if len(active) == 0 {
			return out, nil
		}
		cl.AddConsumePartitions(round)
		deadline := time.Now().Add(stall)
		for len(active) > 0 {
			if time.Now().After(deadline) {
				for k := range active {
					pt := pts[queues[k][next[k]]]
					return nil, fmt.Errorf("read %s %s[%d] at offset %d: no answer within %s", role, k.t, k.p, pt.From, stall)
				}
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			fs := cl.PollFetches(pctx)
			cancel()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
					ferr = fmt.Errorf("read %s %s[%d]: %w", role, t, p, err)
				}
			})
			if ferr != nil {
				return nil, ferr
			}
			// Resolved partitions stop being fetched all at once: each
			// removal costs the client a pass over every partition it
			// consumes.
			done := map[string][]int32{}
			fs.EachPartition(func(fp kgo.FetchTopicPartition) {
				k := tpKey{fp.Topic, fp.Partition}
				if !active[k] {
					return
				}
				q := queues[k]
				for _, r := range fp.Records {
					for next[k] < len(q) {
						pt := pts[q[next[k]]]
						if r.Offset < pt.From {
							break // this record is before the point: next record
						}
						if r.Offset >= pt.End {
							next[k]++ // nothing in [From, End)
							continue
						}
						if r.Attrs.IsControl() && !pt.Controls {
							if r.Offset+1 >= pt.End {
								next[k]++
								continue
							}
							break
						}
						out[q[next[k]]] = r
						next[k]++
					}
					if next[k] == len(q) {
						break
					}
				}
				// Once the point the round started at is resolved, later
				// points start afresh in the next round rather than reading
				// the records in between.
				if next[k] > roundStart[k] {
					delete(active, k)
					done[k.t] = append(done[k.t], k.p)
				}
			})
			if len(done) > 0 {
				cl.RemoveConsumePartitions(done)
			}
		}
	}
}
