package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topologies.
const (
	// TopologySingle is one combined broker+controller node: replication factor 1.
	TopologySingle = "single"
	// TopologySeed is three controllers (ids 101-103) and three brokers (ids 1-3):
	// replication factor 3 and min.insync.replicas 2 for every topic, including the
	// offsets and transaction topics.
	TopologySeed = "seed"
)

// Options choose a cluster's shape. The zero value is a single node with a
// PLAINTEXT listener only.
type Options struct {
	// Topology is TopologySingle (the default when empty) or TopologySeed.
	Topology string `json:"topology"`
	// SASL adds a SASL_PLAINTEXT listener with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
	// and the users "admin" and "alice".
	SASL bool `json:"sasl"`
	// TLS adds an SSL listener with a broker certificate signed by a CA made for the
	// cluster (Cluster.CAFile). Clients are not asked for certificates.
	TLS bool `json:"tls"`
	// Authorizer turns on the StandardAuthorizer with "admin" as super user. It
	// implies SASL, since some principal must be able to grant ACLs.
	Authorizer bool `json:"authorizer"`
	// Host is the IP address every listener binds to and the cluster's addresses
	// name; empty means 127.0.0.1. With Netns it is an address of that namespace.
	Host string `json:"host,omitempty"`
	// Netns names a network namespace the nodes run in (`ip netns exec`, which
	// needs root); empty means this process's namespace. Tools and formatting run
	// here, so Host must be reachable from here.
	Netns string `json:"netns,omitempty"`
	// Proxied adds a PLAINTEXT listener named PROXIED to every broker that
	// advertises an address other than its own, typically a proxy in front of it:
	// a comma-separated list of host:port, one per broker in id order. Clients that
	// bootstrap through a proxy then reach every broker through its proxy, while
	// the PLAINTEXT listener still advertises the brokers' own addresses.
	Proxied string `json:"proxied,omitempty"`
	// ProxiedSecure makes the PROXIED listener SASL_SSL instead of PLAINTEXT:
	// SCRAM-SHA-256 and SCRAM-SHA-512 for the cluster's users over TLS with the
	// cluster's certificate (valid for 127.0.0.1, where proxies listen). It needs
	// Proxied, and implies SASL and TLS.
	ProxiedSecure bool `json:"proxied_secure,omitempty"`
	// OAuth adds OAUTHBEARER to the SASL listener, with Kafka's unsecured JWS
	// validator (any unsigned token with sub and exp claims) and sessions that
	// must authenticate again every OAuthSessionMillis. It implies SASL.
	OAuth bool `json:"oauth,omitempty"`
	// Version is the Apache Kafka release the nodes run ("3.9.1"); empty means
	// KAFKA_VERSION, or DefaultKafkaVersion when that is unset. Cross-version
	// tests run one side on another release.
	Version string `json:"version,omitempty"`
}

// normalize fills defaults and checks the options.
func (o Options) normalize() (Options, error) {
	if o.Topology == "" {
		o.Topology = TopologySingle
	}
	if o.Topology != TopologySingle && o.Topology != TopologySeed {
		return o, fmt.Errorf("check options: unknown topology %q (want %s or %s)", o.Topology, TopologySingle, TopologySeed)
	}
	if o.ProxiedSecure {
		if o.Proxied == "" {
			return o, fmt.Errorf("check options: proxied_secure without proxied addresses")
		}
		o.SASL, o.TLS = true, true
	}
	if o.Authorizer || o.OAuth {
		o.SASL = true
	}
	if o.Host != "" && net.ParseIP(o.Host) == nil {
		return o, fmt.Errorf("check options: host %q is not an IP address", o.Host)
	}
	if o.Proxied != "" {
		want := 1
		if o.Topology == TopologySeed {
			want = 3
		}
		addrs := strings.Split(o.Proxied, ",")
		if len(addrs) != want {
			return o, fmt.Errorf("check options: proxied lists %d addresses for %d brokers", len(addrs), want)
		}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return o, fmt.Errorf("check options: proxied address %q: %w", a, err)
			}
		}
	}
	return o, nil
}

