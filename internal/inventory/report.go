package inventory

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the snapshot as a report for a terminal, summary first.
func (s *Snapshot) WriteText(w io.Writer) error {
	d := newTextDoc(w)
	s.write(d)
	return d.err()
}

// WriteMarkdown writes the snapshot as a Markdown report.
func (s *Snapshot) WriteMarkdown(w io.Writer) error {
	d := newMarkdownDoc(w)
	s.write(d)
	return d.err()
}

func (s *Snapshot) write(d doc) {
	d.title(fmt.Sprintf("kmigrate scan of the %s cluster %s, taken %s in %s",
		s.Role, s.ClusterID, s.TakenAt.UTC().Format("2006-01-02T15:04:05Z"), ago(s.ElapsedMillis)))
	s.writeSummary(d)
	s.writeHealth(d)
	s.writeBrokers(d)
	s.writeQuorum(d)
	s.writeTopicDefaults(d)
	s.writeTopics(d)
	s.writeGroups(d)
	s.writeACLs(d)
}

// writeSummary writes the one-screen summary: a line per kind of thing.
func (s *Snapshot) writeSummary(d doc) {
	sum := s.Summary
	d.heading("Summary")
	racks := map[string]bool{}
	for _, b := range s.Brokers {
		if b.Rack != "" {
			racks[b.Rack] = true
		}
	}
	rackText := "no racks"
	if len(racks) > 0 {
		rackText = "racks " + strings.Join(sortedKeys(racks), ", ")
	}
	controllers := "unknown (quorum not visible)"
	if s.Quorum != nil {
		controllers = fmt.Sprintf("%s; active controller %d, epoch %d", plural(len(s.Quorum.Voters), "voter", "voters"), s.Quorum.LeaderID, s.Quorum.LeaderEpoch)
	}
	topics := num(int64(sum.Topics))
	if s.Role == "source" {
		topics = fmt.Sprintf("%d (%d selected)", sum.Topics, sum.SelectedTopics)
	}
	var extra []string
	if sum.CompactedTopics > 0 {
		extra = append(extra, fmt.Sprintf("%d compacted", sum.CompactedTopics))
	}
	if sum.TransactionalTopics > 0 {
		extra = append(extra, fmt.Sprintf("%d transactional", sum.TransactionalTopics))
	}
	if sum.InternalTopics > 0 {
		extra = append(extra, fmt.Sprintf("%d internal", sum.InternalTopics))
	}
	if sum.HiddenInternalTopics > 0 {
		extra = append(extra, fmt.Sprintf("%d internal not listed", sum.HiddenInternalTopics))
	}
	if len(extra) > 0 {
		topics += "; " + strings.Join(extra, "; ")
	}
	partitions := num(int64(sum.Partitions))
	if sum.UnderReplicated > 0 || sum.Offline > 0 {
		partitions += fmt.Sprintf("; %d under-replicated; %d offline", sum.UnderReplicated, sum.Offline)
	}
	recs := records(sum.Records, sum.RecordsUpperBound)
	if sum.RecordsUpperBound {
		recs += " (an upper bound: compaction or transactions leave offset gaps)"
	}
	sizeText := "unknown (log dirs not visible)"
	if sum.SizeBytes >= 0 {
		sizeText = fmt.Sprintf("%s on leaders, %s with replicas", size(sum.SizeBytes), size(sum.ReplicaBytes))
	}
	acls := "not visible"
	switch s.Authorizer {
	case "on":
		acls = fmt.Sprintf("%d (authorizer on)", sum.ACLs)
	case "off":
		acls = "no authorizer"
	}
	health := "no warning"
	if sum.Warnings > 0 {
		health = plural(sum.Warnings, "warning", "warnings") + " (see Health)"
	}
	pairs := [][2]string{
		{"brokers", fmt.Sprintf("%d; %s", sum.Brokers, rackText)},
		{"controllers", controllers},
		{"topics", topics},
		{"partitions", partitions},
		{"records", recs},
		{"size", sizeText},
		{"consumer groups", fmt.Sprintf("%d; total lag %s", sum.Groups, num(sum.TotalLag))},
		{"ACLs", acls},
		{"health", health},
	}
	if sum.Unavailable > 0 {
		pairs = append(pairs, [2]string{"not visible", plural(sum.Unavailable, "item", "items") + " (see Not visible)"})
	}
	d.pairs(pairs)
}

