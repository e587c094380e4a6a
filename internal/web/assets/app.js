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

// expanded holds the topics whose partitions are shown.
const expanded = new Set();

function renderTopics(s) {
  const body = $("topics").tBodies[0];
  body.replaceChildren();
  const parts = s.partitions || [];
  for (const t of s.topics) {
    const tr = el("tr", null, expanded.has(t.topic) ? "topic open" : "topic");
    tr.dataset.topic = t.topic;
    tr.appendChild(el("td", t.topic, "t-topic"));
    tr.appendChild(el("td", t.target_topic, "t-target opt"));
    tr.appendChild(el("td", int(t.partitions), "num t-partitions"));
    tr.appendChild(el("td", int(t.copied_records), "num t-copied"));
    tr.appendChild(el("td", int(t.lag_records), "num t-lag"));
    tr.appendChild(el("td", t.lag_seconds.toFixed(1), "num t-lag-seconds"));
    tr.appendChild(el("td", int(t.offset_map_runs), "num t-runs opt"));
    tr.appendChild(el("td", int(t.lost_records), "num t-lost opt"));
    const prog = el("td", null, "t-progress");
    prog.appendChild(miniBar(t.baseline_progress));
    prog.appendChild(el("span", pct(t.baseline_progress)));
    tr.appendChild(prog);
    const st = el("td", null, "t-status");
    st.appendChild(badge(t.phase));
    tr.appendChild(st);
    tr.addEventListener("click", () => {
      if (expanded.has(t.topic)) expanded.delete(t.topic); else expanded.add(t.topic);
      renderTopics(s);
    });
    body.appendChild(tr);
    if (expanded.has(t.topic)) body.appendChild(partitionRows(t.topic, parts.filter((p) => p.topic === t.topic)));
  }
  $("topics-empty").hidden = s.topics.length > 0;
}

// partitionRows is the drill-down of one topic: a row per partition.
function partitionRows(topic, parts) {
  const tr = el("tr", null, "parts");
  tr.dataset.partsOf = topic;
  const td = el("td");
  td.colSpan = 10;
  const table = el("table", null, "parts");
  const head = el("tr");
  for (const h of ["partition", "phase", "source end", "copied up to", "target end", "lag", "lag s", "rate/s", "ETA", "baseline"]) head.appendChild(el("th", h));
  table.appendChild(head);
  for (const p of parts) {
    const r = el("tr", null, "part");
    r.dataset.partition = p.partition;
    r.appendChild(el("td", String(p.partition), "num"));
    const ph = el("td", null, "p-phase");
    ph.appendChild(badge(p.phase));
    if (p.error) ph.appendChild(el("span", " " + p.error, "alert"));
    r.appendChild(ph);
    r.appendChild(el("td", int(p.source_end), "num"));
    r.appendChild(el("td", int(p.copied_up_to), "num"));
    r.appendChild(el("td", int(p.target_end), "num"));
    r.appendChild(el("td", int(p.lag_records), "num p-lag"));
    r.appendChild(el("td", p.lag_seconds.toFixed(1), "num"));
    r.appendChild(el("td", int(p.records_per_second), "num"));
    r.appendChild(el("td", p.eta_seconds === null ? "–" : dur(p.eta_seconds), "num"));
    r.appendChild(el("td", pct(p.baseline_progress), "num"));
    table.appendChild(r);
  }
  td.appendChild(table);
  tr.appendChild(td);
  return tr;
}

const SVG = "http://www.w3.org/2000/svg";

// drawChart draws series (arrays of numbers or nulls, one per history point)
// as polylines scaled to the largest value, with that value as a label.
function drawChart(id, series, classes) {
  const svg = $(id);
  svg.replaceChildren();
  const W = 600, H = 140, pad = 14;
  let top = 0, n = 0;
  for (const ser of series) { n = Math.max(n, ser.length); for (const v of ser) if (v !== null) top = Math.max(top, v); }
  if (top <= 0) top = 1;
  series.forEach((ser, i) => {
    const pts = [];
    ser.forEach((v, j) => {
      if (v === null) return;
      const x = n <= 1 ? W : (j / (n - 1)) * W;
      const y = H - pad / 2 - (v / top) * (H - pad * 1.5);
      pts.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    if (pts.length === 0) return;
    if (pts.length === 1) pts.unshift("0," + pts[0].split(",")[1]);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("class", classes[i]);
    svg.appendChild(line);
  });
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", "4");
  label.setAttribute("y", "12");
  label.textContent = "max " + int(top);
  svg.appendChild(label);
  svg.dataset.points = String(n);
}

function renderCharts(s) {
  const h = s.history || [];
  drawChart("lag-chart", [h.map((p) => p.lag_records)], ["lag"]);
  drawChart("rate-chart", [h.map((p) => p.records_per_second), h.map((p) => p.source_records_per_second)], ["copy", "src"]);
}

function renderClusters(s) {
  for (const role of ["source", "target"]) {
    const box = document.querySelector('.cluster[data-role="' + role + '"]');
    const c = (s.clusters || []).find((x) => x.role === role);
    box.querySelector(".cid").textContent = c ? c.cluster_id : "–";
    box.querySelector(".sub").textContent = c ? (c.version ? "Kafka " + c.version.replace(/^v/, "") + " · " : "") + int(c.brokers) + " brokers · " + c.bootstrap.join(", ") : "not identified yet";
  }
  setText("uptime", s.uptime_seconds ? "up " + dur(s.uptime_seconds) : "–");
  setText("run-note", s.run && s.run.alive ? runText(s.run) + " · group sync " + (s.group_sync ? "on" : "disabled") : "run not alive");
  const ins = (s.run && s.run.instances) || [];
  $("run-note").title = ins.map((i) => i.host + " pid " + i.pid + (i.leader ? " (leader)" : "") + ": " + i.partitions.length + " partitions").join("\n");
}

// runText says who copies: this process, or the processes of a shared
// migration (replication.scale_out) and which one leads.
function runText(run) {
  const ins = run.instances || [];
  if (ins.length === 0) return "run alive";
  const lead = ins.find((i) => i.leader);
  return "shared by " + ins.length + " process" + (ins.length === 1 ? "" : "es") + (lead ? " · leader " + lead.host + " pid " + lead.pid : "");
}

function renderGroups(s) {
  const g = s.groups;
  const body = $("groups").tBodies[0];
  body.replaceChildren();
  const chips = $("groups-counts");
  chips.replaceChildren();
  $("groups-empty").hidden = !!g;
  setText("groups-empty", s.group_sync === false ? "Group sync is disabled (group_sync.enabled: false): no group is translated." : "No translation pass yet.");
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
    res.textContent = "none in this process: kmigrate verify runs on its own and answers with its exit status";
    res.className = "result";
    setText("verify-time", "");
    return;
  }
  res.textContent = (v.result || (v.pass ? "PASS" : "FAIL")) + " · " + v.mode;
  res.className = "result " + (v.result ? v.result.toLowerCase() : (v.pass ? "pass" : "fail"));
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
  renderClusters(s);
  renderOverview(s);
  renderCharts(s);
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
