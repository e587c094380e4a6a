package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// runResult holds every figure of one run.
type runResult struct {
	ceiling float64                  // target's own ingest, bytes/s
	copies  map[string]copyResult    // by tool name
	steady  map[string]latencyResult // by tool name
}

// report is everything the results file says.
type report struct {
	o                     *options
	command               string
	started, finished     time.Time
	runs                  []runResult
	failure               error // a run that failed; the file holds the runs before it
	kafkaVersion, java    string
	loadBefore, loadAfter string
	brokerConfig          string
	mm2Copy               string
	kmigrateConfig        string
	profile, profileNote  string
}

// metric is one row of the results table.
type metric struct {
	name    string
	format  string
	ceiling func(runResult) float64         // nil: no ceiling figure
	tool    func(runResult, string) float64 // NaN when the run has no figure
}

func copyMetric(name, format string, f func(copyResult) float64) metric {
	return metric{name: name, format: format, tool: func(rr runResult, t string) float64 {
		c, ok := rr.copies[t]
		if !ok {
			return math.NaN()
		}
		return f(c)
	}}
}

func steadyMetric(name, format string, f func(latencyResult) float64) metric {
	return metric{name: name, format: format, tool: func(rr runResult, t string) float64 {
		l, ok := rr.steady[t]
		if !ok {
			return math.NaN()
		}
		return f(l)
	}}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sections are the rows of the results table, by section.
func (rep *report) sections() []struct {
	title string
	rows  []metric
} {
	gb := func(c copyResult) float64 { return float64(c.bytes) / 1e9 }
	bulk := []metric{
		copyMetric("time to copy, s (start of the process → last record on the target)", "%.1f", func(c copyResult) float64 { return c.elapsed.Seconds() }),
		copyMetric("throughput, MB/s", "%.1f", func(c copyResult) float64 { return c.rate() / 1e6 }),
		copyMetric("throughput, records/s", "%.0f", func(c copyResult) float64 { return c.rate() / float64(rep.o.recordSize) }),
		copyMetric("throughput from the first copied record, MB/s (start-up left out)", "%.1f", func(c copyResult) float64 { return c.dataRate() / 1e6 }),
		copyMetric("start-up, s (start of the process → first record on the target)", "%.1f", func(c copyResult) float64 { return c.firstData.Seconds() }),
		copyMetric("CPU, s (user + system, children included)", "%.1f", func(c copyResult) float64 { return c.use.cpu.Seconds() }),
		copyMetric("CPU, s per GB", "%.1f", func(c copyResult) float64 { return c.use.cpu.Seconds() / gb(c) }),
		copyMetric("peak RSS, MiB (VmHWM)", "%.0f", func(c copyResult) float64 { return float64(c.use.peakRSS) / (1 << 20) }),
		copyMetric("both brokers' CPU during the copy, s", "%.1f", func(c copyResult) float64 { return c.brokerCPU.Seconds() }),
		copyMetric("records on the target beyond the source's (duplicates)", "%.0f", func(c copyResult) float64 { return float64(c.extra) }),
		copyMetric("other work on the host during the copy, cores (all cores' busy time − the tool, brokers and benchmark)", "%.2f", func(c copyResult) float64 { return c.others.Seconds() / c.elapsed.Seconds() }),
	}
	bulk[0].ceiling = func(rr runResult) float64 { return float64(rep.o.records()*int64(rep.o.recordSize)) / rr.ceiling }
	bulk[1].ceiling = func(rr runResult) float64 { return rr.ceiling / 1e6 }
	bulk[2].ceiling = func(rr runResult) float64 { return rr.ceiling / float64(rep.o.recordSize) }
	steady := []metric{
		steadyMetric("replication latency p50, ms (visible on the source → visible on the target)", "%.0f", func(l latencyResult) float64 { return ms(l.repP50) }),
		steadyMetric("replication latency p99, ms", "%.0f", func(l latencyResult) float64 { return ms(l.repP99) }),
		steadyMetric("replication latency max, ms", "%.0f", func(l latencyResult) float64 { return ms(l.repMax) }),
		steadyMetric("end-to-end latency p50, ms (create time → visible on the target)", "%.0f", func(l latencyResult) float64 { return ms(l.p50) }),
		steadyMetric("end-to-end latency p99, ms", "%.0f", func(l latencyResult) float64 { return ms(l.p99) }),
		steadyMetric("end-to-end latency max, ms", "%.0f", func(l latencyResult) float64 { return ms(l.max) }),
		{name: "floor on the source p50 / p99, ms (create time → visible on the source)"}, // tool nil: two figures in one cell
		steadyMetric("records measured on the target", "%.0f", func(l latencyResult) float64 { return float64(l.records) }),
		steadyMetric("records missing on the target at the end", "%.0f", func(l latencyResult) float64 { return float64(l.missing) }),
		steadyMetric("CPU of the tool, cores", "%.2f", func(l latencyResult) float64 { return l.cores() }),
		steadyMetric("both brokers' CPU, cores", "%.2f", func(l latencyResult) float64 { return l.brokerCPU.Seconds() / l.window.Seconds() }),
		steadyMetric("rate the producer achieved, MB/s", "%.1f", func(l latencyResult) float64 { return l.produced / 1e6 }),
	}
	group := []metric{
		copyMetric("records re-read when the group resumes on the target", "%.0f", func(c copyResult) float64 { return float64(c.group.reread) }),
		copyMetric("records skipped", "%.0f", func(c copyResult) float64 { return float64(c.group.skipped) }),
		copyMetric("partitions not translated", "%.0f", func(c copyResult) float64 { return float64(c.group.untranslated) }),
		copyMetric("partitions whose record at the exact position matches on both clusters", "%.0f", func(c copyResult) float64 { return float64(c.group.checked) }),
	}
	out := []struct {
		title string
		rows  []metric
	}{{"Backlog copy to a fresh target", bulk}}
	if rep.o.steady > 0 {
		out = append(out, struct {
			title string
			rows  []metric
		}{fmt.Sprintf("Steady state at %s/s", formatRate(rep.o.rate)), steady})
	}
	return append(out, struct {
		title string
		rows  []metric
	}{fmt.Sprintf("Group failover (%d partitions committed mid-topic)", rep.o.partitions), group})
}

func formatRate(b int64) string {
	if b%1e6 == 0 {
		return fmt.Sprintf("%d MB", b/1e6)
	}
	return formatBytes(b)
}

// values collects one figure over the runs.
func (rep *report) values(f func(runResult) float64) summary {
	v := make([]float64, len(rep.runs))
	for i, rr := range rep.runs {
		v[i] = f(rr)
	}
	return summarize(v)
}

func (rep *report) toolSummary(m metric, tool string) summary {
	return rep.values(func(rr runResult) float64 { return m.tool(rr, tool) })
}

// floorCell prints the source floor (p50 / p99) of a tool's steady state.
func (rep *report) floorCell(tool string) string {
	p50 := rep.values(func(rr runResult) float64 {
		if l, ok := rr.steady[tool]; ok {
			return ms(l.floorP50)
		}
		return math.NaN()
	})
	p99 := rep.values(func(rr runResult) float64 {
		if l, ok := rr.steady[tool]; ok {
			return ms(l.floorP99)
		}
		return math.NaN()
	})
	return p50.format("%.0f") + " / " + p99.format("%.0f")
}

// markdown renders the results file.
func (rep *report) markdown() string {
	var b strings.Builder
	o := rep.o
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# kmigrate vs MirrorMaker 2, side by side (%s)\n\n", rep.started.Format("2006-01-02"))
	p("    %s\n\n", rep.command)
	p("Data set: %s of %d-byte records (%d records; values of random upper-case letters from a fixed seed, so every run writes the same bytes), %d partitions, lz4, written by Apache Kafka's ProducerPerformance. ",
		formatBytes(o.size), o.recordSize, o.records(), o.partitions)
	p("Every figure is the median of %d run(s)", len(rep.runs))
	if len(rep.runs) > 1 {
		p(", with the spread (min–max) in brackets")
	}
	p(". MB = 10⁶ bytes of record values. Started %s, finished %s (%s).\n\n",
		rep.started.Format("15:04:05"), rep.finished.Format("15:04:05"), rep.finished.Sub(rep.started).Round(time.Second))
	if rep.o.note != "" {
		p("%s\n\n", rep.o.note)
	}
	if before := firstLoad(rep.loadBefore); before > 1.5 {
		p("**Busy machine.** Other work was running on this host when the benchmark started (1-minute load average %.1f on %d cores; it should be below 1.5). The load average during the benchmark also counts the benchmark's own threads, so the row \"other work on the host\" is the measure of interference: the CPU the rest of the host took during each copy. Figures are lower and noisier than on a quiet machine.\n\n",
			before, runtime.NumCPU())
	}
	if rep.failure != nil {
		p("**Incomplete:** a run failed, and only the runs before it are counted: `%s`\n\n", oneLine(rep.failure.Error()))
	}
	if o.quick {
		p("**Quick mode** (a smoke test of the harness): too small and too short to judge the tools by.\n\n")
	}

	p("## Results\n\n")
	p("| | ceiling (target's own ingest) | MirrorMaker 2 | kmigrate | kmigrate / MM2 | kmigrate / ceiling |\n")
	p("|---|---|---|---|---|---|\n")
	for _, sec := range rep.sections() {
		p("| **%s** | | | | | |\n", sec.title)
		for _, m := range sec.rows {
			if m.tool == nil { // the floor row
				p("| %s | | %s | %s | | |\n", m.name, rep.floorCell(toolMM2), rep.floorCell(toolKmigrate))
				continue
			}
			mm, km := rep.toolSummary(m, toolMM2), rep.toolSummary(m, toolKmigrate)
			ceilCell, kc := "", ""
			if m.ceiling != nil {
				c := rep.values(m.ceiling)
				ceilCell, kc = c.format(m.format), ratio(km, c)
			}
			p("| %s | %s | %s | %s | %s | %s |\n", m.name, ceilCell, mm.format(m.format), km.format(m.format), ratio(km, mm), kc)
		}
	}
	p("\n")
	rep.targets(&b)
	rep.perRun(&b)
	rep.machine(&b)
	rep.method(&b)
	rep.settings(&b)
	if rep.profile != "" || rep.profileNote != "" {
		p("## Where kmigrate spends its CPU\n\n")
		if rep.profileNote != "" {
			p("%s\n\n", rep.profileNote)
		}
		if rep.profile != "" {
			p("```\n%s\n```\n", strings.TrimRight(rep.profile, "\n"))
		}
	}
	return b.String()
}

// targets compares the medians with the goals kmigrate set itself.
func (rep *report) targets(b *strings.Builder) {
	sec := rep.sections()
	bulk := sec[0].rows
	get := func(m metric, tool string) float64 { return rep.toolSummary(m, tool).median }
	mbps := func(t string) float64 { return get(bulk[1], t) }
	cpuGB := func(t string) float64 { return get(bulk[6], t) }
	rss := func(t string) float64 { return get(bulk[7], t) }
	ceil := rep.values(bulk[1].ceiling).median
	type goal struct {
		name, measured string
		met            bool
		known          bool
	}
	var goals []goal
	add := func(name string, a, bv float64, measured string, met func(a, b float64) bool) {
		ok := !math.IsNaN(a) && !math.IsNaN(bv) && bv != 0
		g := goal{name: name, known: ok}
		if ok {
			g.measured = fmt.Sprintf(measured, a/bv)
			g.met = met(a, bv)
		}
		goals = append(goals, g)
	}
	add("throughput ≥ 1.5× MirrorMaker 2", mbps(toolKmigrate), mbps(toolMM2), "%.2f×", func(a, b float64) bool { return a >= 1.5*b })
	add("throughput ≥ 80% of the ceiling", mbps(toolKmigrate), ceil, "%.2f×", func(a, b float64) bool { return a >= 0.8*b })
	add("CPU s per GB ≤ ⅓ of MirrorMaker 2's", cpuGB(toolKmigrate), cpuGB(toolMM2), "%.2f×", func(a, b float64) bool { return a <= b/3 })
	add("peak RSS ≤ 1/10 of MirrorMaker 2's", rss(toolKmigrate), rss(toolMM2), "%.3f×", func(a, b float64) bool { return a <= b/10 })
	if rep.o.steady > 0 {
		p99 := sec[1].rows[1]
		add("p99 replication latency below MirrorMaker 2's", get(p99, toolKmigrate), get(p99, toolMM2), "%.2f×", func(a, b float64) bool { return a < b })
	}
	group := sec[len(sec)-1].rows
	re, sk := get(group[0], toolKmigrate), get(group[1], toolKmigrate)
	un := get(group[2], toolKmigrate)
	goals = append(goals, goal{name: "0 records re-read on group failover (and none skipped)", known: !math.IsNaN(re),
		measured: fmt.Sprintf("%.0f re-read, %.0f skipped, %.0f partitions untranslated", re, sk, un), met: re == 0 && sk == 0 && un == 0})
	fmt.Fprintf(b, "## kmigrate's targets\n\n| target | kmigrate (ratio of medians) | met |\n|---|---|---|\n")
	for _, g := range goals {
		if !g.known {
			fmt.Fprintf(b, "| %s | – | not measured |\n", g.name)
			continue
		}
		met := "no"
		if g.met {
			met = "yes"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", g.name, g.measured, met)
	}
	b.WriteString("\n")
}

// perRun lists the main figures of every run, in the order the tools ran.
func (rep *report) perRun(b *strings.Builder) {
	fmt.Fprintf(b, "## Every run\n\nThe order of the tools alternates between runs (odd runs: MirrorMaker 2 first).\n\n")
	fmt.Fprintf(b, "| run | ceiling MB/s | tool | copy s | MB/s | CPU s | peak RSS MiB | re-read | skipped | replication p50 / p99 / max ms |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for i, rr := range rep.runs {
		for _, t := range runOrder(i + 1) {
			c, ok := rr.copies[t]
			if !ok {
				continue
			}
			lat := "–"
			if l, ok := rr.steady[t]; ok {
				lat = fmt.Sprintf("%.0f / %.0f / %.0f", ms(l.repP50), ms(l.repP99), ms(l.repMax))
			}
			fmt.Fprintf(b, "| %d | %.1f | %s | %.1f | %.1f | %.1f | %.0f | %d | %d | %s |\n", i+1, rr.ceiling/1e6, t,
				c.elapsed.Seconds(), c.rate()/1e6, c.use.cpu.Seconds(), float64(c.use.peakRSS)/(1<<20), c.group.reread, c.group.skipped, lat)
		}
	}
	b.WriteString("\n")
}

// runOrder returns the tools in the order run n starts them.
func runOrder(n int) []string {
	if n%2 == 1 {
		return []string{toolMM2, toolKmigrate}
	}
	return []string{toolKmigrate, toolMM2}
}

func (rep *report) machine(b *strings.Builder) {
	fmt.Fprintf(b, "## Machine\n\n")
	fmt.Fprintf(b, "| | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPU | %s, %d logical cores |\n", cpuModel(), runtime.NumCPU())
	fmt.Fprintf(b, "| memory | %s |\n", memTotal())
	fmt.Fprintf(b, "| kernel | Linux %s |\n", readTrim("/proc/sys/kernel/osrelease"))
	fmt.Fprintf(b, "| load average (1, 5, 15 min) | before: %s; after: %s |\n", rep.loadBefore, rep.loadAfter)
	fmt.Fprintf(b, "| Apache Kafka | %s, two single-node clusters (combined broker and controller, KRaft), on this host, 127.0.0.1 |\n", rep.kafkaVersion)
	fmt.Fprintf(b, "| Java | %s |\n", rep.java)
	fmt.Fprintf(b, "| broker JVM | heap `%s`; flags `%s` (kafka-run-class.sh's, plus -XX:+PerfDisableSharedMem) |\n", rep.o.brokerHeap, brokerJVMOpts())
	fmt.Fprintf(b, "| MirrorMaker 2 JVM | heap `%s` (connect-mirror-maker.sh's); flags `%s` (kafka-run-class.sh's) |\n", rep.o.mm2Heap, stockJVMOpts)
	fmt.Fprintf(b, "| ProducerPerformance JVM | heap `%s` (kafka-producer-perf-test.sh's); same flags |\n", producerPerfHeap)
	fmt.Fprintf(b, "| Go | %s (benchmark and kmigrate) |\n\n", runtime.Version())
	fmt.Fprintf(b, "Everything shares the host's cores: both brokers, the tool under test, the producer and the benchmark's own consumers.\n\n")
}

// brokerJVMOpts are the flags the test harness starts brokers with.
func brokerJVMOpts() string {
	if v := os.Getenv("KAFKA_JVM_OPTS"); v != "" {
		return v
	}
	return "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -XX:+PerfDisableSharedMem -Djava.awt.headless=true"
}

func (rep *report) method(b *strings.Builder) {
	o := rep.o
	b.WriteString("## How each figure is measured\n\n")
	fmt.Fprintf(b, `- **Same data, same clusters.** The data set is written once to the source topic %q. Before each tool, every topic and group on the target is deleted (the tools' internal topics too) and what a tool left on the source (MirrorMaker 2's offset-syncs topic, kmigrate's writer group) is deleted, so each tool copies the same source to an empty target. Both tools copy to the same topic name.
- **Ceiling.** ProducerPerformance writes the same records with the same settings (acks=all, lz4) to a fresh topic of %d partitions on the target: the target's own ingest rate, measured by the tool itself (its start-up left out). On a small host it is bounded by the producer's own CPU as much as by the broker (ProducerPerformance draws every byte of every value from a random generator), so a replicator, which only moves bytes, can exceed it.
- **Copy time.** From the start of the tool's process to the first poll (every %s) that finds every target partition at the source's end offset; it includes the tool's start-up, which the row "from the first copied record" leaves out. kmigrate runs `+"`run --until-caught-up`"+`; MirrorMaker 2 is stopped with SIGTERM after the group measurement.
- **CPU and memory.** utime + stime + cutime + cstime of the tool's process from /proc/<pid>/stat, and VmHWM from /proc/<pid>/status, read when the copy completes (from the kernel's accounting of the reaped process if it had already exited). The JVM's start-up counts, as does kmigrate's. MirrorMaker 2's peak RSS follows its heap setting, the -Xmx2g of connect-mirror-maker.sh; kmigrate's follows its fetch and produce buffers.
- **Steady state.** A fresh topic of %d partitions; the tool is started with each tool's latency settings, one probe record per partition proves it copies; then ProducerPerformance writes %s/s (%d records/s) for %s + %s. Only records created after the %s warm-up count. Consumers in the benchmark follow the topic on both clusters and note when they receive each record. The target copy has the source's offsets (fresh topics, no gaps), so records pair up by partition and offset: **replication latency** = when the target consumer received a record − when the source consumer received it, what the tool adds. **End-to-end latency** = when the target consumer received it − its timestamp (its create time, set by the producer on this host, preserved by both tools); it also holds the producer's batching, acknowledgement and queueing, shown on its own as the floor (the same measure on the source), which grows when the host is short of CPU. Both consumers fetch continuously (fetch.min.bytes 1), so their own delay is a few milliseconds and the same for both tools.
- **Group failover.** Before each copy, the group %q has committed offsets in the middle of every source partition (it was committed once, after loading). Each tool translates it during the copy (MirrorMaker 2: checkpoints and group offset sync every second; kmigrate: its group sync, with a final pass at the end of --until-caught-up). When the target's committed offsets have stayed unchanged for %s, each is compared with the exact position: the target copy has no gaps and starts at 0, so the exact position is the source offset, and the benchmark checks that the record there is the same on both clusters. Below the exact position, the group re-reads the difference; above it, it skips records.
- **Runs.** The order of the tools alternates between runs; the ceiling is measured at the start of every run.

`, backlogTopic, o.partitions, pollInterval, o.partitions, formatRate(o.rate), o.steadyRecordRate(), o.warmup, o.steady, o.warmup, failGroup, o.settle)
}

func (rep *report) settings(b *strings.Builder) {
	b.WriteString("## Settings\n\n")
	fmt.Fprintf(b, "ProducerPerformance (data set and ceiling): `--record-size %d --throughput -1 --producer-props %s`; steady state: `--throughput %d --producer-props %s`.\n\n",
		rep.o.recordSize, strings.Join(loadProducerProps, " "), rep.o.steadyRecordRate(), strings.Join(steadyProducerProps, " "))
	fmt.Fprintf(b, "MirrorMaker 2, `org.apache.kafka.connect.mirror.MirrorMaker mm2.properties` (backlog copy):\n\n```properties\n%s```\n\n", rep.mm2Copy)
	if rep.o.steady > 0 {
		fmt.Fprintf(b, "MirrorMaker 2, steady state: the same file without the high-volume block (the clients' defaults, which favour latency), for the steady-state topic.\n\n")
	}
	fmt.Fprintf(b, "kmigrate, `kmigrate run -c kmigrate.yaml --until-caught-up` (backlog copy; the steady state runs without --until-caught-up), every other setting at its documented default:\n\n```yaml\n%s```\n\n", rep.kmigrateConfig)
	if rep.brokerConfig != "" {
		fmt.Fprintf(b, "Brokers (server.properties of the target; the source's differs only in ports and paths):\n\n```properties\n%s\n```\n\n", strings.TrimRight(rep.brokerConfig, "\n"))
	}
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kib int64
			if _, err := fmt.Sscan(rest, &kib); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
			}
		}
	}
	return "unknown"
}

func loadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func readTrim(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

func oneLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// firstLoad returns the 1-minute figure of a load average as loadAvg prints it.
func firstLoad(la string) float64 {
	var one float64
	if _, err := fmt.Sscanf(la, "%f", &one); err != nil {
		return 0
	}
	return one
}
