package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by Load to settings the file leaves out.
const (
	DefaultClientID                = "kmigrate"
	DefaultRequestTimeout          = 30 * time.Second
	DefaultCompression             = "lz4"
	DefaultDiscoveryInterval       = 30 * time.Second
	DefaultCheckpointInterval      = time.Second
	DefaultFetchMaxBytes           = 8 << 20
	DefaultFetchMaxPartitionBytes  = 1 << 20
	DefaultBatchMaxBytes           = 1 << 20
	DefaultLinger                  = 5 * time.Millisecond
	DefaultMaxOffsetMapRuns        = 100000
	DefaultCheckpointMaxPartitions = 2000
	DefaultShutdownTimeout         = 30 * time.Second
	DefaultGroupSyncInterval       = 5 * time.Second
	DefaultHTTPListen              = "127.0.0.1:8080"
	DefaultReadyMaxLag             = 1000
	DefaultOAuthRefreshBefore      = time.Minute
	DefaultOAuthRefreshInterval    = 5 * time.Minute
	DefaultDogStatsDInterval       = 10 * time.Second
	DefaultSchemasRequestTimeout   = 30 * time.Second
)

// migrationID is what a migration id may contain: it becomes part of topic and
// group names, so Kafka's legal name characters, and short.
var migrationID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// Compressions lists the accepted values of replication.compression.
var Compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Default returns a configuration with every default set, for code and tests that
// build one without a file.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	for _, cl := range []*Cluster{&c.Source, &c.Target} {
		if cl.ClientID == "" {
			cl.ClientID = DefaultClientID
		}
		if cl.RequestTimeout.Duration == 0 {
			cl.RequestTimeout.Duration = DefaultRequestTimeout
		}
		if s := cl.SASL; s != nil {
			s.Mechanism = strings.ToUpper(s.Mechanism)
			if o := s.OAuth; o != nil {
				if o.RefreshBefore.Duration == 0 {
					o.RefreshBefore.Duration = DefaultOAuthRefreshBefore
				}
				if o.RefreshInterval.Duration == 0 {
					o.RefreshInterval.Duration = DefaultOAuthRefreshInterval
				}
			}
		}
	}
	r := &c.Replication
	if r.Compression == "" {
		r.Compression = DefaultCompression
	}
	setDur(&r.DiscoveryInterval, DefaultDiscoveryInterval)
	setDur(&r.CheckpointInterval, DefaultCheckpointInterval)
	setDur(&r.Linger, DefaultLinger)
	setDur(&r.ShutdownTimeout, DefaultShutdownTimeout)
	if r.FetchMaxBytes == 0 {
		r.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if r.FetchMaxPartitionBytes == 0 {
		r.FetchMaxPartitionBytes = DefaultFetchMaxPartitionBytes
	}
	if r.BatchMaxBytes == 0 {
		r.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if r.MaxOffsetMapRuns == 0 {
		r.MaxOffsetMapRuns = DefaultMaxOffsetMapRuns
	}
	if r.CheckpointMaxPartitions == 0 {
		r.CheckpointMaxPartitions = DefaultCheckpointMaxPartitions
	}
	setDur(&c.GroupSync.Interval, DefaultGroupSyncInterval)
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultHTTPListen
	}
	if c.HTTP.ReadyMaxLag == 0 {
		c.HTTP.ReadyMaxLag = DefaultReadyMaxLag
	}
	setDur(&c.Metrics.DogStatsD.Interval, DefaultDogStatsDInterval)
	if c.Schemas != nil {
		setDur(&c.Schemas.RequestTimeout, DefaultSchemasRequestTimeout)
	}
}

func setDur(d *Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}

