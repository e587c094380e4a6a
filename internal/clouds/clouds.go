package clouds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// Options choose the two clusters.
type Options struct {
	// Name prefixes the clusters' names (Name-aws, Name-gcp); unique per instance.
	Name string
	// Root is the directory the clusters live under; empty means
	// kafkatest.DefaultRoot().
	Root string
	// Source and Target are the clusters' options (topology, security). Host,
	// Netns and Proxied are the harness's to set.
	Source, Target kafkatest.Options
	// Owner is the process whose death lets a sweep remove the namespaces; 0 keeps
	// them until Down.
	Owner int
}

// Clouds is a running harness instance: the source cluster in the AWS namespace,
// the target in the GCP namespace, and one proxy per broker in the root
// namespace, on loopback, through which kmigrate (and only kmigrate) reaches the
// brokers. Faults are set per cloud: on the link (cut, heal, bandwidth) or on that
// cloud's proxies (latency, jitter, connection resets).
type Clouds struct {
	// Net is the namespaces and links.
	Net *Net
	// Source runs in AWS, Target in GCP. Their PLAINTEXT listeners (Bootstrap)
	// are reached directly over the link, as a client inside the cloud would;
	// their PROXIED listeners (ProxiedBootstrap) through the proxies.
	Source, Target *kafkatest.Cluster

	server  *toxiproxy.ApiServer
	mu      sync.Mutex
	proxies map[string][]*toxiproxy.Proxy
	faults  map[string][]string          // cloud -> faults in force, for Describe
	toxics  map[string]map[string][]byte // cloud -> toxic name -> its JSON spec
}

// Up makes the namespaces, starts the proxies and both clusters (at the same
// time) and wires each broker's PROXIED listener to its proxy.
func Up(ctx context.Context, o Options) (_ *Clouds, err error) {
	n, err := NewNet(ctx, o.Owner)
	if err != nil {
		return nil, err
	}
	c := &Clouds{
		Net:     n,
		server:  toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		proxies: map[string][]*toxiproxy.Proxy{},
		faults:  map[string][]string{},
		toxics:  map[string]map[string][]byte{},
	}
	defer func() {
		if err != nil {
			_ = c.Down(context.Background())
		}
	}()
	root := o.Root
	if root == "" {
		root = kafkatest.DefaultRoot()
	}
	specs := map[string]kafkatest.Options{AWS: o.Source, GCP: o.Target}
	clusters := map[string]*kafkatest.Cluster{}
	var mu sync.Mutex
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k, cloud := range []string{AWS, GCP} {
		opts := specs[cloud]
		l := n.Links[cloud]
		opts.Host, opts.Netns = l.NsAddr.String(), l.Netns
		brokers := 1
		if opts.Topology == kafkatest.TopologySeed {
			brokers = 3
		}
		var addrs []string
		for b := range brokers {
			port, err := kafkatest.FreePort("127.0.0.1")
			if err != nil {
				return nil, err
			}
			p := toxiproxy.NewProxy(c.server, fmt.Sprintf("%s-broker-%d", cloud, b+1), fmt.Sprintf("127.0.0.1:%d", port), "")
			if err := p.Start(); err != nil {
				return nil, fmt.Errorf("start proxy for %s broker %d: %w", cloud, b+1, err)
			}
			c.proxies[cloud] = append(c.proxies[cloud], p)
			addrs = append(addrs, p.Listen)
		}
		opts.Proxied = strings.Join(addrs, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kafkatest.StartIn(ctx, root, o.Name+"-"+cloud, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[k] = fmt.Errorf("start %s cluster: %w", cloud, err)
				return
			}
			clusters[cloud] = cl
		}()
	}
	wg.Wait()
	c.Source, c.Target = clusters[AWS], clusters[GCP]
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for cloud, cl := range clusters {
		for i, b := range cl.Brokers() {
			p := c.proxies[cloud][i]
			up := b.Addr(kafkatest.ListenerProxied)
			if err := p.Update(&toxiproxy.Proxy{Listen: p.Listen, Upstream: up, Enabled: true}); err != nil {
				return nil, fmt.Errorf("point proxy %s at %s: %w", p.Name, up, err)
			}
		}
	}
	return c, nil
}

