package clouds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// freePort returns a free loopback port for kmigrate's HTTP server.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run is one `kmigrate run` process between the clouds: it reaches both clusters
// only through their proxies.
type run struct {
	cmd    *exec.Cmd
	cfg    string
	http   string
	logs   kafkatest.SyncBuffer
	exited chan struct{}
	err    error
	// passwords holds, per cloud whose PROXIED listener is secure, the file
	// kmigrate reads its SCRAM password from.
	passwords map[string]string
}

// scramUser is the user kmigrate logs in as on a cloud whose PROXIED listener is
// SASL_SSL.
const scramUser = "kmigrate"

// startRun writes a configuration migrating topics (through the proxies, with
// short intervals, and the extra replication settings, indented YAML lines) and
// starts `kmigrate run` on it; the process is killed when the test ends if it
// still runs. Where a cloud's PROXIED listener is secure, kmigrate logs in there
// with SCRAM-SHA-512 over TLS as scramUser, whose password the test sets.
func startRun(t *testing.T, c *clouds.Clouds, migration string, topics []string, replication string) *run {
	t.Helper()
	var inc []string
	for _, tp := range topics {
		inc = append(inc, strconv.Quote(tp))
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	passwords := map[string]string{}
	security := func(cloud string) string {
		cl, _ := c.Cluster(cloud)
		if !cl.Options.ProxiedSecure {
			return ""
		}
		path := filepath.Join(dir, cloud+"-password")
		passwords[cloud] = path
		setPassword(t, cl, path, "first-"+strconv.Itoa(os.Getpid()))
		return fmt.Sprintf(`  tls:
    ca_file: %q
  sasl:
    mechanism: SCRAM-SHA-512
    username: %s
    password_file: %q
`, cl.CAFile, scramUser, path)
	}
	body := fmt.Sprintf(`migration: %s
source:
  bootstrap_servers: [%s]
  request_timeout: 10s
%starget:
  bootstrap_servers: [%s]
  request_timeout: 10s
%stopics:
  include: [%s]
replication:
  checkpoint_interval: 200ms
  discovery_interval: 1s
%sgroup_sync:
  interval: 1s
http:
  listen: %q
`, migration, strings.Join(c.Source.ProxiedBootstrap, ","), security(clouds.AWS),
		strings.Join(c.Target.ProxiedBootstrap, ","), security(clouds.GCP),
		strings.Join(inc, ", "), replication, addr)
	path := filepath.Join(dir, "kmigrate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := launch(t, path, addr)
	r.passwords = passwords
	return r
}

// again starts another `kmigrate run` on r's configuration, with an HTTP server
// of its own: a restart after r was killed, or a second instance beside it.
func (r *run) again(t *testing.T) *run {
	t.Helper()
	body, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.TrimPrefix(r.http, "http://")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	path := filepath.Join(t.TempDir(), "kmigrate.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(body), strconv.Quote(old), strconv.Quote(addr), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	n := launch(t, path, addr)
	n.passwords = r.passwords
	return n
}

// launch starts `kmigrate run -c path`, whose HTTP server listens on addr;
// the process is killed when the test ends if it still runs, and its log kept
// when the test failed.
func launch(t *testing.T, path, addr string) *run {
	t.Helper()
	r := &run{cfg: path, http: "http://" + addr, exited: make(chan struct{})}
	r.cmd = exec.Command(kafkatest.KmigrateBinary(t), "run", "-c", path, "--log-format", "json")
	r.cmd.Stdout = &r.logs
	r.cmd.Stderr = &r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		var parts string
		select {
		case <-r.exited:
		default:
			if t.Failed() {
				parts = r.get("/api/partitions")
				// The goroutines of a stuck process, in its log.
				_ = r.cmd.Process.Signal(syscall.SIGCONT)
				_ = r.cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-r.exited:
				case <-time.After(5 * time.Second):
				}
			}
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() || os.Getenv("KMIGRATE_KEEP_LOGS") != "" {
			dir := filepath.Join(os.TempDir(), "kmclouds-logs")
			path := filepath.Join(dir, kafkatest.UniqueName(t, "kmigrate")+".log")
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(path, []byte(r.logs.String()+"\n/api/partitions:\n"+parts), 0o644)
			t.Logf("kmigrate's whole log in %s; /api/partitions: %s\ntail:\n%s", path, parts, tailLines(r.logs.String(), 30))
		}
	})
	return r
}

// kill ends r with SIGKILL and waits for it to be gone.
func (r *run) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.exited
}

// setPassword sets user scramUser's SCRAM-SHA-512 password on cl (through its
// PLAINTEXT listener, inside the cloud) and then writes it to the file kmigrate
// reads: a rotation as an operator does it.
func setPassword(t *testing.T, cl *kafkatest.Cluster, file, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cl.Admin(t).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: scramUser, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("set the SCRAM password of %s on %s: %v", scramUser, cl.Name, err)
	}
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// alive fails the test if kmigrate has exited: no fault may end it.
func (r *run) alive(t *testing.T) {
	t.Helper()
	select {
	case <-r.exited:
		t.Fatalf("kmigrate run exited (%v) although every fault was transient:\n%s", r.err, tailLines(r.logs.String(), 40))
	default:
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (r *run) stop(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("kmigrate did not stop within 60s of SIGTERM")
	}
	if r.err != nil {
		t.Fatalf("kmigrate run exited with %v:\n%s", r.err, tailLines(r.logs.String(), 40))
	}
}

// statusDoc is the part of /api/status the scenarios check.
type statusDoc struct {
	Phase    string `json:"phase"`
	Overview struct {
		Partitions       int   `json:"partitions"`
		FailedPartitions int   `json:"failed_partitions"`
		CopiedRecords    int64 `json:"copied_records"`
		LagRecords       int64 `json:"lag_records"`
		LostRecords      int64 `json:"lost_records"`
	} `json:"overview"`
	Errors []json.RawMessage `json:"errors"`
	Events []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	} `json:"events"`
}

// get returns the body of a GET on kmigrate's HTTP server, or the error.
func (r *run) get(path string) string {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(r.http + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return b.String()
}

func (r *run) status() (statusDoc, error) {
	var s statusDoc
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(r.http + "/api/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /api/status: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// endOffsets returns the end offset of every partition of topic, read directly
// (not through the proxies).
func endOffsets(ctx context.Context, cl *kafkatest.Cluster, topic string) (map[int32]int64, error) {
	k, err := kgo.NewClient(kgo.SeedBrokers(cl.Bootstrap...))
	if err != nil {
		return nil, err
	}
	defer k.Close()
	ends, err := kadm.NewClient(k).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("list end offsets of %s: %v", topic, errs[0])
	}
	return out, nil
}

// caughtUp reports nil when the target holds as many records per partition as
// the source (an ordinary topic: offsets from 0 on both).
func caughtUp(c *clouds.Clouds, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src, err := endOffsets(ctx, c.Source, topic)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	tgt, err := endOffsets(ctx, c.Target, topic)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	for p, end := range src {
		if tgt[p] != end {
			return fmt.Errorf("%s[%d]: target at %d of %d", topic, p, tgt[p], end)
		}
	}
	return nil
}
