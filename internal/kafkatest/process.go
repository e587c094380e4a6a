package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Default JVM settings. Heaps are small so that two seed clusters (twelve JVMs) fit
// beside the tests on a small machine; the GC flags are those of Kafka's
// kafka-run-class.sh, so benchmark numbers stay comparable with a stock install.
const (
	brokerHeap     = "-Xms128m -Xmx384m"
	controllerHeap = "-Xms64m -Xmx256m"
	combinedHeap   = "-Xms128m -Xmx512m"
	toolHeap       = "-Xms32m -Xmx256m"
	defaultJVMOpts = "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35" +
		" -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -XX:+PerfDisableSharedMem" +
		" -Djava.awt.headless=true"
)

// jvmArgs returns the JVM arguments of a process: heap (for brokers and
// controllers, KAFKA_HEAP_OPTS overrides the default; tools keep theirs), other
// options (KAFKA_JVM_OPTS overrides the default), logging.
func jvmArgs(heap string, k *kafkaDist, logDir string) []string {
	if v := os.Getenv("KAFKA_HEAP_OPTS"); v != "" && heap != toolHeap {
		heap = v
	}
	opts := defaultJVMOpts
	if v := os.Getenv("KAFKA_JVM_OPTS"); v != "" {
		opts = v
	}
	args := append(strings.Fields(heap), strings.Fields(opts)...)
	switch {
	case k.dumpCDS != "":
		args = append(args, "-XX:ArchiveClassesAtExit="+k.dumpCDS, "-Xlog:cds=off", "-Xlog:cds+dynamic=off")
	case k.CDS != "":
		args = append(args, "-XX:SharedArchiveFile="+k.CDS, "-Xlog:cds=off", "-Xlog:cds+dynamic=off")
	}
	args = append(args, "-Dlog4j2.configurationFile="+k.Log4j)
	if logDir != "" {
		args = append(args, "-Dkafka.logs.dir="+logDir)
	}
	return append(args, "-cp", filepath.Join(k.Libs, "*"))
}

// JavaBin finds java: $JAVA_HOME/bin/java, then Debian's Java 17, then PATH.
func JavaBin() (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		p := filepath.Join(h, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	const debian = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("find java: %w", err)
	}
	return p, nil
}

// alive reports whether pid is a live (not zombie) process whose command line
// contains marker. The marker guards against a reused pid: a node's marker is the
// path of its server.properties.
func alive(pid int, marker string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may contain spaces.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if s := stat[i+2]; s == 'Z' || s == 'X' {
			return false
		}
	}
	if marker == "" {
		return true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return ours(cmdline, marker)
}

// ours reports whether a live process with command line cmdline is the one
// marked with marker. An empty command line is a process in the middle of an
// execve (`ip netns exec` becoming the JVM): it still runs, and is ours as far
// as anyone can tell; calling it gone failed a broker restart in the soak.
func ours(cmdline []byte, marker string) bool {
	return len(cmdline) == 0 || bytes.Contains(cmdline, []byte(marker))
}

// rssKiB returns the resident set size of pid in KiB (VmRSS of /proc/pid/status).
func rssKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("read status of process %d: no VmRSS", pid)
}

// waitGone polls until the process is no longer alive or the timeout passes.
func waitGone(pid int, marker string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid, marker) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond) // polling the kernel's view; nothing to wait on
	}
	return true
}

// terminate sends SIGTERM, waits up to grace for the process to exit, then sends
// SIGKILL and waits again. It does nothing to a pid that is not ours (marker).
func terminate(pid int, marker string, grace time.Duration) error {
	if !alive(pid, marker) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("send sigterm to process %d: %w", pid, err)
	}
	if waitGone(pid, marker, grace) {
		return nil
	}
	return kill(pid, marker)
}

// kill sends SIGKILL and waits for the process to be gone.
func kill(pid int, marker string) error {
	if !alive(pid, marker) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("send sigkill to process %d: %w", pid, err)
	}
	if !waitGone(pid, marker, 30*time.Second) {
		return fmt.Errorf("kill process %d: still alive 30s after sigkill", pid)
	}
	return nil
}

// spawn starts a detached process (own session, stdin from /dev/null) whose output
// is appended to logFile, and reaps it in the background so that it never lingers
// as a zombie of this process. The process outlives this one.
func spawn(dir, logFile string, name string, args ...string) (int, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("open log %s: %w", logFile, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "=== kmigrate: %s starting %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(append([]string{name}, args...), " "))
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}

// runTool runs a Java main class to completion and returns its standard output; on
// failure the error carries the tail of its standard error.
func runTool(ctx context.Context, k *kafkaDist, env []string, mainClass string, args ...string) ([]byte, error) {
	java, err := JavaBin()
	if err != nil {
		return nil, err
	}
	tool := *k
	tool.dumpCDS = "" // only the training node writes an archive
	full := append(jvmArgs(toolHeap, &tool, ""), mainClass)
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, java, full...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("run %s: %w\n%s", mainClass, err, tail(stderr.String(), 30))
	}
	return stdout.Bytes(), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailFile returns the last n lines of a file, reading at most its last 256 KiB.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const maxRead = 256 << 10
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	off := st.Size() - maxRead
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return tail(string(buf), n)
}
