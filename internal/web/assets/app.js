// kmigrate dashboard: polls /api/status every second and renders it. Read-only;
// every value is written with textContent, never as HTML.
"use strict";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

function int(n) {
  if (n === null || n === undefined) return "–";
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

// bytes prints a size in IEC binary units, as every kmigrate report does
// (package units): 1 KiB = 1024 B.
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + units[i];
}

function dur(s) {
  if (s === null || s === undefined) return "–";
  if (s < 10) return s.toFixed(1) + " s";
  s = Math.round(s);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  const h = Math.floor(s / 3600);
  if (h < 48) return h + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}

function pct(r) { return (r * 100).toFixed(1) + "%"; }

function clock(t) {
  const d = new Date(t);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false });
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function badge(status) { return el("span", status, "badge s-" + status); }

function setText(id, v) {
  const e = $(id);
  if (e.textContent !== v) e.textContent = v;
}

function miniBar(ratio) {
  const wrap = el("span", null, "mini");
  const fill = el("div");
  fill.style.width = Math.max(0, Math.min(100, ratio * 100)) + "%";
  wrap.appendChild(fill);
  return wrap;
}

function renderOverview(s) {
  const o = s.overview;
  setText("migration", s.migration);
  const phase = $("phase");
  phase.textContent = s.phase;
  phase.className = "badge s-" + s.phase;
  const ready = $("ready");
  ready.textContent = s.ready ? "ready" : "not ready";
  ready.className = "badge s-" + (s.ready ? "ready" : "not-ready");
  ready.title = s.ready_reason || "";

  setText("baseline-percent", pct(o.baseline_progress));
  $("baseline-bar").style.width = Math.min(100, o.baseline_progress * 100) + "%";
  setText("baseline-copied", int(o.baseline_copied));
  setText("baseline-records", int(o.baseline_records));
  setText("baseline-note", o.baseline_known ? "" : "(baseline not known yet: against the current source end)");
  setText("lag-records", int(o.lag_records));
  setText("lag-seconds", dur(o.lag_seconds));
  setText("rate", o.records_per_second === null ? "–" : int(o.records_per_second));
  setText("bytes-rate", o.bytes_per_second === null ? "–" : bytes(o.bytes_per_second) + "/s");
  setText("source-rate", o.source_records_per_second === null ? "–" : int(o.source_records_per_second));
  setText("eta", o.eta_seconds === null ? "–" : (o.eta_seconds === 0 ? "caught up" : dur(o.eta_seconds)));
  setText("copied-records", int(o.copied_records));
  setText("copied-bytes", bytes(o.copied_bytes));
  $("copied-bytes").title = int(o.copied_bytes) + " bytes";
  setText("partitions", int(o.partitions));
  setText("topics-count", int(o.topics));
  setText("failed-partitions", int(o.failed_partitions));
  setText("map-runs", int(o.offset_map_runs));
  setText("lost-records", int(o.lost_records));
  $("lost-records").classList.toggle("alert", o.lost_records > 0);
  $("partitions").classList.toggle("alert", o.failed_partitions > 0);
}

function renderErrors(s) {
  const ul = $("errors");
  ul.replaceChildren();
  for (const e of s.errors) {
    ul.appendChild(el("li", e.topic + "[" + e.partition + "]: " + e.error));
  }
  if (s.groups) {
    for (const e of s.groups.errors) ul.appendChild(el("li", "groups: " + e));
  }
  $("errors-panel").hidden = ul.children.length === 0;
}