// validate reports every invalid or inconsistent setting through p.
func (c *Config) validate(p *parser) {
	if c.Migration == "" {
		p.errorAt("migration", "required: a name for this migration, such as aws-to-gcp")
	} else if !migrationID.MatchString(c.Migration) {
		p.errorAt("migration", "%q may only contain letters, digits, '.', '_' and '-' (at most 100)", c.Migration)
	}
	c.Source.validate(p, "source")
	c.Target.validate(p, "target")
	for _, s := range []struct {
		key string
		sel *Selection
	}{{"topics", &c.Topics}, {"groups", &c.Groups}} {
		checkPatterns(p, s.key+".include", s.sel.Include)
		checkPatterns(p, s.key+".exclude", s.sel.Exclude)
		_ = s.sel.Compile() // errors reported above
	}
	r := &c.Replication
	if !contains(Compressions, r.Compression) {
		p.errorAt("replication.compression", "%q is not one of %s", r.Compression, strings.Join(Compressions, ", "))
	}
	for topic, rf := range r.ReplicationFactor {
		if rf < 1 || rf > 32767 {
			p.errorAt("replication.replication_factor."+topic, "must be between 1 and 32767, got %d", rf)
		}
	}
	if strings.ContainsAny(r.TopicPrefix+r.TopicSuffix, " /\\,:") {
		p.errorAt("replication.topic_prefix", "topic prefix and suffix may only contain letters, digits, '.', '_' and '-'")
	}
	if r.MaxBytesPerSecond < 0 {
		p.errorAt("replication.max_bytes_per_second", "must not be negative")
	}
	if r.FetchMaxBytes < 1024 {
		p.errorAt("replication.fetch_max_bytes", "must be at least 1024, got %d", r.FetchMaxBytes)
	}
	if r.FetchMaxPartitionBytes < 1024 || r.FetchMaxPartitionBytes > r.FetchMaxBytes {
		p.errorAt("replication.fetch_max_partition_bytes", "must be between 1024 and fetch_max_bytes (%d), got %d", r.FetchMaxBytes, r.FetchMaxPartitionBytes)
	}
	if r.BatchMaxBytes < 1024 {
		p.errorAt("replication.batch_max_bytes", "must be at least 1024, got %d", r.BatchMaxBytes)
	}
	if r.CheckpointMaxPartitions < 0 {
		p.errorAt("replication.checkpoint_max_partitions", "must not be negative, got %d", r.CheckpointMaxPartitions)
	}
	if r.MaxOffsetMapRuns < 16 {
		p.errorAt("replication.max_offset_map_runs", "must be at least 16, got %d", r.MaxOffsetMapRuns)
	}
	if l := c.HTTP.Listen; l != "off" {
		if _, port, err := net.SplitHostPort(l); err != nil {
			p.errorAt("http.listen", "%q is not host:port (use \"off\" to disable the server)", l)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.errorAt("http.listen", "port %q is not a number between 0 and 65535", port)
		}
	}
	c.ACLs.validate(p)
	if c.HTTP.ReadyMaxLag < 0 {
		p.errorAt("http.ready_max_lag", "must not be negative, got %d", c.HTTP.ReadyMaxLag)
	}
	if a := c.Metrics.DogStatsD.Address; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.errorAt("metrics.dogstatsd.address", "%q is not host:port", a)
		}
	}
	if s := c.Schemas; s != nil {
		s.Source.validate(p, "schemas.source")
		s.Target.validate(p, "schemas.target")
	}
}

