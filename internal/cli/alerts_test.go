package cli

import (
	"encoding/json"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

const (
	alertRulesFile = "../../deploy/prometheus/kmigrate-alerts.yml"
	dashboardFile  = "../../deploy/grafana/kmigrate-dashboard.json"
)

// alertRule is one rule of the alerting rules file.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type ruleFile struct {
	Groups []struct {
		Name  string      `yaml:"name"`
		Rules []alertRule `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	return rf
}

// dashboardExprs returns the query of every panel target of the dashboard.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	return out
}

var metricName = regexp.MustCompile(`\bkmigrate_[a-z0-9_]+\b`)

// families returns the metric families a scrape declares, with the series
// names of histograms (_bucket, _sum, _count).
func families(body string) map[string]bool {
	out := map[string]bool{}
	for l := range strings.SplitSeq(body, "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = true
			if f[3] == "histogram" || f[3] == "summary" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					out[f[2]+s] = true
				}
			}
		}
	}
	return out
}

// samples parses the samples of a scrape: series (name{labels}) → value.
func samples(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for l := range strings.SplitSeq(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || !strings.HasPrefix(l, "kmigrate_") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape line %q: %v", l, err)
		}
		out[l[:i]] = v
	}
	return out
}

// withTarget adds the labels a Prometheus scrape adds to a series.
func withTarget(series string) string {
	const target = `instance="live",job="kmigrate"`
	if i := strings.IndexByte(series, '{'); i >= 0 {
		if strings.HasSuffix(series, "{}") {
			return series[:i] + "{" + target + "}"
		}
		return series[:len(series)-1] + "," + target + "}"
	}
	return series + "{" + target + "}"
}

// TestAlertsOnALiveRun scrapes a live `run` and checks the deploy/ files
// against it: every metric the alert rules and the Grafana dashboard use
// exists; promtool accepts the rules; evaluated over two hours of that scrape
// no alert fires, and with each fault injected into the same series the alert
// for it fires, with the labels an operator routes on.
func TestAlertsOnALiveRun(t *testing.T) {
	r := startLiveRun(t, "events")
	var body string
	kafkatest.Eventually(t, 30*time.Second, func() error {
		body = r.scrape(t)
		if !strings.Contains(body, `kmigrate_partition_phase_count{phase="following"} 3`) || !strings.Contains(body, "kmigrate_cluster_info{") ||
			!strings.Contains(body, `kmigrate_group_unsynced_partitions{group="billing"} 0`) {
			return fmt.Errorf("the run does not follow yet, has not identified the clusters or translated group billing:\n%s", grepLines(body, "phase_count"))
		}
		return nil
	})
	have := families(body)
	// Series absent by design until an event, so a live run cannot show
	// them: each must be in the README's metrics table.
	for name, until := range map[string]string{
		"kmigrate_verify_passed":                     "a verification ran in the process",
		"kmigrate_verify_last_run_timestamp_seconds": "a verification ran in the process",
	} {
		if have[name] {
			t.Errorf("%s is exported although it should be absent until %s", name, until)
		}
		have[name] = true
	}
	rules := readRules(t)
	var exprs []string
	var names []string
	for _, g := range rules.Groups {
		for _, rl := range g.Rules {
			exprs = append(exprs, rl.Expr)
			names = append(names, rl.Alert)
		}
	}
	if len(names) < 7 {
		t.Fatalf("%d alert rules in %s", len(names), alertRulesFile)
	}
	exprs = append(exprs, dashboardExprs(t)...)
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			if !have[m] {
				t.Errorf("%s uses %s, which a live run does not export", e, m)
			}
		}
	}
	// The README's alert examples are the rules' expressions.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := regexp.MustCompile("(?s)Alerts worth having[^\n]*\n(.*?)\n\n").FindSubmatch(readme)
	if examples == nil {
		t.Fatal("the README has no alert examples")
	}
	for _, m := range regexp.MustCompile("`([^`]*kmigrate_[^`]*)`").FindAllSubmatch(examples[1], -1) {
		found := false
		for _, e := range exprs {
			found = found || strings.Contains(e, strings.TrimSuffix(string(m[1]), " for 15m"))
		}
		if !found {
			t.Errorf("the README's alert example %s is not in %s", m[1], alertRulesFile)
		}
	}

	promtool := findPromtool()
	if promtool == "" {
		t.Skip("promtool not found (go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0): the rules were checked for metric names only")
	}
	if out, err := exec.Command(promtool, "check", "rules", alertRulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	// The rules without their annotations (templated prose), so that the
	// expectations are the labels an alert carries.
	dir := t.TempDir()
	bare := rules
	for gi := range bare.Groups {
		for ri := range bare.Groups[gi].Rules {
			bare.Groups[gi].Rules[ri].Annotations = nil
		}
	}
	rb, err := yaml.Marshal(bare)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), rb, 0o644); err != nil {
		t.Fatal(err)
	}

	live := samples(t, body)
	const minutes = 150
	series := func(values map[string]string) []map[string]string {
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []map[string]string
		for _, k := range keys {
			out = append(out, map[string]string{"series": k, "values": values[k]})
		}
		return out
	}
	steady := func(v float64) string { return fmt.Sprintf("%f+0x%d", v, minutes) }
	healthy := map[string]string{}
	for s, v := range live {
		healthy[withTarget(s)] = steady(v)
	}
	faulty := map[string]string{}
	for k, v := range healthy {
		faulty[k] = v
	}
	set := func(series, values string) {
		k := withTarget(series)
		if _, ok := faulty[k]; !ok && !strings.HasPrefix(series, "kmigrate_verify_passed") {
			t.Fatalf("the live scrape has no series %s to inject a fault into", series)
		}
		faulty[k] = values
	}
	set(`kmigrate_partition_failed{partition="0",topic="events"}`, steady(1))
	set(`kmigrate_source_records_lost_total{topic="events"}`, fmt.Sprintf("0+0x100 20+0x%d", minutes-100))
	set(`kmigrate_replication_lag_records{partition="1",topic="events"}`, steady(250000))
	set(`kmigrate_partition_phase_count{phase="catching-up"}`, steady(3))
	set(`kmigrate_verify_passed`, steady(0))
	set(`kmigrate_group_unsynced_partitions{group="billing"}`, steady(2))
	set(`kmigrate_group_partitions{status="pending"}`, steady(2))
	for k := range faulty {
		if strings.HasPrefix(k, "kmigrate_up{") {
			faulty[k] = "1+0x130 stale"
		}
	}

	type alert struct {
		ExpLabels map[string]string `yaml:"exp_labels"`
	}
	type ruleTest struct {
		EvalTime  string  `yaml:"eval_time"`
		Alertname string  `yaml:"alertname"`
		ExpAlerts []alert `yaml:"exp_alerts"`
	}
	target := func(extra map[string]string) map[string]string {
		m := map[string]string{"instance": "live", "job": "kmigrate"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	eval := fmt.Sprintf("%dm", minutes)
	var quiet []ruleTest
	for _, n := range names {
		quiet = append(quiet, ruleTest{EvalTime: eval, Alertname: n, ExpAlerts: []alert{}})
	}
	firing := []ruleTest{
		{eval, "KmigrateDown", []alert{{map[string]string{"severity": "critical"}}}},
		{eval, "KmigratePartitionFailed", []alert{{target(map[string]string{"severity": "critical", "topic": "events", "partition": "0"})}}},
		{eval, "KmigrateSourceRecordsLost", []alert{{target(map[string]string{"severity": "critical", "topic": "events"})}}},
		{eval, "KmigrateLagHigh", []alert{{map[string]string{"severity": "warning", "instance": "live"}}}},
		{eval, "KmigrateNotFollowing", []alert{{target(map[string]string{"severity": "warning", "phase": "catching-up"})}}},
		{eval, "KmigrateGroupNotInSync", []alert{{target(map[string]string{"severity": "warning", "group": "billing"})}}},
		{eval, "KmigrateVerifyFailed", []alert{{target(map[string]string{"severity": "critical"})}}},
		// Before the loss, the loss alert is quiet.
		{"90m", "KmigrateSourceRecordsLost", []alert{}},
	}
	if len(firing)-1 != len(names) {
		t.Fatalf("the fault scenario covers %d alerts, the rules have %d: give each a fault", len(firing)-1, len(names))
	}
	tests := map[string]any{
		"rule_files":          []string{"rules.yml"},
		"evaluation_interval": "1m",
		"tests": []map[string]any{
			{"name": "a healthy live run fires nothing", "interval": "1m", "input_series": series(healthy), "alert_rule_test": quiet},
			{"name": "each fault fires its alert", "interval": "1m", "input_series": series(faulty), "alert_rule_test": firing},
		},
	}
	tb, err := yaml.Marshal(tests)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tests.yml")
	if err := os.WriteFile(path, tb, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules over the live scrape: %v\n%s", err, out)
	}
	t.Logf("promtool test rules over %d live series: %s", len(live), strings.TrimSpace(string(out)))
}

// findPromtool returns the path of promtool on $PATH or in $GOPATH/bin, or "".
func findPromtool() string {
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "promtool")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}
