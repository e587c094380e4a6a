package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// stockJVMOpts are the JVM options of Apache Kafka's kafka-run-class.sh
// (KAFKA_JVM_PERFORMANCE_OPTS), with which connect-mirror-maker.sh and
// kafka-producer-perf-test.sh start their JVMs.
const stockJVMOpts = "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35" +
	" -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"

// Heaps of the Java tools, as their Apache Kafka scripts set them.
const (
	producerPerfHeap = "-Xmx512M" // kafka-producer-perf-test.sh
)

// javaEnv starts Java tools from the Apache Kafka jars the clusters run on.
type javaEnv struct {
	java  string // the java binary
	libs  string // directory of the jars
	log4j string // logging configuration: INFO to standard error
	cds   string // class data sharing archive of Kafka's classes, "" for none
}

// newJavaEnv finds java and the Kafka jars (fetching them when needed).
func newJavaEnv(ctx context.Context) (*javaEnv, error) {
	libs, err := kafkatest.LibsDir(ctx)
	if err != nil {
		return nil, fmt.Errorf("find kafka jars: %w", err)
	}
	j := &javaEnv{libs: libs, log4j: filepath.Join(filepath.Dir(libs), "log4j2.properties")}
	if j.java, err = kafkatest.JavaBin(); err != nil {
		return nil, err
	}
	// The archive the test harness made for the brokers also holds the client and
	// tool classes it exercised; the JVM ignores it silently if it does not fit.
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(libs), "cds", "*.jsa")); len(m) > 0 && os.Getenv("KMIGRATE_KAFKA_CDS") != "0" {
		j.cds = m[0]
	}
	return j, nil
}

// jvmFlags returns the JVM flags of a tool with the given heap.
func (j *javaEnv) jvmFlags(heap string) []string {
	args := append(strings.Fields(heap), strings.Fields(stockJVMOpts)...)
	if j.cds != "" {
		args = append(args, "-XX:SharedArchiveFile="+j.cds, "-Xlog:cds=off", "-Xlog:cds+dynamic=off")
	}
	return append(args, "-Dlog4j2.configurationFile="+j.log4j)
}

// command returns the command that runs mainClass with heap and the stock flags.
func (j *javaEnv) command(ctx context.Context, heap, mainClass string, args ...string) *exec.Cmd {
	full := append(j.jvmFlags(heap), "-cp", filepath.Join(j.libs, "*"), mainClass)
	return exec.CommandContext(ctx, j.java, append(full, args...)...)
}

// javaVersion returns the first line of `java -version`.
func (j *javaEnv) javaVersion() string {
	out, err := exec.Command(j.java, "-version").CombinedOutput()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