func (r *Registry) validate(p *parser, key string) {
	switch {
	case r.URL == "" && r.Topic == "":
		p.errorAt(key+".url", "required: the registry's base URL (or topic: its storage topic, for plan and verify only)")
	case r.URL != "" && r.Topic != "":
		p.errorAt(key+".topic", "set url or topic, not both")
	case r.URL != "":
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.errorAt(key+".url", "%q is not an http:// or https:// URL", r.URL)
		} else if u.User != nil {
			p.errorAt(key+".url", "credentials do not belong in the URL: use basic_auth")
		}
	}
	if r.Topic != "" && (r.BasicAuth != nil || r.TLS != nil) {
		p.errorAt(key, "basic_auth and tls apply to url, not to topic (the topic is read with this side's Kafka settings)")
	}
	if t := r.TLS; t != nil {
		k := key + ".tls"
		for _, f := range []struct{ name, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if f.path != "" {
				checkReadable(p, k+"."+f.name, f.path)
			}
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			p.errorAt(k, "cert_file and key_file go together: set both for mutual TLS, or neither")
		}
	}
	if a := r.BasicAuth; a != nil {
		k := key + ".basic_auth"
		if a.Username == "" {
			p.errorAt(k+".username", "required for basic_auth")
		}
		switch {
		case a.Password.IsSet() && a.PasswordFile != "":
			p.errorAt(k+".password_file", "set password or password_file, not both")
		case !a.Password.IsSet() && a.PasswordFile == "":
			p.errorAt(k+".password", "required for basic_auth (or password_file)")
		case a.PasswordFile != "":
			checkReadable(p, k+".password_file", a.PasswordFile)
		}
	}
}

func (cl *Cluster) validate(p *parser, key string) {
	if len(cl.BootstrapServers) == 0 {
		p.errorAt(key+".bootstrap_servers", "required: at least one host:port")
	}
	for i, s := range cl.BootstrapServers {
		k := fmt.Sprintf("%s.bootstrap_servers[%d]", key, i)
		host, port, err := net.SplitHostPort(s)
		switch n, perr := strconv.Atoi(port); {
		case err != nil || port == "":
			p.errorAt(k, "%q is not host:port", s)
		case host == "":
			p.errorAt(k, "%q has no host", s)
		case perr != nil || n < 1 || n > 65535:
			p.errorAt(k, "%q: the port must be a number between 1 and 65535", s)
		}
	}
	if t := cl.TLS; t != nil {
		k := key + ".tls"
		for _, f := range []struct{ name, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if f.path != "" {
				checkReadable(p, k+"."+f.name, f.path)
			}
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			p.errorAt(k, "cert_file and key_file go together: set both for mutual TLS, or neither")
		}
	}
	if s := cl.SASL; s != nil {
		s.validate(p, key+".sasl")
	}
}

func (s *SASL) validate(p *parser, key string) {
	switch s.Mechanism {
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		if s.Username == "" {
			p.errorAt(key+".username", "required for %s", s.Mechanism)
		}
		switch {
		case s.Password.IsSet() && s.PasswordFile != "":
			p.errorAt(key+".password_file", "set password or password_file, not both")
		case !s.Password.IsSet() && s.PasswordFile == "":
			p.errorAt(key+".password", "required for %s (or password_file)", s.Mechanism)
		case s.PasswordFile != "":
			checkReadable(p, key+".password_file", s.PasswordFile)
		}
		if s.AWS != nil || s.OAuth != nil {
			p.errorAt(key, "aws and oauth settings do not apply to %s", s.Mechanism)
		}
	case MechanismAWSMSKIAM:
		if s.AWS == nil || s.AWS.Region == "" {
			p.errorAt(key+".aws.region", "required for AWS_MSK_IAM")
		}
		if a := s.AWS; a != nil && (a.AccessKeyID != "") != a.SecretAccessKey.IsSet() {
			p.errorAt(key+".aws.access_key_id", "access_key_id and secret_access_key go together")
		}
		if s.Username != "" || s.Password.IsSet() || s.PasswordFile != "" || s.OAuth != nil {
			p.errorAt(key, "username, password and oauth do not apply to AWS_MSK_IAM")
		}
	case MechanismOAuthBearer:
		o := s.OAuth
		switch {
		case o == nil || (o.TokenFile == "" && len(o.TokenCommand) == 0):
			p.errorAt(key+".oauth", "OAUTHBEARER needs oauth.token_file or oauth.token_command")
		case o.TokenFile != "" && len(o.TokenCommand) > 0:
			p.errorAt(key+".oauth", "set token_file or token_command, not both")
		case o.TokenFile != "":
			checkReadable(p, key+".oauth.token_file", o.TokenFile)
		}
		if s.Username != "" || s.Password.IsSet() || s.PasswordFile != "" || s.AWS != nil {
			p.errorAt(key, "username, password and aws do not apply to OAUTHBEARER")
		}
	case "":
		p.errorAt(key+".mechanism", "required: one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, AWS_MSK_IAM, OAUTHBEARER")
	default:
		p.errorAt(key+".mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, AWS_MSK_IAM, OAUTHBEARER", s.Mechanism)
	}
}