// String describes the options as the command line spells them.
func (o Options) String() string {
	s := "--topology " + o.Topology
	if o.SASL {
		s += " --sasl"
	}
	if o.TLS {
		s += " --tls"
	}
	if o.Authorizer {
		s += " --authorizer"
	}
	if o.Host != "" {
		s += " --host " + o.Host
	}
	if o.Netns != "" {
		s += " --netns " + o.Netns
	}
	if o.Proxied != "" {
		s += " --proxied " + o.Proxied
	}
	if o.ProxiedSecure {
		s += " --proxied-secure"
	}
	return s
}

// Node roles.
const (
	RoleBroker     = "broker"
	RoleController = "controller"
)

// Node is one Kafka process of a cluster.
type Node struct {
	// ID is node.id: brokers 1-3, controllers 101-103 (1 for a combined node).
	ID int32 `json:"id"`
	// Roles holds RoleBroker, RoleController or both.
	Roles []string `json:"roles"`
	// PID is the process id, 0 when the node was stopped through this package.
	PID int `json:"pid"`
	// Ports maps listener names (PLAINTEXT, SASL, SSL, PROXIED, INTERNAL,
	// CONTROLLER) to ports.
	Ports map[string]int `json:"ports"`
	// Host is the address the listeners bind to; empty means 127.0.0.1.
	Host string `json:"host,omitempty"`
	// Advertised maps a listener name to the address it advertises when that is
	// not its own (the PROXIED listener).
	Advertised map[string]string `json:"advertised,omitempty"`
	// Dir holds the node's files; ConfigFile is its server.properties, DataDir its
	// log.dirs, LogFile everything the JVM printed (kept across restarts).
	Dir        string `json:"dir"`
	ConfigFile string `json:"config_file"`
	DataDir    string `json:"data_dir"`
	LogFile    string `json:"log_file"`
}

// IsBroker reports whether the node has the broker role.
func (n Node) IsBroker() bool { return slices.Contains(n.Roles, RoleBroker) }

// IsController reports whether the node has the controller role.
func (n Node) IsController() bool { return slices.Contains(n.Roles, RoleController) }

// Addr returns host:port of the node's listener, or "" when it has none.
func (n Node) Addr(listener string) string {
	p, ok := n.Ports[listener]
	if !ok {
		return ""
	}
	return net.JoinHostPort(n.host(), strconv.Itoa(p))
}

func (n Node) host() string {
	if n.Host != "" {
		return n.Host
	}
	return "127.0.0.1"
}

// Alive reports whether the node's process is running.
func (n Node) Alive() bool { return alive(n.PID, n.ConfigFile) }

// Cluster is a running (or stopped) Kafka cluster and everything needed to reach it.
// It is saved as cluster.json in its directory. Its methods are safe for concurrent
// use within a process; two processes must not restart nodes of the same cluster
// at the same time.
type Cluster struct {
	// Name is the cluster's name, unique under its root directory.
	Name string `json:"name"`
	// Dir is root/name: state, node directories, TLS files.
	Dir string `json:"dir"`
	// Options are the normalized options the cluster was started with.
	Options Options `json:"options"`
	// KafkaVersion is the Apache Kafka release the nodes run.
	KafkaVersion string `json:"kafka_version"`
	// ClusterID is the KRaft cluster id given to the storage format.
	ClusterID string `json:"cluster_id"`
	// Bootstrap lists the PLAINTEXT addresses of the brokers.
	Bootstrap []string `json:"bootstrap"`
	// SASLBootstrap lists the SASL_PLAINTEXT addresses (with Options.SASL).
	SASLBootstrap []string `json:"sasl_bootstrap,omitempty"`
	// TLSBootstrap lists the SSL addresses (with Options.TLS).
	TLSBootstrap []string `json:"tls_bootstrap,omitempty"`
	// ProxiedBootstrap lists the addresses the PROXIED listeners advertise (with
	// Options.Proxied).
	ProxiedBootstrap []string `json:"proxied_bootstrap,omitempty"`
	// CAFile is the PEM certificate of the CA that signed the brokers' certificate.
	CAFile string `json:"ca_file,omitempty"`
	// Users maps user names ("admin", "alice") to passwords, valid for PLAIN,
	// SCRAM-SHA-256 and SCRAM-SHA-512 on the SASL listener.
	Users map[string]string `json:"users,omitempty"`
	// InternalPassword is the password of the inter-node super user "kafka".
	InternalPassword string `json:"internal_password,omitempty"`
	// Voters is controller.quorum.voters.
	Voters string `json:"controller_quorum_voters"`
	// Nodes are every process of the cluster; see Brokers and Controllers.
	Nodes []Node `json:"nodes"`
	// OwnerPID is the test process that started the cluster and will stop it, 0 for
	// clusters that outlive their starter (command line, shared test clusters).
	OwnerPID int `json:"owner_pid,omitempty"`
	// StartedAt is when the last Start began.
	StartedAt time.Time `json:"started_at"`
	// StartSeconds is how long the last Start took, from formatting to readiness.
	StartSeconds float64 `json:"start_seconds"`

	mu   sync.Mutex // guards Nodes[*].PID and the state file
	tls  tlsFiles
	dist *kafkaDist
}

