package groups

import (
	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// StateTranslator translates through the offset maps stored on the target, for
// commands that run while `kmigrate run` is not running (or elsewhere).
type StateTranslator struct {
	cfg    *config.Config
	st     *state.State
	topics map[string]bool
}

// NewStateTranslator returns a Translator over a loaded state.
func NewStateTranslator(cfg *config.Config, st *state.State) *StateTranslator {
	t := &StateTranslator{cfg: cfg, st: st, topics: map[string]bool{}}
	for k, v := range st.Partitions {
		if v.Err == nil && v.Map != nil {
			t.topics[k.Topic] = true
		}
	}
	return t
}

// Translate implements Translator.
func (t *StateTranslator) Translate(topic string, partition int32, c int64) (offsetmap.Translation, bool) {
	s := t.st.Partitions[state.Key{Topic: topic, Partition: partition}]
	if s == nil || s.Err != nil || s.Map == nil {
		return offsetmap.Translation{}, false
	}
	return s.Map.Translate(c), true
}

// TopicIDs implements IdentityTranslator.
func (t *StateTranslator) TopicIDs(source string) (offsetmap.TopicIDs, bool) {
	ids, ok := t.st.Topics[source]
	return ids, ok
}

// TargetTopic implements Translator.
func (t *StateTranslator) TargetTopic(source string) (string, bool) {
	if !t.topics[source] {
		return "", false
	}
	return scope.TargetTopic(t.cfg.Replication, source), true
}