// Cluster returns the cluster of cloud.
func (c *Clouds) Cluster(cloud string) (*kafkatest.Cluster, error) {
	switch cloud {
	case AWS:
		return c.Source, nil
	case GCP:
		return c.Target, nil
	}
	return nil, fmt.Errorf("no cloud %q (want %s or %s)", cloud, AWS, GCP)
}

// Down stops the proxies and clusters and deletes the namespaces. The clusters'
// directories stay (their logs), removed by the next start of the same names.
func (c *Clouds) Down(ctx context.Context) error {
	var errs []error
	c.mu.Lock()
	for _, ps := range c.proxies {
		for _, p := range ps {
			p.Stop()
		}
	}
	c.proxies = map[string][]*toxiproxy.Proxy{}
	c.mu.Unlock()
	for _, cl := range []*kafkatest.Cluster{c.Source, c.Target} {
		if cl != nil {
			errs = append(errs, cl.Stop())
		}
	}
	if c.Net != nil {
		errs = append(errs, c.Net.Remove(ctx))
	}
	return errors.Join(errs...)
}

// Cut cuts cloud's link: every connection between it and the root namespace
// hangs, new ones fail, and the cloud goes on inside.
func (c *Clouds) Cut(ctx context.Context, cloud string) error {
	if err := c.Net.Cut(ctx, cloud); err != nil {
		return err
	}
	c.note(cloud, "cut", "cut")
	return nil
}

// Heal restores cloud's link.
func (c *Clouds) Heal(ctx context.Context, cloud string) error {
	if err := c.Net.Heal(ctx, cloud); err != nil {
		return err
	}
	c.note(cloud, "cut", "")
	return nil
}

// Bandwidth caps cloud's link; 0 lifts the cap.
func (c *Clouds) Bandwidth(ctx context.Context, cloud string, bitsPerSecond int64) error {
	if err := c.Net.Bandwidth(ctx, cloud, bitsPerSecond); err != nil {
		return err
	}
	s := ""
	if bitsPerSecond > 0 {
		s = fmt.Sprintf("bandwidth %d Mbit/s", bitsPerSecond/1_000_000)
	}
	c.note(cloud, "bandwidth", s)
	return nil
}

// Latency delays both directions of every connection through cloud's proxies by
// half of latency, each chunk by a further uniform ±jitter/2: a request-response
// round trip takes latency ± jitter more. 0 removes it.
func (c *Clouds) Latency(cloud string, latency, jitter time.Duration) error {
	if latency <= 0 {
		c.note(cloud, "latency", "")
		return c.removeToxics(cloud, "latency_up", "latency_down")
	}
	for _, dir := range []string{"upstream", "downstream"} {
		if err := c.setToxic(cloud, map[string]any{
			"name": "latency_" + dir[:len(dir)-len("stream")], "type": "latency", "stream": dir, "toxicity": 1.0,
			"attributes": map[string]any{"latency": latency.Milliseconds() / 2, "jitter": jitter.Milliseconds() / 2},
		}); err != nil {
			return err
		}
	}
	c.note(cloud, "latency", fmt.Sprintf("latency %s ± %s", latency, jitter))
	return nil
}

// Resets makes a share (0 to 1) of the connections through cloud's proxies,
// drawn per direction, fail: the first data such a direction carries is
// swallowed and the connection is reset after (toxiproxy's reset_peer). A
// client sees its request go unanswered for after, then a TCP reset; it
// reconnects and the new connection draws again, so resets go on under load.
// 0 stops them.
func (c *Clouds) Resets(cloud string, share float64, after time.Duration) error {
	if share <= 0 {
		c.note(cloud, "resets", "")
		return c.removeToxics(cloud, "reset_up", "reset_down")
	}
	for _, dir := range []string{"upstream", "downstream"} {
		if err := c.setToxic(cloud, map[string]any{
			"name": "reset_" + dir[:len(dir)-len("stream")], "type": "reset_peer", "stream": dir, "toxicity": share,
			"attributes": map[string]any{"timeout": after.Milliseconds()},
		}); err != nil {
			return err
		}
	}
	c.note(cloud, "resets", fmt.Sprintf("resets %.0f%% after %s", 100*share, after))
	return nil
}

