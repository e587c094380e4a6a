package clouds

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Comparison is the outcome of comparing the ledger and both clusters. It is
// exact: every acknowledged record and every record of either cluster is
// examined.
type Comparison struct {
	// Acked is the number of records the source acknowledged to the witness.
	Acked int
	// Source and Target are the records read from each cluster.
	Source, Target int
	// Missing are acknowledged records not on the target; Duplicated those on it
	// more than once; Reordered those on it out of the order the source gave them.
	Missing, Duplicated, Reordered int
	// Problems describes the first differences (at most 20).
	Problems []string
}

// OK reports whether nothing was lost, duplicated, reordered or altered.
func (c Comparison) OK() bool { return len(c.Problems) == 0 }

func (c Comparison) String() string {
	s := fmt.Sprintf("acked %d, source %d, target %d records; missing %d, duplicated %d, reordered %d",
		c.Acked, c.Source, c.Target, c.Missing, c.Duplicated, c.Reordered)
	if len(c.Problems) > 0 {
		s += "\n  " + strings.Join(c.Problems, "\n  ")
	}
	return s
}

func (c *Comparison) problem(format string, args ...any) {
	if len(c.Problems) < 20 {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	} else if len(c.Problems) == 20 {
		c.Problems = append(c.Problems, "(more problems not listed)")
	}
}

// Compare checks that every acknowledged record is on the target exactly once and
// in the source's order (by its value, unique per witness record), and that the
// target partitions equal the source partitions record for record (key, value,
// headers, timestamp) — what the source held, whoever wrote it. src and tgt hold
// each cluster's records per partition, in offset order.
func Compare(acks map[int32][]Ack, src, tgt map[int32][]*kgo.Record) Comparison {
	var c Comparison
	parts := map[int32]bool{}
	for p := range src {
		parts[p] = true
	}
	for p := range tgt {
		parts[p] = true
	}
	for p := range acks {
		parts[p] = true
	}
	ids := make([]int32, 0, len(parts))
	for p := range parts {
		ids = append(ids, p)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, p := range ids {
		s, t := src[p], tgt[p]
		c.Source += len(s)
		c.Target += len(t)
		c.Acked += len(acks[p])
		// The ledger: where each acknowledged value sits on the target.
		pos := map[string][]int{}
		for i, r := range t {
			pos[string(r.Value)] = append(pos[string(r.Value)], i)
		}
		last := -1
		for _, a := range acks[p] {
			at := pos[a.Value]
			switch {
			case len(at) == 0:
				c.Missing++
				c.problem("partition %d: acked record %q (source offset %d) is not on the target", p, a.Value, a.Offset)
				continue
			case len(at) > 1:
				c.Duplicated++
				c.problem("partition %d: acked record %q (source offset %d) is on the target %d times", p, a.Value, a.Offset, len(at))
			}
			if at[0] <= last {
				c.Reordered++
				c.problem("partition %d: acked record %q (source offset %d) is at target offset %d, before the record acked ahead of it", p, a.Value, a.Offset, t[at[0]].Offset)
			}
			last = at[0]
		}
		// The clusters: the target partition is the source partition.
		if len(s) != len(t) {
			c.problem("partition %d: %d records on the source, %d on the target", p, len(s), len(t))
		}
		for i := range min(len(s), len(t)) {
			if d := diff(s[i], t[i]); d != "" {
				c.problem("partition %d: source offset %d and target offset %d differ: %s", p, s[i].Offset, t[i].Offset, d)
				break
			}
		}
	}
	return c
}

// diff names what differs between two records, or returns "".
func diff(a, b *kgo.Record) string {
	switch {
	case !bytes.Equal(a.Key, b.Key) || (a.Key == nil) != (b.Key == nil):
		return "key"
	case !bytes.Equal(a.Value, b.Value) || (a.Value == nil) != (b.Value == nil):
		return "value"
	case !a.Timestamp.Equal(b.Timestamp):
		return fmt.Sprintf("timestamp %s against %s", a.Timestamp, b.Timestamp)
	case len(a.Headers) != len(b.Headers):
		return "headers"
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return "headers"
		}
	}
	return ""
}

// TargetPosition returns the exact target offset of a source position: the target
// offset of the first copied record at or after srcPos, or the target end when
// every copied record is before it. src and tgt are one partition of each
// cluster, the target holding the source's records in order from its first.
func TargetPosition(src, tgt []*kgo.Record, srcPos int64) (int64, bool) {
	i := sort.Search(len(src), func(i int) bool { return src[i].Offset >= srcPos })
	switch {
	case i < len(tgt):
		return tgt[i].Offset, true
	case i == len(tgt) && len(tgt) > 0:
		return tgt[len(tgt)-1].Offset + 1, true
	}
	return 0, false
}