// writeHealth writes the health notes and what the principal could not see.
func (s *Snapshot) writeHealth(d doc) {
	if len(s.Health) > 0 {
		d.heading("Health")
		t := newTable("SEVERITY", "CODE", "SUBJECT", "MESSAGE")
		for _, n := range s.Health {
			t.add(n.Severity, n.Code, n.Subject, n.Message)
		}
		d.table(t)
	}
	if len(s.Unavailable) > 0 {
		d.heading("Not visible")
		d.line("The principal could not see the following; the rest of the report stands.")
		t := newTable("WHAT", "REQUEST", "REASON")
		for _, g := range s.Unavailable {
			t.add(g.What, g.Request, g.Reason)
		}
		d.table(t)
	}
}

// writeBrokers writes a row per broker.
func (s *Snapshot) writeBrokers(d doc) {
	d.heading("Brokers")
	bt := newTable("ID", "ADDRESS", "RACK", "LEADERS", "REPLICAS", "SIZE", "STATE")
	for _, b := range s.Brokers {
		st := "serving"
		if b.Fenced {
			st = "fenced"
		}
		bt.add(fmt.Sprint(b.ID), fmt.Sprintf("%s:%d", b.Host, b.Port), dash(b.Rack), fmt.Sprint(b.Leaders), fmt.Sprint(b.Replicas), size(b.SizeBytes), st)
	}
	d.table(bt)
}

// writeQuorum writes the KRaft quorum, when visible.
func (s *Snapshot) writeQuorum(d doc) {
	if q := s.Quorum; q != nil {
		d.heading("KRaft quorum")
		d.line(fmt.Sprintf("active controller %d, epoch %d, metadata high watermark %s", q.LeaderID, q.LeaderEpoch, num(q.HighWatermark)))
		t := newTable("ROLE", "ID", "ENDPOINT", "LOG END", "LAG", "CAUGHT UP")
		for _, set := range []struct {
			role    string
			members []QuorumMember
		}{{"voter", q.Voters}, {"observer", q.Observers}} {
			for _, m := range set.members {
				role := set.role
				if m.ID == q.LeaderID {
					role = "leader"
				}
				caught := "-"
				if m.CaughtUpMillisAgo >= 0 {
					caught = ago(m.CaughtUpMillisAgo) + " ago"
				}
				t.add(role, fmt.Sprint(m.ID), dash(m.Endpoint), num(m.LogEndOffset), num(m.Lag), caught)
			}
		}
		d.table(t)
	}
}

// writeTopicDefaults writes the broker settings that differ from Kafka's defaults.
func (s *Snapshot) writeTopicDefaults(d doc) {
	if len(s.TopicDefaults) > 0 {
		d.heading("Topic defaults")
		d.line("Broker settings, as topics see them, that differ from Kafka's built-in defaults.")
		t := newTable("CONFIG", "VALUE", "SET IN", "KAFKA DEFAULT")
		for _, c := range s.TopicDefaults {
			t.add(c.Name, configValue(c), c.Source, dash(c.Default))
		}
		d.table(t)
	}
}

// writeTopics writes the topic table, then each topic's overrides and partitions.
func (s *Snapshot) writeTopics(d doc) {
	d.heading("Topics")
	if len(s.Topics) == 0 {
		d.line("No topic is visible.")
	} else {
		t := newTable("TOPIC", "PARTITIONS", "RF", "CLEANUP", "RECORDS", "SIZE", "OLDEST RECORD", "FLAGS")
		for _, tp := range s.Topics {
			t.add(tp.Name, fmt.Sprint(tp.Partitions), fmt.Sprint(tp.ReplicationFactor), dash(tp.CleanupPolicy),
				records(tp.Records, tp.RecordsUpperBound), size(tp.SizeBytes), stamp(tp.OldestTimestampMillis), topicFlags(tp))
		}
		d.table(t)
		d.line("Records is latest − earliest offset; ≤ marks an upper bound (compaction or transactions leave gaps). Size counts leader replicas.")
	}
	for _, tp := range s.Topics {
		d.subheading("Topic " + tp.Name)
		if tp.Error != "" {
			d.line("error: " + tp.Error)
			continue
		}
		if len(tp.Configs) > 0 {
			t := newTable("OVERRIDE", "VALUE", "DEFAULT", "DEFAULT SET IN")
			for _, c := range tp.Configs {
				def := c.Default
				if c.DefaultName != "" {
					def += " (" + c.DefaultName + ")"
				}
				t.add(c.Name, configValue(c), dash(def), dash(c.DefaultSource))
			}
			d.table(t)
		}
		t := newTable("P", "LEADER", "REPLICAS", "ISR", "EARLIEST", "LATEST", "RECORDS", "SIZE", "FIRST RECORD", "FLAGS")
		for _, p := range tp.PartitionList {
			t.add(fmt.Sprint(p.Partition), leader(p.Leader), ids(p.Replicas), ids(p.ISR), num(p.Earliest), num(p.Latest),
				records(p.Records, tp.RecordsUpperBound), size(p.SizeBytes), stamp(p.FirstTimestampMillis), partitionFlags(p))
		}
		d.table(t)
	}
}

