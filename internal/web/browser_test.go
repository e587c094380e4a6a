package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// chromiumPath finds Debian's Chromium. The test installs nothing: tools/test
// does (apt-get install chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KMIGRATE_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium not found (looked for /usr/bin/chromium, /usr/bin/chromium-browser and chromium in PATH): " +
		"the dashboard test needs Debian's headless Chromium; install it with `apt-get install chromium` " +
		"(./tools/test does) or point KMIGRATE_CHROMIUM at a Chromium binary")
	return ""
}

// artifactDir is where the test keeps its screenshot: $KMIGRATE_TEST_ARTIFACTS,
// else test-artifacts/ at the module root (ignored by git).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KMIGRATE_TEST_ARTIFACTS")
	if dir == "" {
		root, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				root = t.TempDir()
				break
			}
			root = parent
		}
		dir = filepath.Join(root, "test-artifacts")
	}
	dir = filepath.Join(dir, "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// page is what the test reads from the rendered page.
type page struct {
	Updates        int                 `json:"updates"`
	Marker         string              `json:"marker"`
	Migration      string              `json:"migration"`
	Phase          string              `json:"phase"`
	Ready          string              `json:"ready"`
	BaselinePct    string              `json:"baselinePct"`
	BaselineCopied string              `json:"baselineCopied"`
	BaselineTotal  string              `json:"baselineTotal"`
	Lag            string              `json:"lag"`
	Copied         string              `json:"copied"`
	Partitions     string              `json:"partitions"`
	Failed         string              `json:"failed"`
	Lost           string              `json:"lost"`
	Runs           string              `json:"runs"`
	Topics         []map[string]string `json:"topics"`
	Groups         []map[string]string `json:"groups"`
	GroupCounts    map[string]string   `json:"groupCounts"`
	Verify         string              `json:"verify"`
	Checks         []string            `json:"checks"`
	Events         []string            `json:"events"`
	Errors         []string            `json:"errors"`
}

const readPage = `(() => {
  const t = (id) => document.getElementById(id).textContent;
  const rows = (sel, cells) => [...document.querySelectorAll(sel)].map(tr => {
    const o = {};
    for (const c of cells) { const e = tr.querySelector("." + c); o[c] = e ? e.textContent : null; }
    return o;
  });
  const counts = {};
  for (const c of document.querySelectorAll("#groups-counts .badge")) counts[c.dataset.status] = c.dataset.count;
  return {
    updates: Number(document.body.dataset.updates),
    marker: String(window.kmigrateTestMarker || ""),
    migration: t("migration"), phase: t("phase"), ready: t("ready"),
    baselinePct: t("baseline-percent"), baselineCopied: t("baseline-copied"), baselineTotal: t("baseline-records"),
    lag: t("lag-records"), copied: t("copied-records"), partitions: t("partitions"),
    failed: t("failed-partitions"), lost: t("lost-records"), runs: t("map-runs"),
    topics: rows("#topics tbody tr", ["t-topic", "t-target", "t-partitions", "t-copied", "t-lag", "t-runs", "t-lost", "t-status"]),
    groups: rows("#groups tbody tr", ["g-group", "g-partitions", "g-source-lag", "g-target-lag", "g-status"]),
    groupCounts: counts,
    verify: t("verify-result"),
    checks: [...document.querySelectorAll("#verify-checks li")].map(li => li.dataset.check + ":" + li.querySelector(".badge").textContent),
    events: [...document.querySelectorAll("#events li .msg")].map(e => e.textContent),
    errors: [...document.querySelectorAll("#errors li")].map(e => e.textContent),
  };
})()`

// num renders n as the page does: thousands separated by commas.
func num(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fetchStatus(t *testing.T, base string) *Status {
	t.Helper()
	resp, err := http.Get(base + "api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// compare checks that the page shows the numbers of the JSON API.
func compare(t *testing.T, p page, st *Status) {
	t.Helper()
	ov := st.Overview
	eq := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("page %s = %q, API says %q", what, got, want)
		}
	}
	eq("migration", p.Migration, st.Migration)
	eq("phase", p.Phase, string(st.Phase))
	eq("ready", p.Ready, map[bool]string{true: "ready", false: "not ready"}[st.Ready])
	eq("baseline percent", p.BaselinePct, fmt.Sprintf("%.1f%%", ov.BaselineProgress*100))
	eq("baseline copied", p.BaselineCopied, num(ov.BaselineCopied))
	eq("baseline records", p.BaselineTotal, num(ov.BaselineRecords))
	eq("lag", p.Lag, num(ov.LagRecords))
	eq("copied", p.Copied, num(ov.CopiedRecords))
	eq("partitions", p.Partitions, num(int64(ov.Partitions)))
	eq("failed partitions", p.Failed, num(int64(ov.FailedPartitions)))
	eq("lost", p.Lost, num(ov.LostRecords))
	eq("map runs", p.Runs, num(int64(ov.MapRuns)))
	if len(p.Topics) != len(st.Topics) {
		t.Fatalf("page shows %d topics, API %d", len(p.Topics), len(st.Topics))
	}
	for i, want := range st.Topics {
		got := p.Topics[i]
		eq("topic", got["t-topic"], want.Topic)
		eq(want.Topic+" target", got["t-target"], want.TargetTopic)
		eq(want.Topic+" partitions", got["t-partitions"], num(int64(want.Partitions)))
		eq(want.Topic+" copied", got["t-copied"], num(want.CopiedRecords))
		eq(want.Topic+" lag", got["t-lag"], num(want.LagRecords))
		eq(want.Topic+" runs", got["t-runs"], num(int64(want.MapRuns)))
		eq(want.Topic+" lost", got["t-lost"], num(want.LostRecords))
		eq(want.Topic+" phase", got["t-status"], string(want.Phase))
	}
	if st.Groups == nil {
		if len(p.Groups) != 0 {
			t.Errorf("page shows %d groups, API none", len(p.Groups))
		}
	} else {
		if len(p.Groups) != len(st.Groups.Rows) {
			t.Fatalf("page shows %d groups, API %d", len(p.Groups), len(st.Groups.Rows))
		}
		for i, want := range st.Groups.Rows {
			got := p.Groups[i]
			eq("group", got["g-group"], want.Group)
			eq(want.Group+" partitions", got["g-partitions"], num(int64(want.Partitions)))
			eq(want.Group+" source lag", got["g-source-lag"], num(want.SourceLag))
			eq(want.Group+" target lag", got["g-target-lag"], num(want.TargetLag))
			if !strings.HasPrefix(got["g-status"], string(want.Status)) {
				t.Errorf("page %s status %q, API %q", want.Group, got["g-status"], want.Status)
			}
		}
		for s, n := range st.Groups.Counts {
			eq("group count "+string(s), p.GroupCounts[string(s)], fmt.Sprint(n))
		}
	}
	if st.Verify == nil {
		eq("verify", p.Verify, "none in this process: kmigrate verify runs on its own and answers with its exit status")
	} else {
		eq("verify", p.Verify, map[bool]string{true: "PASS", false: "FAIL"}[st.Verify.Pass]+" · "+st.Verify.Mode)
		var checks []string
		for _, c := range st.Verify.Checks {
			checks = append(checks, c.Name+":"+map[bool]string{true: "pass", false: "fail"}[c.Pass])
		}
		eq("verify checks", strings.Join(p.Checks, ","), strings.Join(checks, ","))
	}
	if len(p.Events) != len(st.Events) {
		t.Fatalf("page shows %d events, API %d", len(p.Events), len(st.Events))
	}
	for i, e := range st.Events {
		want := e.Message
		if e.Topic != "" {
			want = e.Topic + " " + e.Message
		}
		eq(fmt.Sprintf("event %d", i), p.Events[i], want)
	}
	if len(p.Errors) != len(st.Errors)+len(groupErrors(st)) {
		t.Errorf("page shows errors %q; API has %d partition errors and %d group errors", p.Errors, len(st.Errors), len(groupErrors(st)))
	}
}

func groupErrors(st *Status) []string {
	if st.Groups == nil {
		return nil
	}
	return st.Groups.Errors
}

// TestDashboardInBrowser loads the dashboard in headless Chromium: the page
// renders the API's numbers, follows a change without a reload, and leaves a
// screenshot in test-artifacts/web/.
func TestDashboardInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	src := &fakeSource{snap: demoSnapshot()}
	src.update(func(s *Snapshot) { s.Verify = nil })
	srv := New(Options{Source: src, ReadyMaxLag: 1000, SampleInterval: 200 * time.Millisecond})
	ln := listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String() + "/"

	var chromeOut kafkatest.SyncBuffer
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
		chromedp.CombinedOutput(&chromeOut),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	defer func() {
		if t.Failed() {
			t.Logf("chromium output:\n%s", chromeOut.String())
		}
	}()

	// waitPage polls the page until cond holds.
	waitPage := func(what string, cond func(page) bool) page {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			p, err := chromedp.Run(bctx, chromedp.Evaluate[page](readPage))
			if err != nil {
				t.Fatalf("read the page: %v", err)
			}
			if cond(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s; last read %+v", what, p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	start := time.Now()
	if err := chromedp.Do(bctx, chromedp.Navigate(base), chromedp.WaitVisible("#topics")); err != nil {
		t.Fatalf("load the dashboard in chromium (%s): %v", chromium, err)
	}
	t.Logf("page loaded in %s", time.Since(start).Round(time.Millisecond))
	p := waitPage("a first update", func(p page) bool { return p.Updates >= 1 })
	compare(t, p, fetchStatus(t, base))
	if p.Phase != string(status.Failed) || len(p.Errors) != 2 {
		t.Errorf("phase %q and errors %q: the failed partition and group error are not shown", p.Phase, p.Errors)
	}

	// Mark the page: a reload would lose the mark.
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`window.kmigrateTestMarker = "same page"`)); err != nil {
		t.Fatal(err)
	}

	// The migration moves on: the failure is gone, more is copied, a group
	// caught up, a verification ran, an event came.
	src.update(func(s *Snapshot) {
		s.Partitions = s.Partitions[:2]
		s.Partitions[0].SrcNext, s.Partitions[0].Lag, s.Partitions[0].Copied, s.Partitions[0].TgtNext = 650, 50, 550, 550
		s.Groups = &groups.Report{Time: t0.Add(time.Minute), Groups: 1, Rows: []groups.Row{
			{Group: "billing", Topic: "orders", Partition: 0, Status: groups.InSync, SourceLag: 2, TargetLag: 2},
			{Group: "billing", Topic: "orders", Partition: 1, Status: groups.InSync, SourceLag: 3, TargetLag: 3},
		}}
		s.Verify = &verify.Report{Mode: verify.ModeFull, Started: t0.Add(time.Minute), Seconds: 3, Pass: true, Checks: []*verify.Check{
			{Name: verify.CheckCounts, Pass: true, Checked: 2, Unit: "partitions", Summary: "all agree"},
			{Name: verify.CheckFull, Pass: true, Checked: 2, Unit: "partitions", Summary: "1,550 records, SHA-256 identical"},
		}}
		s.Events = append(s.Events, replicate.Event{Time: t0.Add(time.Minute), Level: "warn", Topic: "orders", Message: "a live update"})
	})
	p = waitPage("the update", func(p page) bool { return p.Copied == num(1550) && strings.HasPrefix(p.Verify, "PASS") })
	if p.Marker != "same page" {
		t.Errorf("the page reloaded (marker %q): the update must come without a reload", p.Marker)
	}
	if p.Phase != string(status.Following) || len(p.Errors) != 0 || p.Events[0] != "orders a live update" {
		t.Errorf("after the update: phase %q, errors %q, first event %q", p.Phase, p.Errors, p.Events[0])
	}
	compare(t, p, fetchStatus(t, base))

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(t), "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(shot) < 10000 {
		t.Errorf("screenshot is only %d bytes", len(shot))
	}
	t.Logf("screenshot: %s", path)
}