const stateFile = "cluster.json"

// DefaultRoot returns the directory under which clusters live:
// $KMIGRATE_KAFKA_DIR, else $TMPDIR/kmigrate-kafka.
func DefaultRoot() string {
	if d := os.Getenv("KMIGRATE_KAFKA_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "kmigrate-kafka")
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

// Start formats and starts a new cluster named name under DefaultRoot and returns
// when every broker is registered and answers metadata requests. A stopped cluster
// of the same name is wiped first; a running one is an error.
func Start(ctx context.Context, name string, opts Options) (*Cluster, error) {
	return StartIn(ctx, DefaultRoot(), name, opts)
}

// StartIn is Start with the cluster directory root/name.
func StartIn(ctx context.Context, root, name string, opts Options) (*Cluster, error) {
	return startIn(ctx, root, name, opts, 0)
}

func startIn(ctx context.Context, root, name string, opts Options, owner int) (*Cluster, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("start cluster %q: invalid name (letters, digits, '.', '_', '-')", name)
	}
	opts, err := opts.normalize()
	if err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	dir := filepath.Join(root, name)
	if old, err := Open(root, name); err == nil {
		for _, n := range old.Nodes {
			if n.Alive() {
				return nil, fmt.Errorf("start cluster %s: already running (node %d, pid %d); stop it first", name, n.ID, n.PID)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("start cluster %s: remove old directory: %w", name, err)
	}
	k, err := distOf(ctx, opts.Version)
	if err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	useCDS(ctx, k)
	// A port found free may be taken by someone else before Kafka binds it; try again
	// with new ports when that happens.
	for attempt := 1; ; attempt++ {
		c, err := startOnce(ctx, k, dir, name, opts, owner)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, errPortInUse) || attempt == 3 {
			return nil, err
		}
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("start cluster %s: remove directory: %w", name, err)
		}
	}
}

var errPortInUse = errors.New("port in use")

func startOnce(ctx context.Context, k *kafkaDist, dir, name string, opts Options, owner int) (*Cluster, error) {
	began := time.Now()
	c := &Cluster{
		Name: name, Dir: dir, Options: opts, KafkaVersion: k.Version,
		OwnerPID: owner, dist: k, StartedAt: began,
	}
	var err error
	if c.ClusterID, err = randomUUID(); err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	if err := c.layout(); err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	if err := c.format(ctx); err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	c.mu.Lock()
	for i := range c.Nodes {
		if err := c.spawnNode(&c.Nodes[i]); err != nil {
			c.mu.Unlock()
			_ = c.Stop()
			return nil, fmt.Errorf("start cluster %s: %w", name, err)
		}
	}
	err = c.saveLocked()
	c.mu.Unlock()
	if err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	if err := c.WaitReady(ctx); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	c.mu.Lock()
	c.StartSeconds = time.Since(began).Seconds()
	err = c.saveLocked()
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	return c, nil
}

// layout chooses node ids, ports, users and files, and writes the TLS material and
// configuration files.
func (c *Cluster) layout() error {
	type spec struct {
		id    int32
		roles []string
	}
	var specs []spec
	if c.Options.Topology == TopologySeed {
		for i := int32(101); i <= 103; i++ {
			specs = append(specs, spec{i, []string{RoleController}})
		}
		for i := int32(1); i <= 3; i++ {
			specs = append(specs, spec{i, []string{RoleBroker}})
		}
	} else {
		specs = []spec{{1, []string{RoleBroker, RoleController}}}
	}
	// Hold every listener open until all are chosen, so no two nodes get one port.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	port := func() (int, error) {
		l, err := ListenFree("127.0.0.1")
		if err != nil {
			return 0, err
		}
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	var voters []string
	var proxied []string
	if c.Options.Proxied != "" {
		proxied = strings.Split(c.Options.Proxied, ",")
	}
	brokers := 0
	for _, s := range specs {
		n := Node{ID: s.id, Roles: s.roles, Ports: map[string]int{}, Host: c.Options.Host}
		var names []string
		if n.IsController() {
			names = append(names, listenerCtrl)
		}
		if n.IsBroker() {
			names = append(names, ListenerPlaintext, listenerInternal)
			if c.Options.SASL {
				names = append(names, ListenerSASL)
			}
			if c.Options.TLS {
				names = append(names, ListenerSSL)
			}
			if proxied != nil {
				names = append(names, ListenerProxied)
				n.Advertised = map[string]string{ListenerProxied: proxied[brokers]}
			}
			brokers++
		}
		// Ports are chosen free here; in a namespace of its own (Netns) every port
		// is free anyway.
		for _, l := range names {
			p, err := port()
			if err != nil {
				return err
			}
			n.Ports[l] = p
		}
		n.Dir = filepath.Join(c.Dir, fmt.Sprintf("node-%d", n.ID))
		n.ConfigFile = filepath.Join(n.Dir, "server.properties")
		n.DataDir = filepath.Join(n.Dir, "data")
		n.LogFile = filepath.Join(n.Dir, "server.log")
		if n.IsController() {
			voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.Addr(listenerCtrl)))
		}
		if n.IsBroker() {
			c.Bootstrap = append(c.Bootstrap, n.Addr(ListenerPlaintext))
			if c.Options.SASL {
				c.SASLBootstrap = append(c.SASLBootstrap, n.Addr(ListenerSASL))
			}
			if c.Options.TLS {
				c.TLSBootstrap = append(c.TLSBootstrap, n.Addr(ListenerSSL))
			}
			if a, ok := n.Advertised[ListenerProxied]; ok {
				c.ProxiedBootstrap = append(c.ProxiedBootstrap, a)
			}
		}
		c.Nodes = append(c.Nodes, n)
	}
	c.Voters = strings.Join(voters, ",")

	if c.Options.SASL {
		c.Users = map[string]string{}
		for _, u := range []string{"admin", "alice"} {
			pw, err := password()
			if err != nil {
				return err
			}
			c.Users[u] = pw
		}
	}
	if c.Options.Authorizer {
		pw, err := password()
		if err != nil {
			return err
		}
		c.InternalPassword = pw
	}
	if c.Options.TLS {
		var hosts []string
		if c.Options.Host != "" {
			hosts = append(hosts, c.Options.Host)
		}
		f, err := writeTLS(filepath.Join(c.Dir, "tls"), c.Name, hosts...)
		if err != nil {
			return err
		}
		c.tls = f
		c.CAFile = f.CA
	}
	return c.writeConfigs()
}