// Clear lifts every fault of cloud: heals the link, removes the cap and the
// proxies' toxics.
func (c *Clouds) Clear(ctx context.Context, cloud string) error {
	errs := []error{c.Heal(ctx, cloud), c.Bandwidth(ctx, cloud, 0)}
	c.mu.Lock()
	if len(c.toxics[cloud]) > 0 {
		c.toxics[cloud] = nil
		errs = append(errs, c.rebuild(cloud))
	}
	c.faults[cloud] = nil
	c.mu.Unlock()
	return errors.Join(errs...)
}

// Describe lists the faults in force, per cloud.
func (c *Clouds) Describe() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for k, v := range c.faults {
		if len(v) > 0 {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

// note records fault kind of cloud as s ("" when lifted).
func (c *Clouds) note(cloud, kind, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keep []string
	for _, f := range c.faults[cloud] {
		if !strings.HasPrefix(f, kind) {
			keep = append(keep, f)
		}
	}
	if s != "" {
		keep = append(keep, s)
	}
	c.faults[cloud] = keep
}

// setToxic adds (or replaces) a toxic on every proxy of cloud.
func (c *Clouds) setToxic(cloud string, spec map[string]any) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode toxic: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.proxies[cloud]
	if !ok {
		return fmt.Errorf("no cloud %q (want %s or %s)", cloud, AWS, GCP)
	}
	name := spec["name"].(string)
	_, replace := c.toxics[cloud][name]
	if c.toxics[cloud] == nil {
		c.toxics[cloud] = map[string][]byte{}
	}
	c.toxics[cloud][name] = data
	if replace {
		return c.rebuild(cloud)
	}
	for _, p := range ps {
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(string(data))); err != nil {
			return fmt.Errorf("add toxic %s to %s: %w", name, p.Name, err)
		}
	}
	return nil
}

func (c *Clouds) removeToxics(cloud string, names ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	removed := false
	for _, name := range names {
		if _, ok := c.toxics[cloud][name]; ok {
			delete(c.toxics[cloud], name)
			removed = true
		}
	}
	if !removed {
		return nil
	}
	return c.rebuild(cloud)
}

// rebuild replaces every proxy of cloud with a new one on the same address
// that carries the toxics of c.toxics[cloud], and is how toxics are taken away.
// Toxiproxy's own removal can deadlock: a latency toxic interrupted while it
// holds data sends it on to the next toxic, and when that is a reset that has
// already ended its connection, nobody receives, and the removal (holding the
// proxy's lock, so that no new connection is accepted either) waits forever.
// Connections through the old proxies are closed: lifting a fault costs each
// client of that cloud one reconnection. c.mu must be held.
func (c *Clouds) rebuild(cloud string) error {
	ps := c.proxies[cloud]
	for i, p := range ps {
		listen, upstream := p.Listen, p.Upstream
		p.Stop()
		n := toxiproxy.NewProxy(c.server, p.Name, listen, upstream)
		var err error
		for range 50 {
			// The old listener's port is free again at once; a short retry
			// covers a slow close.
			if err = n.Start(); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // waiting for a port to be released, not synchronisation
		}
		if err != nil {
			return fmt.Errorf("restart proxy %s on %s: %w", p.Name, listen, err)
		}
		for name, data := range c.toxics[cloud] {
			if _, err := n.Toxics.AddToxicJson(strings.NewReader(string(data))); err != nil {
				return fmt.Errorf("add toxic %s to %s: %w", name, p.Name, err)
			}
		}
		ps[i] = n
	}
	return nil
}

// State is what tools/clouds writes for the commands that follow `up`.
type State struct {
	// Net is the namespaces and links.
	Net *Net `json:"net"`
	// Source and Target are the clusters' directories.
	Source string `json:"source"`
	Target string `json:"target"`
	// SourceProxied and TargetProxied are the proxies kmigrate bootstraps from.
	SourceProxied []string `json:"source_proxied"`
	TargetProxied []string `json:"target_proxied"`
	// Control is the unix socket of the process that serves the proxies.
	Control string `json:"control"`
}

// SaveState writes c's state to path.
func (c *Clouds) SaveState(path, control string) error {
	s := State{Net: c.Net, Source: c.Source.Dir, Target: c.Target.Dir,
		SourceProxied: c.Source.ProxiedBootstrap, TargetProxied: c.Target.ProxiedBootstrap, Control: control}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}
