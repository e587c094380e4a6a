package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Key types of the records of a Confluent registry's storage topic.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyDeleteSubject = "DELETE_SUBJECT"
)

// topicKey is the JSON key of a storage-topic record.
type topicKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version"`
}

// topicSchema is the value of a SCHEMA record.
type topicSchema struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int32       `json:"id"`
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
	Deleted    bool        `json:"deleted"`
}

// topicState folds the records of a storage topic in offset order: the latest
// record of a key wins and a null value deletes it, as compaction would.
type topicState struct {
	versions map[SubjectVersion]*Version
	compat   map[string]string // "" is the global level
	mode     map[string]string
}

func newTopicState() *topicState {
	return &topicState{versions: map[SubjectVersion]*Version{}, compat: map[string]string{}, mode: map[string]string{}}
}

// apply folds one record. A record whose key is not a registry key (another
// writer's, or a NOOP) is ignored; a malformed value of a known key is an
// error, since skipping it could hide a schema.
func (st *topicState) apply(key, value []byte) error {
	var k topicKey
	if err := json.Unmarshal(key, &k); err != nil {
		return nil
	}
	subject := ""
	if k.Subject != nil {
		subject = *k.Subject
	}
	switch k.KeyType {
	case keySchema:
		sv := SubjectVersion{subject, k.Version}
		if value == nil {
			delete(st.versions, sv) // a hard delete
			return nil
		}
		var v topicSchema
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("schema record of subject %s version %d: %w", subject, k.Version, err)
		}
		st.versions[sv] = &Version{Subject: v.Subject, Version: v.Version, ID: v.ID, Deleted: v.Deleted,
			Schema: Schema{Type: v.SchemaType, Text: v.Schema, References: v.References}}
	case keyConfig:
		if value == nil {
			delete(st.compat, subject)
			return nil
		}
		var v struct {
			Level  string `json:"compatibilityLevel"`
			Level2 string `json:"compatibility"`
		}
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("config record of subject %q: %w", subject, err)
		}
		st.compat[subject] = firstNonEmpty(v.Level, v.Level2)
	case keyMode:
		if value == nil {
			delete(st.mode, subject)
			return nil
		}
		var v struct {
			Mode string `json:"mode"`
		}
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("mode record of subject %q: %w", subject, err)
		}
		st.mode[subject] = v.Mode
	case keyDeleteSubject:
		if value == nil {
			return nil
		}
		var v struct {
			Version int `json:"version"`
		}
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("delete-subject record of subject %q: %w", subject, err)
		}
		for sv, ver := range st.versions {
			if sv.Subject == subject && sv.Version <= v.Version {
				ver.Deleted = true
			}
		}
	}
	return nil
}

func (st *topicState) snapshot() *Snapshot {
	s := &Snapshot{Compatibility: st.compat[""], Mode: st.mode[""], SubjectCompatibility: map[string]string{}}
	for _, v := range st.versions {
		s.Versions = append(s.Versions, v)
	}
	for subj, l := range st.compat {
		if subj != "" {
			s.SubjectCompatibility[subj] = l
		}
	}
	s.index()
	return s
}

// ParseTopic builds a Snapshot from the records of a storage topic in offset
// order (keys and values as stored; a nil value is a tombstone).
func ParseTopic(records []*kgo.Record) (*Snapshot, error) {
	st := newTopicState()
	for _, r := range records {
		if err := st.apply(r.Key, r.Value); err != nil {
			return nil, fmt.Errorf("%s[%d] offset %d: %w", r.Topic, r.Partition, r.Offset, err)
		}
	}
	return st.snapshot(), nil
}

// ReadTopic reads a registry's storage topic from its start to its end with cl
// (a client of the cluster that holds it, with no consumer group, built with
// kgo.KeepControlRecords so that a trailing transaction marker still moves the
// position to the end) and returns what it holds. Its records are read in offset order; the topic has one
// partition in a Confluent registry, and several are read one after another.
func ReadTopic(ctx context.Context, cl *kgo.Client, topic string) (*Snapshot, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of schema topic %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets of schema topic %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of schema topic %s: %w", topic, err)
	}
	want := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(ends) == 0 || len(ends[topic]) == 0 {
		return nil, fmt.Errorf("read schema topic %s: the topic does not exist", topic)
	}
	byPart := map[int32][]*kgo.Record{}
	if len(want) > 0 {
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: from})
		parts := make([]int32, 0, len(from))
		for p := range from {
			parts = append(parts, p)
		}
		defer cl.RemoveConsumePartitions(map[string][]int32{topic: parts})
		pos := map[int32]int64{}
		deadline := time.Now().Add(2 * time.Minute)
		for !reached(pos, want) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("read schema topic %s: no end reached within 2m", topic)
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			fs := cl.PollFetches(pctx)
			cancel()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && ferr == nil {
					ferr = fmt.Errorf("read schema topic %s[%d]: %w", t, p, err)
				}
			})
			if ferr != nil {
				return nil, ferr
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset < want[r.Partition] && r.Offset >= pos[r.Partition] {
					pos[r.Partition] = r.Offset + 1
					if !r.Attrs.IsControl() {
						byPart[r.Partition] = append(byPart[r.Partition], r)
					}
				}
			})
		}
	}
	var all []*kgo.Record
	for p := int32(0); p < int32(len(ends[topic])); p++ {
		all = append(all, byPart[p]...)
	}
	return ParseTopic(all)
}

func reached(pos, want map[int32]int64) bool {
	for p, end := range want {
		if pos[p] < end {
			return false
		}
	}
	return true
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Load reads a whole registry, named name (source or target) in errors: through
// its REST API when r has a URL, else from its storage topic with a client that
// newKafka builds for the side's Kafka cluster.
func Load(ctx context.Context, name string, r config.Registry, timeout time.Duration, newKafka func(context.Context, ...kgo.Opt) (*kgo.Client, error)) (*Snapshot, error) {
	if r.URL != "" {
		c, err := NewClient(name, r, timeout)
		if err != nil {
			return nil, err
		}
		return c.Snapshot(ctx)
	}
	cl, err := newKafka(ctx, kgo.KeepControlRecords(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, fmt.Errorf("read %s schema topic %s: %w", name, r.Topic, err)
	}
	defer cl.Close()
	s, err := ReadTopic(ctx, cl, r.Topic)
	if err != nil {
		return nil, fmt.Errorf("read %s schema registry: %w", name, err)
	}
	return s, nil
}