func (c *Cluster) writeConfigs() error {
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return fmt.Errorf("create node directory %s: %w", n.Dir, err)
		}
		if err := c.nodeConfig(n).write(n.ConfigFile); err != nil {
			return err
		}
	}
	return nil
}

// format runs Kafka's storage tool on every node (two at a time: each is a JVM),
// adding the SCRAM credentials of the users to the initial metadata.
func (c *Cluster) format(ctx context.Context) error {
	var scram []string
	for _, u := range sortedKeys(c.Users) {
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			scram = append(scram, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, u, c.Users[u]))
		}
	}
	sem := make(chan struct{}, 2)
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i := range c.Nodes {
		n := c.Nodes[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Static quorum (controller.quorum.voters): format takes neither
			// --standalone nor --initial-controllers.
			args := append([]string{"format", "--cluster-id", c.ClusterID, "--config", n.ConfigFile}, scram...)
			if _, err := runTool(ctx, c.dist, nil, "kafka.tools.StorageTool", args...); err != nil {
				errs[i] = fmt.Errorf("format node %d: %w", n.ID, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// spawnNode starts node n. c.mu must be held.
func (c *Cluster) spawnNode(n *Node) error {
	java, err := JavaBin()
	if err != nil {
		return err
	}
	heap := brokerHeap
	switch {
	case n.IsBroker() && n.IsController():
		heap = combinedHeap
	case n.IsController():
		heap = controllerHeap
	}
	args := append(jvmArgs(heap, c.dist, n.Dir), "kafka.Kafka", n.ConfigFile)
	name := java
	if ns := c.Options.Netns; ns != "" {
		// ip execs java after entering the namespace: the pid stays the JVM's.
		name, args = "ip", append([]string{"netns", "exec", ns, java}, args...)
	}
	pid, err := spawn(n.Dir, n.LogFile, name, args...)
	if err != nil {
		return fmt.Errorf("start node %d: %w", n.ID, err)
	}
	n.PID = pid
	return nil
}

// WaitReady polls until every broker is registered, unfenced and listed in a
// metadata response on every client listener, or ctx ends (three minutes when ctx
// has no deadline). A node process that dies meanwhile fails it at once, with the
// tail of that node's log.
func (c *Cluster) WaitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
	}
	want := len(c.Brokers())
	var checks []func(context.Context) error
	for _, l := range c.clientListeners() {
		checks = append(checks, func(ctx context.Context) error {
			opts, err := c.listenerOpts(l, "admin", "SCRAM-SHA-512")
			if err != nil {
				return err
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				return fmt.Errorf("create client for %s: %w", l, err)
			}
			defer cl.Close()
			md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			if err != nil {
				return fmt.Errorf("list brokers on %s: %w", l, err)
			}
			if err := c.ours(md.Cluster, md.Brokers, l); err != nil {
				return fmt.Errorf("list brokers on %s: %w", l, err)
			}
			if len(md.Brokers) != want {
				return fmt.Errorf("list brokers on %s: %d of %d registered", l, len(md.Brokers), want)
			}
			return nil
		})
	}
	var last error
	for {
		if err := c.checkAlive(); err != nil {
			return err
		}
		last = nil
		for _, check := range checks {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := check(cctx)
			cancel()
			if err != nil {
				last = err
				break
			}
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for cluster %s to be ready: %w (last: %v)\n%s", c.Name, ctx.Err(), last, c.LogTail(20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// clientListeners returns the listeners tests use on this cluster.
func (c *Cluster) clientListeners() []string {
	ls := []string{ListenerPlaintext}
	if c.Options.SASL {
		ls = append(ls, ListenerSASL)
	}
	if c.Options.TLS {
		ls = append(ls, ListenerSSL)
	}
	return ls
}

// checkAlive fails when a node that should run has exited; the error carries the
// tail of its log, and errPortInUse when it could not bind its port.
func (c *Cluster) checkAlive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.Nodes {
		if n.PID != 0 && !n.Alive() {
			t := tailFile(n.LogFile, 40)
			err := fmt.Errorf("node %d (pid %d) exited; tail of %s:\n%s", n.ID, n.PID, n.LogFile, t)
			if strings.Contains(t, "Address already in use") {
				err = fmt.Errorf("%w: %w", errPortInUse, err)
			}
			return err
		}
	}
	return nil
}

// Open loads the state of cluster name under root without touching its processes.
func Open(root, name string) (*Cluster, error) {
	path := filepath.Join(root, name, stateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open cluster %s: %w", name, err)
	}
	c := &Cluster{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("open cluster %s: decode %s: %w", name, path, err)
	}
	if c.Options.TLS {
		tlsDir := filepath.Join(c.Dir, "tls")
		c.tls = tlsFiles{
			CA:       c.CAFile,
			Keystore: filepath.Join(tlsDir, "broker-keystore.pem"),
			Cert:     filepath.Join(tlsDir, "broker.pem"),
			Key:      filepath.Join(tlsDir, "broker-key.pem"),
		}
	}
	return c, nil
}

// List loads every cluster under root, sorted by name.
func List(root string) ([]*Cluster, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list clusters in %s: %w", root, err)
	}
	var out []*Cluster
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), stateFile)); err != nil {
			continue
		}
		c, err := Open(root, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// saveLocked writes cluster.json atomically. c.mu must be held.
func (c *Cluster) saveLocked() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state of cluster %s: %w", c.Name, err)
	}
	path := filepath.Join(c.Dir, stateFile)
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write state of cluster %s: %w", c.Name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write state of cluster %s: %w", c.Name, err)
	}
	return nil
}