// writeGroups writes the group table, then each group's offsets.
func (s *Snapshot) writeGroups(d doc) {
	d.heading("Consumer groups")
	if len(s.Groups) == 0 {
		d.line("No consumer group is visible.")
	} else {
		t := newTable("GROUP", "STATE", "TYPE", "PROTOCOL", "MEMBERS", "LAG", "FLAGS")
		for _, g := range s.Groups {
			var flags []string
			if g.Selected {
				flags = append(flags, "selected")
			}
			if len(g.UnselectedTopics) > 0 {
				flags = append(flags, "reads-unselected")
			}
			if g.Error != "" {
				flags = append(flags, "error")
			}
			proto := g.ProtocolType
			if g.Protocol != "" {
				proto += "/" + g.Protocol
			}
			t.add(g.Name, g.State, dash(g.Type), dash(proto), fmt.Sprint(g.Members), num(g.Lag), dash(strings.Join(flags, ",")))
		}
		d.table(t)
	}
	for _, g := range s.Groups {
		if len(g.Offsets) == 0 && g.Error == "" && len(g.UnselectedTopics) == 0 {
			continue
		}
		d.subheading("Group " + g.Name)
		if len(g.UnselectedTopics) > 0 {
			d.line("reads topics outside the migration's selection: " + strings.Join(g.UnselectedTopics, ", "))
		}
		if g.Error != "" {
			d.line("error: " + g.Error)
		}
		if len(g.Offsets) > 0 {
			t := newTable("TOPIC", "P", "COMMITTED", "LATEST", "LAG")
			for _, o := range g.Offsets {
				t.add(o.Topic, fmt.Sprint(o.Partition), num(o.Committed), num(o.Latest), num(o.Lag))
			}
			d.table(t)
		}
	}
}

// writeACLs writes the ACLs, or why there are none to show.
func (s *Snapshot) writeACLs(d doc) {
	d.heading("ACLs")
	switch {
	case s.Authorizer == "off":
		d.line("The cluster has no authorizer: every principal may do everything.")
	case s.Authorizer != "on":
		d.line("Not visible (see Not visible).")
	case len(s.ACLs) == 0:
		d.line("The authorizer is on and no ACL is set.")
	default:
		t := newTable("PRINCIPAL", "HOST", "RESOURCE", "NAME", "PATTERN", "OPERATION", "PERMISSION")
		for _, a := range s.ACLs {
			t.add(a.Principal, a.Host, a.ResourceType, a.ResourceName, a.PatternType, a.Operation, a.Permission)
		}
		d.table(t)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func leader(id int32) string {
	if id < 0 {
		return "none"
	}
	return fmt.Sprint(id)
}

func configValue(c Config) string {
	if c.Sensitive {
		return "(sensitive)"
	}
	return c.Value
}

func topicFlags(t Topic) string {
	var f []string
	if t.Selected {
		f = append(f, "selected")
	}
	if t.Internal {
		f = append(f, "internal")
	}
	if t.Compacted {
		f = append(f, "compacted")
	}
	if t.Transactional {
		f = append(f, "transactional")
	}
	if t.UnderReplicated > 0 {
		f = append(f, fmt.Sprintf("under-replicated:%d", t.UnderReplicated))
	}
	if t.Offline > 0 {
		f = append(f, fmt.Sprintf("offline:%d", t.Offline))
	}
	if t.Error != "" {
		f = append(f, "error")
	}
	return dash(strings.Join(f, ","))
}

func partitionFlags(p Partition) string {
	var f []string
	if p.Offline {
		f = append(f, "offline")
	} else if p.UnderReplicated {
		f = append(f, "under-replicated")
	}
	if p.OpenTransaction {
		f = append(f, "open-transaction")
	}
	if p.TransactionalProducers > 0 {
		f = append(f, "transactional")
	}
	if p.Error != "" && !p.Offline {
		f = append(f, "error")
	}
	return dash(strings.Join(f, ","))
}
