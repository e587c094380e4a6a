// Package scope defines what a migration moves and how it looks on the target:
// which source topics and consumer groups are selected, the rename rule from a
// source topic name to its target name, and the spec of every target topic
// (partitions, replication factor, which source configs are copied and which are
// deliberately not). It is the one owner of these rules: scan, plan, run, group
// sync, verify and status all ask here, so that what one command counts is what
// another copies.
//
// Selection is exact and deterministic: a name is selected or not from the
// configuration and a fixed set of built-in exclusions (Kafka-internal names,
// kmigrate's own topics and groups, MirrorMaker 2 and Confluent internals).
package scope

import (
	"regexp"
	"strings"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Migratable reports whether a topic may be migrated at all, whatever the
// configuration says: Kafka-internal topics (names starting with "__") and
// kmigrate's own state topics never are.
func Migratable(topic string) bool {
	return !strings.HasPrefix(topic, "__") && !strings.HasPrefix(topic, "_kmigrate")
}

// Topic reports whether the migration copies source topic name: it is
// migratable and the configured selection picks it. A nil selection picks every
// migratable topic.
func Topic(sel *config.Selection, name string) bool {
	return Migratable(name) && (sel == nil || sel.Match(name))
}

// builtinGroups are groups never translated: kmigrate's own (its writer lock
// group among them), Kafka-internal names, and the internal groups of MirrorMaker
// 2 and Confluent components.
var builtinGroups = regexp.MustCompile(`^(kmigrate[.-].*|__.*|_confluent.*|.*-mm2|mm2-.*)$`)

// GroupMigratable reports whether a consumer group may be translated at all,
// whatever the configuration says.
func GroupMigratable(group string) bool { return !builtinGroups.MatchString(group) }

// Group reports whether the migration translates source group name: it is
// migratable and the configured selection picks it. A nil selection picks every
// migratable group.
func Group(sel *config.Selection, name string) bool {
	return GroupMigratable(name) && (sel == nil || sel.Match(name))
}

// TargetTopic maps a source topic name to its target name by the migration's
// rename rule (a prefix and a suffix; the identity by default).
func TargetTopic(r config.Replication, source string) string {
	return r.TopicPrefix + source + r.TopicSuffix
}