// Brokers returns the nodes with the broker role, in id order.
func (c *Cluster) Brokers() []Node { return c.nodes(Node.IsBroker) }

// Controllers returns the nodes with the controller role, in id order.
func (c *Cluster) Controllers() []Node { return c.nodes(Node.IsController) }

func (c *Cluster) nodes(keep func(Node) bool) []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Node
	for _, n := range c.Nodes {
		if keep(n) {
			n.Roles = slices.Clone(n.Roles)
			n.Ports = maps.Clone(n.Ports)
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b Node) int { return int(a.ID - b.ID) })
	return out
}

// node returns a pointer to node id. c.mu must be held.
func (c *Cluster) node(id int32) (*Node, error) {
	for i := range c.Nodes {
		if c.Nodes[i].ID == id {
			return &c.Nodes[i], nil
		}
	}
	return nil, fmt.Errorf("cluster %s has no node %d", c.Name, id)
}

// Stop stops every node: brokers first (SIGTERM, then SIGKILL after 20 seconds),
// then controllers, which the brokers need for a controlled shutdown. Data and
// logs stay in the cluster directory.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, pass := range []func(Node) bool{
		func(n Node) bool { return n.IsBroker() && !n.IsController() },
		Node.IsController,
	} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range c.Nodes {
			n := &c.Nodes[i]
			if !pass(*n) || n.PID == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := terminate(n.PID, n.ConfigFile, 20*time.Second); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("stop node %d: %w", n.ID, err))
					mu.Unlock()
					return
				}
				n.PID = 0
			}()
		}
		wg.Wait()
	}
	if _, err := os.Stat(c.Dir); err == nil {
		if err := c.saveLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop cluster %s: %w", c.Name, err)
	}
	return nil
}

