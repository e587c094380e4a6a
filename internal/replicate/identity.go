package replicate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// A partition is identified by its topic's id, not only by its name. The state
// binds every source topic name to the ids of the source and target topics its
// maps were made from (state.TopicIDs), written before the first record is
// copied. A topic deleted and recreated under the same name on either side
// gets a new id: its old map must never translate the new topic's records, and
// new records must never be appended after the old ones. Such a topic stops
// with an error naming both ids; `kmigrate reset --topic` starts it over.

// ErrTopicRecreated marks the errors of partitions whose source or target topic
// is no longer the one the state describes.
var ErrTopicRecreated = errors.New("topic recreated")

// identityError says how a topic's identity changed and the way forward.
func identityError(side, topic string, was, now offsetmap.TopicID, source string) error {
	what := "was deleted and recreated"
	if now == (offsetmap.TopicID{}) {
		what = "was deleted"
	}
	return fmt.Errorf("%w: %s topic %s %s (topic id %s, the offset map belongs to %s): copying on would put its records after the old topic's and translate group offsets to the wrong records; stopped. To copy %s again from scratch, run `kmigrate reset -c FILE --topic %s` (it deletes the target topic and its state)",
		ErrTopicRecreated, side, topic, what, now, was, source, source)
}

// checkIdentity compares each spec's current topic ids with the state's
// bindings. It returns the specs that may go on; a topic whose identity
// changed has its running partitions stopped, and is reported once.
func (e *Engine) checkIdentity(ctx context.Context, src kadm.TopicDetails, specs []scope.TopicSpec) ([]scope.TopicSpec, error) {
	tgt, err := e.targetTopicIDs(ctx, specs)
	if err != nil {
		return nil, err
	}
	var ok []scope.TopicSpec
	for _, s := range specs {
		cur := state.TopicIDs{Source: offsetmap.TopicID(src[s.Source].ID), Target: tgt[s.Target]}
		e.mu.RLock()
		bound, isBound := e.bindings[s.Source]
		e.mu.RUnlock()
		var ierr error
		switch {
		case !isBound:
		case bound.Source != (offsetmap.TopicID{}) && cur.Source != bound.Source:
			ierr = identityError("source", s.Source, bound.Source, cur.Source, s.Source)
		case bound.Target != (offsetmap.TopicID{}) && cur.Target != bound.Target:
			ierr = identityError("target", s.Target, bound.Target, cur.Target, s.Source)
		}
		if ierr == nil {
			ok = append(ok, s)
			continue
		}
		e.stopTopic(s, ierr)
	}
	return ok, nil
}

// stopTopic fails every partition of a topic with err, running or not yet
// started, reporting it once.
func (e *Engine) stopTopic(s scope.TopicSpec, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.broken[s.Source] {
		return
	}
	e.broken[s.Source] = true
	for p := int32(0); p < s.Partitions; p++ {
		tp := TP{Topic: s.Source, Partition: p}
		if part, ok := e.parts[tp]; ok {
			part.mu.Lock()
			part.failLocked(fmt.Errorf("%v: %w", tp, err))
			part.mu.Unlock()
			continue
		}
		part := failedPartition(tp, s.Target, fmt.Errorf("%v: %w", tp, err))
		part.metrics, part.anyFailed = e.metrics, &e.anyFailed
		e.parts[tp] = part
		e.metrics.countError("partition")
	}
	e.anyFailed.Store(true)
	e.event("error", s.Source, "%v", err)
}

// targetTopicIDs returns the ids of the specs' target topics that exist.
func (e *Engine) targetTopicIDs(ctx context.Context, specs []scope.TopicSpec) (map[string]offsetmap.TopicID, error) {
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Target)
	}
	out := map[string]offsetmap.TopicID{}
	if len(names) == 0 {
		return out, nil
	}
	details, err := e.tgtAdm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list target topics: %w", err)
	}
	for name, d := range details {
		if d.Err == nil {
			out[name] = offsetmap.TopicID(d.ID)
		} else if !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("list target topic %s: %w", name, d.Err)
		}
	}
	return out, nil
}

// bind records, before the first record of a topic is copied, which source and
// target topics its maps belong to. A topic bound already is left as it is.
func (e *Engine) bind(ctx context.Context, src kadm.TopicDetails, specs []scope.TopicSpec) error {
	// A target topic created a moment ago may not be listed with its id yet.
	var tgt map[string]offsetmap.TopicID
	err := retry(ctx, 30*time.Second, func() (err error) {
		if tgt, err = e.targetTopicIDs(ctx, specs); err != nil {
			return err
		}
		for _, s := range specs {
			if tgt[s.Target] == (offsetmap.TopicID{}) {
				return fmt.Errorf("target topic %s is not listed with its id yet", s.Target)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range specs {
		e.mu.RLock()
		_, bound := e.bindings[s.Source]
		e.mu.RUnlock()
		if bound {
			continue
		}
		ids := state.TopicIDs{Source: offsetmap.TopicID(src[s.Source].ID), Target: tgt[s.Target]}
		r, err := state.TopicIDsRecord(e.cfg.Migration, s.Source, ids)
		if err != nil {
			return err
		}
		if err := e.store.Write(ctx, []*kgo.Record{r}); err != nil {
			return fmt.Errorf("record the topic ids of %s: %w", s.Source, err)
		}
		e.mu.Lock()
		e.bindings[s.Source] = ids
		e.mu.Unlock()
	}
	return nil
}

// TopicIDs returns the ids the state binds a source topic to; ok is false for
// a topic not bound yet. Group translation refuses to translate a topic whose
// current ids differ.
func (e *Engine) TopicIDs(source string) (state.TopicIDs, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	ids, ok := e.bindings[source]
	return ids, ok
}
