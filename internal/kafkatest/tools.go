package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Java main classes of Apache Kafka 4.x tools, for RunJava.
const (
	ClassConsoleConsumer     = "org.apache.kafka.tools.consumer.ConsoleConsumer"
	ClassConsoleProducer     = "org.apache.kafka.tools.ConsoleProducer"
	ClassProducerPerformance = "org.apache.kafka.tools.ProducerPerformance"
	ClassConsumerPerformance = "org.apache.kafka.tools.ConsumerPerformance"
	ClassMetadataQuorum      = "org.apache.kafka.tools.MetadataQuorumCommand"
	ClassMirrorMaker         = "org.apache.kafka.connect.mirror.MirrorMaker"
)

// RunJava runs a Java main class from the cluster's Kafka jars (with a small heap
// and the harness's log4j2 configuration, which logs to standard error) and returns
// its standard output. On failure the error carries the tail of standard error.
func (c *Cluster) RunJava(ctx context.Context, mainClass string, args ...string) ([]byte, error) {
	k, err := c.kafka(ctx)
	if err != nil {
		return nil, err
	}
	return runTool(ctx, k, nil, mainClass, args...)
}

// JavaCommand returns the command that runs a Java main class from the cluster's
// Kafka jars as RunJava does, in the cluster's network namespace (Options.Netns)
// when it has one, for a caller that streams its output or stops it.
func (c *Cluster) JavaCommand(ctx context.Context, mainClass string, args ...string) (*exec.Cmd, error) {
	k, err := c.kafka(ctx)
	if err != nil {
		return nil, err
	}
	java, err := JavaBin()
	if err != nil {
		return nil, err
	}
	tool := *k
	tool.dumpCDS = ""
	full := append(jvmArgs(toolHeap, &tool, ""), mainClass)
	full = append(full, args...)
	name := java
	if ns := c.Options.Netns; ns != "" {
		name, full = "ip", append([]string{"netns", "exec", ns, java}, full...)
	}
	cmd := exec.CommandContext(ctx, name, full...)
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// Libs returns the directory of the Kafka jars the cluster runs on.
func (c *Cluster) Libs(ctx context.Context) (string, error) {
	k, err := c.kafka(ctx)
	if err != nil {
		return "", err
	}
	return k.Libs, nil
}

func (c *Cluster) kafka(ctx context.Context) (*kafkaDist, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dist != nil {
		return c.dist, nil
	}
	k, err := distOf(ctx, c.KafkaVersion)
	if err != nil {
		return nil, fmt.Errorf("find kafka %s of cluster %s: %w", c.KafkaVersion, c.Name, err)
	}
	c.dist = k
	return k, nil
}

// JavaClientConfig writes a Java client properties file (for --consumer.config,
// --command-config, --producer.config and the like) that reaches the cluster on
// listener as user (SCRAM-SHA-512; ignored on other listeners), and returns its
// path. bootstrap.servers is included.
func (c *Cluster) JavaClientConfig(listener, user string) (string, error) {
	p := &props{}
	switch listener {
	case ListenerPlaintext:
		p.set("bootstrap.servers", strings.Join(c.Bootstrap, ","))
		p.set("security.protocol", "PLAINTEXT")
	case ListenerSASL:
		pw, ok := c.Users[user]
		if !ok {
			return "", fmt.Errorf("write java client config of cluster %s: no user %q", c.Name, user)
		}
		p.set("bootstrap.servers", strings.Join(c.SASLBootstrap, ","))
		p.set("security.protocol", "SASL_PLAINTEXT")
		p.set("sasl.mechanism", MechScramSHA512)
		p.set("sasl.jaas.config", fmt.Sprintf(`%s required username="%s" password="%s";`, scramModule, user, pw))
	case ListenerSSL:
		if c.CAFile == "" {
			return "", fmt.Errorf("write java client config of cluster %s: no ssl listener", c.Name)
		}
		p.set("bootstrap.servers", strings.Join(c.TLSBootstrap, ","))
		p.set("security.protocol", "SSL")
		p.set("ssl.truststore.type", "PEM")
		p.set("ssl.truststore.location", c.CAFile)
		user = ""
	default:
		return "", fmt.Errorf("write java client config of cluster %s: unknown listener %q", c.Name, listener)
	}
	dir := filepath.Join(c.Dir, "clients")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write java client config of cluster %s: %w", c.Name, err)
	}
	name := strings.ToLower(listener)
	if user != "" {
		name += "-" + user
	}
	path := filepath.Join(dir, name+".properties")
	if err := p.write(path); err != nil {
		return "", fmt.Errorf("write java client config of cluster %s: %w", c.Name, err)
	}
	return path, nil
}

// Kcat returns the path of kcat (or of kafkacat, its former name). tools/kafka/deps
// installs it.
func Kcat() (string, error) {
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("find kcat: neither kcat nor kafkacat is in PATH (run tools/kafka/deps)")
}

// KcatArgs returns the kcat arguments that reach the cluster on listener as user
// (SCRAM-SHA-512; ignored on other listeners): -b with the bootstrap addresses and
// -X settings for security.
func (c *Cluster) KcatArgs(listener, user string) ([]string, error) {
	switch listener {
	case ListenerPlaintext:
		return []string{"-b", strings.Join(c.Bootstrap, ",")}, nil
	case ListenerSASL:
		pw, ok := c.Users[user]
		if !ok {
			return nil, fmt.Errorf("kcat arguments of cluster %s: no user %q", c.Name, user)
		}
		return []string{"-b", strings.Join(c.SASLBootstrap, ","),
			"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=" + MechScramSHA512,
			"-X", "sasl.username=" + user, "-X", "sasl.password=" + pw}, nil
	case ListenerSSL:
		if c.CAFile == "" {
			return nil, fmt.Errorf("kcat arguments of cluster %s: no ssl listener", c.Name)
		}
		return []string{"-b", strings.Join(c.TLSBootstrap, ","),
			"-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + c.CAFile}, nil
	}
	return nil, fmt.Errorf("kcat arguments of cluster %s: unknown listener %q", c.Name, listener)
}