// Remove stops the cluster and deletes its directory, logs included.
func (c *Cluster) Remove() error {
	if err := c.Stop(); err != nil {
		return err
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("remove cluster %s: %w", c.Name, err)
	}
	return nil
}

// Running reports whether any node process of the cluster is alive.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.Nodes {
		if n.Alive() {
			return true
		}
	}
	return false
}

// KillNode kills node id with SIGKILL (no controlled shutdown) and waits until the
// process is gone.
func (c *Cluster) KillNode(id int32) error {
	return c.signalNode(id, "kill", func(n *Node) error { return kill(n.PID, n.ConfigFile) })
}

// StopNode stops node id with SIGTERM (a controlled shutdown), then SIGKILL after
// 30 seconds, and waits until the process is gone.
func (c *Cluster) StopNode(id int32) error {
	return c.signalNode(id, "stop", func(n *Node) error { return terminate(n.PID, n.ConfigFile, 30*time.Second) })
}

func (c *Cluster) signalNode(id int32, verb string, f func(*Node) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil {
		return fmt.Errorf("%s node: %w", verb, err)
	}
	if err := f(n); err != nil {
		return fmt.Errorf("%s node %d of cluster %s: %w", verb, id, c.Name, err)
	}
	n.PID = 0
	return c.saveLocked()
}

// StartNode starts node id again (its data is kept) unless it runs, and waits until
// it is back: a broker until it is registered and unfenced, a controller until its
// port accepts connections.
func (c *Cluster) StartNode(ctx context.Context, id int32) error {
	c.mu.Lock()
	n, err := c.node(id)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("start node: %w", err)
	}
	if !n.Alive() {
		if c.dist == nil {
			if c.dist, err = dist(ctx); err != nil {
				c.mu.Unlock()
				return fmt.Errorf("start node %d of cluster %s: %w", id, c.Name, err)
			}
		}
		if err := c.spawnNode(n); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("start node %d of cluster %s: %w", id, c.Name, err)
		}
		if err := c.saveLocked(); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	node := *n
	c.mu.Unlock()
	if err := c.waitNode(ctx, node); err != nil {
		return fmt.Errorf("start node %d of cluster %s: %w", id, c.Name, err)
	}
	return nil
}

