package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
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
	Clusters       []string            `json:"clusters"`
	LagPoints      int                 `json:"lagPoints"`
	LagLines       int                 `json:"lagLines"`
	RateLines      int                 `json:"rateLines"`
	Drill          map[string][]string `json:"drill"`
	GroupsEmpty    string              `json:"groupsEmpty"`
	Uptime         string              `json:"uptime"`
	RunNote        string              `json:"runNote"`
	RunTitle       string              `json:"runTitle"`
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
    topics: rows("#topics > tbody > tr.topic", ["t-topic", "t-target", "t-partitions", "t-copied", "t-lag", "t-runs", "t-lost", "t-status"]),
    groups: rows("#groups tbody tr", ["g-group", "g-partitions", "g-source-lag", "g-target-lag", "g-status"]),
    groupCounts: counts,
    verify: t("verify-result"),
    checks: [...document.querySelectorAll("#verify-checks li")].map(li => li.dataset.check + ":" + li.querySelector(".badge").textContent),
    events: [...document.querySelectorAll("#events li .msg")].map(e => e.textContent),
    errors: [...document.querySelectorAll("#errors li")].map(e => e.textContent),
    clusters: [...document.querySelectorAll(".cluster[data-role]")].map(c => c.dataset.role + " " + c.querySelector(".cid").textContent + " | " + c.querySelector(".sub").textContent),
    lagPoints: Number(document.getElementById("lag-chart").dataset.points || 0),
    lagLines: document.querySelectorAll("#lag-chart polyline").length,
    rateLines: document.querySelectorAll("#rate-chart polyline").length,
    drill: Object.fromEntries([...document.querySelectorAll("#topics tr.parts")].map(tr => [tr.dataset.partsOf,
      [...tr.querySelectorAll("tr.part")].map(r => r.dataset.partition + ":" + r.querySelector(".p-phase .badge").textContent)])),
    groupsEmpty: document.getElementById("groups-empty").hidden ? "" : t("groups-empty"),
    uptime: t("uptime"),
    runNote: t("run-note"), runTitle: document.getElementById("run-note").title,
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
	src.update(func(s *Snapshot) { s.Verify, s.ProcessStarted = nil, time.Now().Add(-90*time.Minute) })
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

	// The clusters' identity, and charts drawn from the process's history.
	p = waitPage("charts with a few points", func(p page) bool { return p.LagPoints >= 3 && p.LagLines == 1 && p.RateLines == 2 })
	if len(p.Clusters) != 2 || !strings.HasPrefix(p.Clusters[0], "source aws-msk-7Qx | Kafka 3.9 · 3 brokers · b-1.msk:9098") ||
		!strings.HasPrefix(p.Clusters[1], "target gcp-kafka-K2f | Kafka 4.1") || !strings.HasPrefix(p.Uptime, "up 1h 30m") {
		t.Errorf("clusters %q, uptime %q", p.Clusters, p.Uptime)
	}

	// Drill down into a topic: one row per partition, with the API's phases.
	if err := chromedp.Do(bctx, chromedp.Click(`#topics tr.topic[data-topic="orders"] td.t-topic`)); err != nil {
		t.Fatal(err)
	}
	p = waitPage("the partitions of orders", func(p page) bool { return len(p.Drill["orders"]) == 2 })
	st := fetchStatus(t, base)
	for i, want := range []string{"0:" + string(st.Partitions[0].Phase), "1:" + string(st.Partitions[1].Phase)} {
		if p.Drill["orders"][i] != want {
			t.Errorf("drill-down row %d = %q, want %q", i, p.Drill["orders"][i], want)
		}
	}

	// Two window sizes, a desktop and a laptop: no horizontal scrolling, the
	// topics table inside its panel, the charts drawn.
	for _, size := range []struct{ w, h int64 }{{1400, 1100}, {1280, 720}} {
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(size.w, size.h)); err != nil {
			t.Fatal(err)
		}
		before := p.Updates
		p = waitPage("a render at the new size", func(p page) bool { return p.Updates > before+1 })
		type fitting struct {
			Overflow    float64 `json:"overflow"`
			TableRight  float64 `json:"tableRight"`
			PanelRight  float64 `json:"panelRight"`
			InnerWidth  float64 `json:"innerWidth"`
			ChartHeight float64 `json:"chartHeight"`
		}
		fit, err := chromedp.Run(bctx, chromedp.Evaluate[fitting](`(() => {
		  const tb = document.getElementById("topics").getBoundingClientRect();
		  const pn = document.getElementById("topics").closest(".panel").getBoundingClientRect();
		  return { overflow: document.documentElement.scrollWidth - window.innerWidth, tableRight: tb.right, panelRight: pn.right,
		    innerWidth: window.innerWidth, chartHeight: document.getElementById("lag-chart").getBoundingClientRect().height };
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		if fit.InnerWidth != float64(size.w) || fit.Overflow > 0 || fit.TableRight > fit.PanelRight+0.5 || fit.ChartHeight < 100 {
			t.Errorf("at %dx%d: %+v; want no horizontal overflow and the topics table inside its panel", size.w, size.h, fit)
		}
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(artifactDir(t), fmt.Sprintf("dashboard-%dx%d.png", size.w, size.h))
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatalf("decode the screenshot: %v", err)
		}
		// The page is as wide as the window, less a vertical scroll bar.
		if w := img.Bounds().Dx(); w > int(size.w) || w < int(size.w)-20 {
			t.Errorf("at %dx%d the page is %d pixels wide: it does not fit the window", size.w, size.h, w)
		}
		chart, err := chromedp.Run(bctx, chromedp.Screenshot("#lag-chart"))
		if err != nil {
			t.Fatalf("screenshot of the lag chart: %v", err)
		}
		if n := colours(t, chart); n < 3 {
			t.Errorf("at %dx%d the lag chart has %d colours: nothing drawn", size.w, size.h, n)
		}
		t.Logf("screenshot: %s", path)
	}

	// Group sync switched off says so.
	src.update(func(s *Snapshot) { s.GroupSync, s.Groups = false, nil })
	waitPage("group sync shown disabled", func(p page) bool { return strings.Contains(p.GroupsEmpty, "Group sync is disabled") })

	// A shared migration: the processes, the leader, and the partitions
	// another process copies, from the state.
	before := fetchStatus(t, base).Overview.Partitions
	src.update(func(s *Snapshot) {
		s.Run = &status.Run{Group: "kmigrate.aws-to-gcp.writer", Members: 2, Instances: []status.Instance{
			{Host: "kmigrate-0", PID: 1, Leader: true, Partitions: []string{"orders/0", "orders/1"}},
			{Host: "kmigrate-1", PID: 1, Partitions: []string{"orders/2"}},
		}}
		s.Others = []status.Observation{{Topic: "orders", Partition: 2, TargetTopic: "orders", Started: true, SourceEnd: 10, SourceEndKnown: true, CopiedUpTo: 10, TargetEnd: 10, Copied: 10}}
	})
	p = waitPage("the shared migration", func(p page) bool { return strings.HasPrefix(p.RunNote, "shared by 2 processes") })
	if p.RunNote != "shared by 2 processes · leader kmigrate-0 pid 1 · group sync disabled" || p.RunTitle != "kmigrate-0 pid 1 (leader): 2 partitions\nkmigrate-1 pid 1: 1 partitions" {
		t.Errorf("run note %q, title %q", p.RunNote, p.RunTitle)
	}
	if st := fetchStatus(t, base); st.Overview.Partitions != before+1 || len(st.Run.Instances) != 2 || st.Run.Self {
		t.Errorf("shared status: %d partitions (before %d), run %+v", st.Overview.Partitions, before, st.Run)
	}
}

// colours counts the distinct colours of a PNG.
func colours(t *testing.T, b []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[color.RGBA]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(cr >> 8), uint8(cg >> 8), uint8(cb >> 8), uint8(ca >> 8)}] = true
		}
	}
	return len(seen)
}
