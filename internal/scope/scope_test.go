package scope

import (
	"testing"

	"github.com/kmigrate/kmigrate/internal/config"
)

func TestTopicSelection(t *testing.T) {
	sel := &config.Selection{Include: []string{"orders.*", "_private"}, Exclude: []string{".*-dlq"}}
	if err := sel.Compile(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		sel  *config.Selection
		want bool
	}{
		{"orders", sel, true},
		{"orders-dlq", sel, false},
		{"payments", sel, false},
		{"_private", sel, true},
		{"__consumer_offsets", nil, false},
		{"__transaction_state", sel, false},
		{"_kmigrate.m1.state", nil, false},
		{"anything", nil, true},
	} {
		if got := Topic(tt.sel, tt.name); got != tt.want {
			t.Errorf("Topic(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestGroupSelection pins one rule for every command: kmigrate's own groups
// (the writer lock group among them) are never selected, whatever the
// configuration includes.
func TestGroupSelection(t *testing.T) {
	all := &config.Selection{Include: []string{".*"}}
	only := &config.Selection{Include: []string{"billing"}}
	for _, s := range []*config.Selection{all, only} {
		if err := s.Compile(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		sel  *config.Selection
		want bool
	}{
		{"billing", all, true},
		{"billing", only, true},
		{"shipping", only, false},
		{"kmigrate.aws-to-gcp.writer", all, false},
		{"kmigrate-bench", nil, false},
		{"__share_group", all, false},
		{"_confluent-controlcenter", all, false},
		{"mm2-offset-syncs", all, false},
		{"cluster-a-mm2", nil, false},
		{"console-consumer-1", nil, true},
	} {
		if got := Group(tt.sel, tt.name); got != tt.want {
			t.Errorf("Group(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTargetTopic(t *testing.T) {
	if got := TargetTopic(config.Replication{}, "orders"); got != "orders" {
		t.Errorf("identity rename gave %q", got)
	}
	if got := TargetTopic(config.Replication{TopicPrefix: "aws.", TopicSuffix: ".v2"}, "orders"); got != "aws.orders.v2" {
		t.Errorf("prefix and suffix gave %q", got)
	}
}

func TestSkipConfig(t *testing.T) {
	for key, want := range map[string]bool{
		"retention.ms":                          false,
		"cleanup.policy":                        false,
		"leader.replication.throttled.replicas": true,
		"message.format.version":                true,
		"confluent.placement.constraints":       true,
	} {
		if _, got := skipConfig(key); got != want {
			t.Errorf("skipConfig(%q) = %v, want %v", key, got, want)
		}
	}
}