// RestartNode stops node id with SIGTERM and starts it again.
func (c *Cluster) RestartNode(ctx context.Context, id int32) error {
	if err := c.StopNode(id); err != nil {
		return err
	}
	return c.StartNode(ctx, id)
}

// KillBroker kills broker id with SIGKILL; see KillNode.
func (c *Cluster) KillBroker(id int32) error {
	if err := c.mustBeBroker(id); err != nil {
		return err
	}
	return c.KillNode(id)
}

// StopBroker stops broker id with SIGTERM; see StopNode.
func (c *Cluster) StopBroker(id int32) error {
	if err := c.mustBeBroker(id); err != nil {
		return err
	}
	return c.StopNode(id)
}

// StartBroker starts a stopped broker and waits until it is registered; see
// StartNode.
func (c *Cluster) StartBroker(ctx context.Context, id int32) error {
	if err := c.mustBeBroker(id); err != nil {
		return err
	}
	return c.StartNode(ctx, id)
}

// RestartBroker stops broker id with SIGTERM, starts it and waits until it is
// registered again.
func (c *Cluster) RestartBroker(ctx context.Context, id int32) error {
	if err := c.mustBeBroker(id); err != nil {
		return err
	}
	return c.RestartNode(ctx, id)
}

func (c *Cluster) mustBeBroker(id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if !n.IsBroker() {
		return fmt.Errorf("node %d of cluster %s is not a broker", id, c.Name)
	}
	return nil
}

// waitNode polls until node n serves again (see StartNode).
func (c *Cluster) waitNode(ctx context.Context, n Node) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	var last error
	for {
		if !n.Alive() {
			return fmt.Errorf("node %d (pid %d) exited; tail of %s:\n%s", n.ID, n.PID, n.LogFile, tailFile(n.LogFile, 40))
		}
		if n.IsBroker() {
			last = c.brokerServing(ctx, n)
		} else {
			var d net.Dialer
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			conn, err := d.DialContext(cctx, "tcp", n.Addr(listenerCtrl))
			cancel()
			if err == nil {
				conn.Close()
			}
			last = err
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for node %d: %w (last: %v)\n%s", n.ID, ctx.Err(), last, tailFile(n.LogFile, 20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// brokerServing asks broker n itself for metadata and checks that it lists itself.
// Asking the broker, not the cluster, matters after a kill -9: the controller keeps
// the dead incarnation registered until its session times out, while a broker
// answers on its client listeners only once it is registered and unfenced.
func (c *Cluster) brokerServing(ctx context.Context, n Node) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr(ListenerPlaintext)))
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		return fmt.Errorf("ask broker %d for metadata: no seed broker", n.ID)
	}
	resp, err := seeds[0].Request(cctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return fmt.Errorf("ask broker %d for metadata: %w", n.ID, err)
	}
	md := resp.(*kmsg.MetadataResponse)
	if md.ClusterID == nil || *md.ClusterID != c.ClusterID {
		return fmt.Errorf("ask broker %d for metadata: %s answers for another cluster (%v, want %s)", n.ID, n.Addr(ListenerPlaintext), ptrString(md.ClusterID), c.ClusterID)
	}
	for _, b := range md.Brokers {
		if b.NodeID == n.ID {
			return nil
		}
	}
	return fmt.Errorf("broker %d not registered yet", n.ID)
}