function renderTopics(s) {
  const body = $("topics").tBodies[0];
  body.replaceChildren();
  for (const t of s.topics) {
    const tr = el("tr");
    tr.dataset.topic = t.topic;
    tr.appendChild(el("td", t.topic, "t-topic"));
    tr.appendChild(el("td", t.target_topic, "t-target"));
    tr.appendChild(el("td", int(t.partitions), "num t-partitions"));
    tr.appendChild(el("td", int(t.copied_records), "num t-copied"));
    tr.appendChild(el("td", int(t.lag_records), "num t-lag"));
    tr.appendChild(el("td", t.lag_seconds.toFixed(1), "num t-lag-seconds"));
    tr.appendChild(el("td", int(t.offset_map_runs), "num t-runs"));
    tr.appendChild(el("td", int(t.lost_records), "num t-lost"));
    const prog = el("td", null, "t-progress");
    prog.appendChild(miniBar(t.baseline_progress));
    prog.appendChild(el("span", pct(t.baseline_progress)));
    tr.appendChild(prog);
    const st = el("td", null, "t-status");
    st.appendChild(badge(t.status));
    tr.appendChild(st);
    body.appendChild(tr);
  }
  $("topics-empty").hidden = s.topics.length > 0;
}

function renderGroups(s) {
  const g = s.groups;
  const body = $("groups").tBodies[0];
  body.replaceChildren();
  const chips = $("groups-counts");
  chips.replaceChildren();
  $("groups-empty").hidden = !!g;
  setText("groups-time", g ? "pass at " + clock(g.time) : "");
  if (!g) return;
  for (const k of Object.keys(g.counts).sort()) {
    const c = badge(k);
    c.textContent = k + " " + int(g.counts[k]);
    c.dataset.status = k;
    c.dataset.count = g.counts[k];
    chips.appendChild(c);
  }
  for (const r of g.rows) {
    const tr = el("tr");
    tr.dataset.group = r.group;
    tr.appendChild(el("td", r.group, "g-group"));
    tr.appendChild(el("td", int(r.partitions), "num g-partitions"));
    tr.appendChild(el("td", int(r.source_lag), "num g-source-lag"));
    tr.appendChild(el("td", int(r.target_lag), "num g-target-lag"));
    const st = el("td", null, "g-status");
    st.appendChild(badge(r.status));
    if (r.reason) st.appendChild(el("span", " " + r.reason, "muted"));
    tr.appendChild(st);
    body.appendChild(tr);
  }
}

function renderVerify(s) {
  const v = s.verify;
  const res = $("verify-result");
  const ul = $("verify-checks");
  ul.replaceChildren();
  if (!v) {
    res.textContent = "none yet";
    res.className = "result";
    setText("verify-time", "");
    return;
  }
  res.textContent = (v.pass ? "PASS" : "FAIL") + " · " + v.mode;
  res.className = "result " + (v.pass ? "pass" : "fail");
  setText("verify-time", "at " + clock(v.time) + " in " + dur(v.seconds));
  for (const c of v.checks) {
    const li = el("li");
    li.dataset.check = c.name;
    li.appendChild(badge(c.pass ? "pass" : "fail"));
    li.appendChild(el("span", " " + c.name + " "));
    li.appendChild(el("span", int(c.checked - c.failed) + "/" + int(c.checked) + " " + c.unit + " · " + c.summary, "detail"));
    for (const f of c.failures || []) li.appendChild(el("div", f, "detail"));
    ul.appendChild(li);
  }
}

function renderEvents(s) {
  const ul = $("events");
  ul.replaceChildren();
  for (const e of s.events) {
    const li = el("li");
    li.appendChild(el("span", clock(e.time), "time"));
    li.appendChild(el("span", e.level, "lvl lvl-" + e.level));
    const msg = el("span", null, "msg");
    if (e.topic) msg.appendChild(el("span", e.topic + " ", "topic"));
    msg.appendChild(document.createTextNode(e.message));
    li.appendChild(msg);
    ul.appendChild(li);
  }
  $("events-empty").hidden = s.events.length > 0;
}

function render(s) {
  renderOverview(s);
  renderErrors(s);
  renderTopics(s);
  renderGroups(s);
  renderVerify(s);
  renderEvents(s);
  document.title = "kmigrate · " + s.migration + " · " + s.phase;
}

async function poll() {
  try {
    const resp = await fetch("api/status", { cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const s = await resp.json();
    render(s);
    document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
    document.body.dataset.statusTime = s.time;
    $("live-dot").className = "dot on";
    setText("updated", "updated " + clock(s.time));
  } catch (err) {
    $("live-dot").className = "dot off";
    setText("updated", "disconnected (" + err.message + "), retrying");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