func checkReadable(p *parser, key, path string) {
	f, err := os.Open(path)
	if err != nil {
		p.errorAt(key, "cannot read %s: %v", path, unwrapPath(err))
		return
	}
	f.Close()
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func checkPatterns(p *parser, key string, patterns []string) {
	for i, pat := range patterns {
		if _, err := regexp.Compile(pat); err != nil {
			var msg string
			if re, ok := err.(*syntax.Error); ok {
				msg = string(re.Code)
			} else {
				msg = err.Error()
			}
			p.errorAt(fmt.Sprintf("%s[%d]", key, i), "bad regular expression %q: %s", pat, msg)
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// principalRE is a principal as Kafka's authorizer writes it: a type, a colon
// and a name, neither empty.
var principalRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*:.+$`)

// groupRef finds the group references of a replacement: $1, ${1}, $name, ${name}.
var groupRef = regexp.MustCompile(`\$(\{([^}]*)\}|([A-Za-z0-9_]+))`)

func (a *ACLs) validate(p *parser) {
	for _, src := range sortedKeysOf(a.Principals) {
		key := "acls.principals." + src
		if !principalRE.MatchString(src) {
			p.errorAt(key, "%q is not a principal: write Type:name, such as User:alice", src)
		}
		if dst := a.Principals[src]; !principalRE.MatchString(dst) {
			p.errorAt(key, "maps to %q, which is not a principal: write Type:name, such as User:alice", dst)
		}
	}
	for i, r := range a.Rewrite {
		key := fmt.Sprintf("acls.rewrite[%d]", i)
		if r.Match == "" {
			p.errorAt(key+".match", "required: a regular expression over the whole principal")
			continue
		}
		re, err := compileAnchored(r.Match)
		if err != nil {
			msg := err.Error()
			if se, ok := err.(*syntax.Error); ok {
				msg = string(se.Code)
			}
			p.errorAt(key+".match", "bad regular expression %q: %s", r.Match, msg)
			continue
		}
		if r.Replace == "" {
			p.errorAt(key+".replace", "required: the target principal, with $1 for the first group of match")
			continue
		}
		names := map[string]bool{}
		for _, n := range re.SubexpNames() {
			if n != "" {
				names[n] = true
			}
		}
		for _, m := range groupRef.FindAllStringSubmatch(r.Replace, -1) {
			ref := m[2] + m[3]
			if n, err := strconv.Atoi(ref); err == nil {
				if n > re.NumSubexp() {
					p.errorAt(key+".replace", "refers to group $%d, but match has %d", n, re.NumSubexp())
				}
			} else if !names[ref] {
				p.errorAt(key+".replace", "refers to group %q, which match does not name", ref)
			}
		}
		if !strings.Contains(r.Replace, "$") && !principalRE.MatchString(r.Replace) {
			p.errorAt(key+".replace", "%q is not a principal: write Type:name, such as User:$1", r.Replace)
		} else if !principalRE.MatchString(groupRef.ReplaceAllString(r.Replace, "x")) {
			p.errorAt(key+".replace", "%q does not make a principal: write Type:name, such as User:$1", r.Replace)
		}
	}
	_ = a.Compile() // errors reported above
}

func sortedKeysOf(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