// ours checks that a metadata answer comes from this cluster: its cluster id, and
// brokers at the ports this cluster's nodes listen on for listener. A port found
// free when the cluster was laid out may be taken by another cluster on the same
// machine (other test runs) before this one's JVM binds it; while this cluster's
// node is still starting, that cluster answers on the port, and a readiness check
// that only counted brokers would hand the test a foreign cluster. The node then
// fails to bind, and the start is tried again with new ports.
func (c *Cluster) ours(clusterID string, brokers kadm.BrokerDetails, listener string) error {
	if clusterID != c.ClusterID {
		return fmt.Errorf("answered by another cluster (id %q, want %s): one of the ports %v is someone else's", clusterID, c.ClusterID, c.bootstrapFor(listener))
	}
	nodes := c.snapshotNodes()
next:
	for _, b := range brokers {
		for _, n := range nodes {
			if n.ID == b.NodeID && n.IsBroker() && b.Port == int32(n.Ports[listener]) {
				continue next
			}
		}
		return fmt.Errorf("broker %d at %s:%d is not one of this cluster's", b.NodeID, b.Host, b.Port)
	}
	return nil
}

// bootstrapFor returns the bootstrap addresses of listener.
func (c *Cluster) bootstrapFor(listener string) []string {
	switch listener {
	case ListenerSASL:
		return c.SASLBootstrap
	case ListenerSSL:
		return c.TLSBootstrap
	}
	return c.Bootstrap
}

func ptrString(s *string) string {
	if s == nil {
		return "none"
	}
	return *s
}

// ActiveController returns the node id of the metadata quorum's leader, asked
// on the PLAINTEXT listener.
func (c *Cluster) ActiveController(ctx context.Context) (int32, error) {
	opts, err := c.listenerOpts(ListenerPlaintext, "", "")
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("create client of cluster %s: %w", c.Name, err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("describe the metadata quorum of %s: %w", c.Name, err)
	}
	if len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 || resp.Topics[0].Partitions[0].LeaderID < 0 {
		return 0, fmt.Errorf("describe the metadata quorum of %s: no leader", c.Name)
	}
	return resp.Topics[0].Partitions[0].LeaderID, nil
}

// Healthy checks that every node process is alive and every broker is registered.
func (c *Cluster) Healthy(ctx context.Context) error {
	if err := c.checkAlive(); err != nil {
		return fmt.Errorf("check cluster %s: %w", c.Name, err)
	}
	c.mu.Lock()
	for _, n := range c.Nodes {
		if n.PID == 0 {
			c.mu.Unlock()
			return fmt.Errorf("check cluster %s: node %d is stopped", c.Name, n.ID)
		}
	}
	c.mu.Unlock()
	opts, err := c.listenerOpts(ListenerPlaintext, "", "")
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("check cluster %s: create client: %w", c.Name, err)
	}
	defer cl.Close()
	bs, err := kadm.NewClient(cl).ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("check cluster %s: list brokers: %w", c.Name, err)
	}
	if want := len(c.Brokers()); len(bs) != want {
		return fmt.Errorf("check cluster %s: %d of %d brokers registered", c.Name, len(bs), want)
	}
	return nil
}

// LogTail returns the last n lines of every node's log, each under a header.
func (c *Cluster) LogTail(n int) string {
	var b strings.Builder
	for _, node := range c.snapshotNodes() {
		fmt.Fprintf(&b, "--- node %d (%s) %s\n%s\n", node.ID, strings.Join(node.Roles, ","), node.LogFile, tailFile(node.LogFile, n))
	}
	return b.String()
}

func (c *Cluster) snapshotNodes() []Node {
	return c.nodes(func(Node) bool { return true })
}

// MemoryKiB returns the resident memory (VmRSS) of every live node process, by
// node id, and their sum.
func (c *Cluster) MemoryKiB() (map[int32]int64, int64) {
	per := map[int32]int64{}
	var sum int64
	for _, n := range c.snapshotNodes() {
		if !n.Alive() {
			continue
		}
		if kib, err := rssKiB(n.PID); err == nil {
			per[n.ID] = kib
			sum += kib
		}
	}
	return per, sum
}

// randomUUID returns a Kafka cluster id: 16 random bytes in unpadded URL-safe base64,
// not starting with '-' (as Kafka's Uuid.randomUuid ensures).
func randomUUID() (string, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("generate cluster id: %w", err)
		}
		s := base64.RawURLEncoding.EncodeToString(b[:])
		if s[0] != '-' {
			return s, nil
		}
	}
}

func password() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
