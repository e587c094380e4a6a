// Command clusterctl starts, inspects and stops local Apache Kafka clusters for
// kmigrate's tests and benchmarks. tools/kafka/cluster builds and runs it; all the
// logic lives in internal/kafkatest, so tests and this command share clusters.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

const usage = `usage: cluster [--dir DIR] COMMAND [ARGS]

commands:
  up NAME [--topology single|seed] [--sasl] [--tls] [--authorizer] [--json]
  down NAME | --all
  status [NAME] [--json]
  kill-broker NAME ID      kill -9 a node
  stop-broker NAME ID      SIGTERM a node (controlled shutdown)
  start-broker NAME ID     start a stopped node
  restart-broker NAME ID   SIGTERM, then start
  env NAME [--prefix P]    shell exports (P defaults to KAFKA_)
  logs NAME [LINES]        tail of every node's log
  prepare                  fetch Kafka and build the class data archive (faster starts)

Clusters live in DIR/NAME (default $KMIGRATE_KAFKA_DIR, else $TMPDIR/kmigrate-kafka).
Kafka's version is $KAFKA_VERSION (default ` + kafkatest.DefaultKafkaVersion + `); JVM options: $KAFKA_HEAP_OPTS, $KAFKA_JVM_OPTS.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	global := flag.NewFlagSet("cluster", flag.ContinueOnError)
	global.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	root := global.String("dir", kafkatest.DefaultRoot(), "directory of the clusters")
	if err := global.Parse(args); err != nil {
		return err
	}
	args = global.Args()
	if len(args) == 0 {
		global.Usage()
		return errors.New("no command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "up":
		return up(ctx, *root, args, out)
	case "down":
		return down(*root, args, out)
	case "status":
		return status(ctx, *root, args, out)
	case "kill-broker", "stop-broker", "start-broker", "restart-broker":
		return nodeCmd(ctx, *root, cmd, args, out)
	case "env":
		return env(ctx, *root, args, out)
	case "logs":
		return logs(*root, args, out)
	case "prepare":
		if err := kafkatest.Prepare(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, "kafka ready")
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (see cluster help)", cmd)
}

// parse parses flags that may come before or after the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func up(ctx context.Context, root string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	var o kafkatest.Options
	fs.StringVar(&o.Topology, "topology", kafkatest.TopologySingle, "single or seed")
	fs.BoolVar(&o.SASL, "sasl", false, "add a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256/512)")
	fs.BoolVar(&o.TLS, "tls", false, "add an SSL listener")
	fs.BoolVar(&o.Authorizer, "authorizer", false, "enable the StandardAuthorizer (implies --sasl)")
	asJSON := fs.Bool("json", false, "print the cluster state as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("up: want exactly one cluster name")
	}
	if o.Authorizer {
		o.SASL = true
	}
	name := pos[0]
	c, err := kafkatest.Open(root, name)
	reused := err == nil && c.Running()
	switch {
	case reused:
		if c.Options != o {
			return fmt.Errorf("up %s: already running with %s; run down first", name, c.Options)
		}
		if err := c.Healthy(ctx); err != nil {
			return fmt.Errorf("up %s: already running but unhealthy: %w", name, err)
		}
	default:
		if c, err = kafkatest.StartIn(ctx, root, name, o); err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(out, c)
	}
	if reused {
		fmt.Fprintf(out, "cluster %s already up (%s), dir %s\n", c.Name, c.Options, c.Dir)
	} else {
		fmt.Fprintf(out, "cluster %s up (%s) in %.1fs, dir %s\n", c.Name, c.Options, c.StartSeconds, c.Dir)
	}
	printBootstrap(out, c)
	return nil
}

func printBootstrap(out io.Writer, c *kafkatest.Cluster) {
	fmt.Fprintf(out, "  PLAINTEXT %s\n", strings.Join(c.Bootstrap, ","))
	if len(c.SASLBootstrap) > 0 {
		fmt.Fprintf(out, "  SASL      %s (users: %s)\n", strings.Join(c.SASLBootstrap, ","), strings.Join(userNames(c), ", "))
	}
	if len(c.TLSBootstrap) > 0 {
		fmt.Fprintf(out, "  SSL       %s (ca %s)\n", strings.Join(c.TLSBootstrap, ","), c.CAFile)
	}
}

func userNames(c *kafkatest.Cluster) []string {
	var names []string
	for u := range c.Users {
		names = append(names, u)
	}
	return names
}

func down(root string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	all := fs.Bool("all", false, "stop every cluster under the directory")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	var clusters []*kafkatest.Cluster
	switch {
	case *all && len(pos) == 0:
		if clusters, err = listAll(root); err != nil {
			return err
		}
	case !*all && len(pos) == 1:
		c, err := kafkatest.Open(root, pos[0])
		if err != nil {
			return err
		}
		clusters = append(clusters, c)
	default:
		return errors.New("down: want a cluster name or --all")
	}
	var errs []error
	for _, c := range clusters {
		if err := c.Stop(); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "cluster %s down (logs in %s)\n", c.Name, c.Dir)
	}
	return errors.Join(errs...)
}

// listAll lists the clusters under root and under its run-* directories, which
// hold the clusters of test processes.
func listAll(root string) ([]*kafkatest.Cluster, error) {
	clusters, err := kafkatest.List(root)
	if err != nil {
		return nil, err
	}
	runs, _ := filepath.Glob(filepath.Join(root, "run-*"))
	for _, r := range runs {
		more, err := kafkatest.List(r)
		if err != nil {
			return nil, err
		}
		clusters = append(clusters, more...)
	}
	return clusters, nil
}

type nodeStatus struct {
	ID     int32    `json:"id"`
	Roles  []string `json:"roles"`
	PID    int      `json:"pid"`
	Alive  bool     `json:"alive"`
	RSSKiB int64    `json:"rss_kib"`
	Log    string   `json:"log"`
}

type clusterStatus struct {
	Name      string       `json:"name"`
	Dir       string       `json:"dir"`
	Options   string       `json:"options"`
	State     string       `json:"state"`
	Health    string       `json:"health"`
	Bootstrap []string     `json:"bootstrap"`
	RSSKiB    int64        `json:"rss_kib"`
	Nodes     []nodeStatus `json:"nodes"`
}

func status(ctx context.Context, root string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	var clusters []*kafkatest.Cluster
	switch len(pos) {
	case 0:
		if clusters, err = listAll(root); err != nil {
			return err
		}
	case 1:
		c, err := kafkatest.Open(root, pos[0])
		if err != nil {
			return err
		}
		clusters = append(clusters, c)
	default:
		return errors.New("status: want at most one cluster name")
	}
	var rows []clusterStatus
	unhealthy := 0
	for _, c := range clusters {
		per, sum := c.MemoryKiB()
		s := clusterStatus{Name: c.Name, Dir: c.Dir, Options: c.Options.String(), Bootstrap: c.Bootstrap, RSSKiB: sum}
		up := 0
		for _, n := range c.Nodes {
			a := n.Alive()
			if a {
				up++
			}
			s.Nodes = append(s.Nodes, nodeStatus{ID: n.ID, Roles: n.Roles, PID: n.PID, Alive: a, RSSKiB: per[n.ID], Log: n.LogFile})
		}
		switch up {
		case 0:
			s.State = "stopped"
		case len(c.Nodes):
			s.State = "running"
		default:
			s.State = "partial"
		}
		s.Health = "-"
		if up > 0 {
			s.Health = "ok"
			if err := c.Healthy(ctx); err != nil {
				s.Health = err.Error()
				unhealthy++
			}
		}
		rows = append(rows, s)
	}
	if *asJSON {
		if err := printJSON(out, rows); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tOPTIONS\tRSS MiB\tBOOTSTRAP\tHEALTH")
		for _, s := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.State, s.Options, s.RSSKiB/1024, strings.Join(s.Bootstrap, ","), s.Health)
			for _, n := range s.Nodes {
				fmt.Fprintf(tw, "  node %d\t%s\t%s\t%d\tpid %d\t%s\n", n.ID, aliveWord(n.Alive), strings.Join(n.Roles, ","), n.RSSKiB/1024, n.PID, n.Log)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if unhealthy > 0 {
		return fmt.Errorf("status: %d cluster(s) unhealthy", unhealthy)
	}
	return nil
}

func aliveWord(a bool) string {
	if a {
		return "up"
	}
	return "down"
}

func nodeCmd(ctx context.Context, root, cmd string, args []string, out io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("%s: want NAME ID", cmd)
	}
	c, err := kafkatest.Open(root, args[0])
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(args[1], 10, 32)
	if err != nil {
		return fmt.Errorf("%s: node id %q: %w", cmd, args[1], err)
	}
	nid := int32(id)
	switch cmd {
	case "kill-broker":
		err = c.KillNode(nid)
	case "stop-broker":
		err = c.StopNode(nid)
	case "start-broker":
		err = c.StartNode(ctx, nid)
	case "restart-broker":
		err = c.RestartNode(ctx, nid)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s %d: done\n", cmd, c.Name, nid)
	return nil
}

func env(ctx context.Context, root string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	prefix := fs.String("prefix", "KAFKA_", "prefix of the variable names")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("env: want exactly one cluster name")
	}
	c, err := kafkatest.Open(root, pos[0])
	if err != nil {
		return err
	}
	libs, err := c.Libs(ctx)
	if err != nil {
		return err
	}
	p := *prefix
	line := func(k, v string) { fmt.Fprintf(out, "export %s%s=%s\n", p, k, shellQuote(v)) }
	line("CLUSTER", c.Name)
	line("CLUSTER_DIR", c.Dir)
	line("BOOTSTRAP", strings.Join(c.Bootstrap, ","))
	if len(c.SASLBootstrap) > 0 {
		line("SASL_BOOTSTRAP", strings.Join(c.SASLBootstrap, ","))
		for _, u := range userNames(c) {
			line(strings.ToUpper(u)+"_PASSWORD", c.Users[u])
		}
	}
	if len(c.TLSBootstrap) > 0 {
		line("TLS_BOOTSTRAP", strings.Join(c.TLSBootstrap, ","))
		line("CA_FILE", c.CAFile)
	}
	line("LIBS", libs)
	line("VERSION", c.KafkaVersion)
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func logs(root string, args []string, out io.Writer) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("logs: want NAME [LINES]")
	}
	c, err := kafkatest.Open(root, args[0])
	if err != nil {
		return err
	}
	n := 40
	if len(args) == 2 {
		if n, err = strconv.Atoi(args[1]); err != nil {
			return fmt.Errorf("logs: line count %q: %w", args[1], err)
		}
	}
	_, err = io.WriteString(out, c.LogTail(n))
	return err
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
