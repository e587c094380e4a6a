package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// DefaultKafkaVersion is the Apache Kafka release used when KAFKA_VERSION is unset.
const DefaultKafkaVersion = "4.1.1"

// kafkaDist is a fetched Apache Kafka: the jars and the logging configuration.
type kafkaDist struct {
	Version string
	Dir     string // cache directory of this version
	Libs    string // directory of the jars
	Log4j   string // log4j2.properties
	CDS     string // class data archive to map, "" for none (see cds.go)
	dumpCDS string // archive to write at exit instead (training only)
}

// fetchMu makes concurrent first uses within a process fetch once; tools/kafka/fetch
// itself holds a file lock against other processes.
var fetchMu sync.Mutex

// cacheDir returns ${KMIGRATE_CACHE:-$HOME/.cache/kmigrate}, as tools/kafka/fetch does.
func cacheDir() (string, error) {
	if d := os.Getenv("KMIGRATE_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "kmigrate"), nil
}

// envVersion is KAFKA_VERSION, or DefaultKafkaVersion when it is unset.
func envVersion() string {
	if v := os.Getenv("KAFKA_VERSION"); v != "" {
		return v
	}
	return DefaultKafkaVersion
}

// dist returns the Apache Kafka of KAFKA_VERSION (default DefaultKafkaVersion),
// running tools/kafka/fetch first when the cache does not hold it yet.
func dist(ctx context.Context) (*kafkaDist, error) { return distOf(ctx, "") }

// distOf is dist for a given release; "" is KAFKA_VERSION's.
func distOf(ctx context.Context, version string) (*kafkaDist, error) {
	if version == "" {
		version = envVersion()
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	d := &kafkaDist{Version: version, Dir: filepath.Join(cache, "kafka-"+version)}
	d.Libs = filepath.Join(d.Dir, "libs")
	d.Log4j = filepath.Join(d.Dir, "log4j2.properties")
	marker := filepath.Join(d.Dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		d.findCDS()
		return d, nil
	}
	fetchMu.Lock()
	defer fetchMu.Unlock()
	if _, err := os.Stat(marker); err == nil {
		d.findCDS()
		return d, nil
	}
	script, err := findFetchScript()
	if err != nil {
		return nil, fmt.Errorf("fetch apache kafka %s: %w", version, err)
	}
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = append(os.Environ(), "KAFKA_VERSION="+version, "KMIGRATE_CACHE="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("fetch apache kafka %s with %s: %w\n%s", version, script, err, tail(string(out), 30))
	}
	if _, err := os.Stat(marker); err != nil {
		return nil, fmt.Errorf("fetch apache kafka %s: %w", version, err)
	}
	d.findCDS()
	return d, nil
}

// findCDS sets d.CDS when a class data archive for this JDK exists.
func (d *kafkaDist) findCDS() {
	if os.Getenv("KMIGRATE_KAFKA_CDS") == "0" {
		return
	}
	if archive, _, err := cdsPaths(d); err == nil {
		if _, err := os.Stat(archive); err == nil {
			d.CDS = archive
		}
	}
}

// findFetchScript finds tools/kafka/fetch: $KMIGRATE_ROOT first, then the module
// root above the working directory (tests run in their package directory).
func findFetchScript() (string, error) {
	if r := os.Getenv("KMIGRATE_ROOT"); r != "" {
		return filepath.Join(r, "tools", "kafka", "fetch"), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find tools/kafka/fetch: %w", err)
	}
	for {
		p := filepath.Join(dir, "tools", "kafka", "fetch")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find tools/kafka/fetch: not found above the working directory; set KMIGRATE_ROOT or run tools/kafka/fetch")
		}
		dir = parent
	}
}

// LibsDir returns the directory of the Apache Kafka jars (fetching them first if
// needed), for tests that build their own Java command lines.
func LibsDir(ctx context.Context) (string, error) {
	d, err := dist(ctx)
	if err != nil {
		return "", err
	}
	return d.Libs, nil
}
