// Package config holds kmigrate's configuration: the YAML schema, its defaults, a
// strict loader and validation.
//
// Loading is strict: an unknown key, a value of the wrong kind, a bad regular
// expression or a missing required setting is an error, and every error in a file is
// reported at once, each prefixed with file:line:col and the dotted key it concerns.
// Secrets (passwords, tokens, keys) are held in [Secret], which never prints its
// value, so neither logs, errors nor `kmigrate config check` output can leak them.
package config

import (
	"regexp"
	"strconv"
	"time"
)

// Config is one migration: where records come from, where they go, what is selected
// and how the process runs.
type Config struct {
	// Migration names the migration. It keys kmigrate's state on the target cluster
	// (offset map, checkpoints) and its consumer group on the source, so two
	// migrations between the same clusters never mix.
	Migration string `yaml:"migration"`
	// ReverseOf is set on the reverse migration of a cut-over one (kmigrate
	// --reverse): the id of the forward migration. Never read from a file.
	ReverseOf string `yaml:"-"`
	// Source is the cluster records are copied from.
	Source Cluster `yaml:"source"`
	// Target is the cluster records are copied to.
	Target Cluster `yaml:"target"`
	// Topics selects the source topics to migrate.
	Topics Selection `yaml:"topics"`
	// Groups selects the source consumer groups whose offsets are translated.
	Groups Selection `yaml:"groups"`
	// Replication tunes the copy engine.
	Replication Replication `yaml:"replication"`
	// GroupSync tunes consumer-group translation.
	GroupSync GroupSync `yaml:"group_sync"`
	// HTTP configures the metrics, health and dashboard server of `kmigrate run`.
	HTTP HTTP `yaml:"http"`
	// Metrics configures optional metric pushing (scraping /metrics needs nothing).
	Metrics Metrics `yaml:"metrics"`
	// Schemas, when present, migrates a Confluent-compatible Schema Registry and
	// lets `kmigrate verify` check the schema ids found in the migrated records.
	Schemas *Schemas `yaml:"schemas"`
	// ACLs maps source principals to target principals for `kmigrate acls` and
	// `kmigrate quotas`.
	ACLs ACLs `yaml:"acls"`

	// File is the path the configuration was loaded from, empty if built in code.
	File string `yaml:"-"`
	// InlineSecrets lists the keys of the secrets written in the file itself
	// rather than taken from ${ENV_VAR} or a file; `config check` warns about
	// each (the file then holds a credential).
	InlineSecrets []string `yaml:"-"`
}

// Cluster is how to reach one Kafka cluster.
type Cluster struct {
	// BootstrapServers lists host:port seeds. Required.
	BootstrapServers []string `yaml:"bootstrap_servers"`
	// ClientID is sent with every request; it shows in broker logs and quotas.
	// Default "kmigrate".
	ClientID string `yaml:"client_id"`
	// TLS, when present, encrypts connections.
	TLS *TLS `yaml:"tls"`
	// SASL, when present, authenticates connections.
	SASL *SASL `yaml:"sasl"`
	// RequestTimeout bounds one request round trip beyond its own wait time.
	// Default 30s.
	RequestTimeout Duration `yaml:"request_timeout"`
}

// TLS configures an encrypted connection. Its presence turns TLS on; with no field
// set, the system roots verify the brokers.
type TLS struct {
	// CAFile is a PEM bundle of the CAs that verify brokers; default the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and key (PEM) for mutual TLS.
	// Both or neither.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client key (PEM) matching CertFile.
	KeyFile string `yaml:"key_file"`
	// ServerName overrides the name checked in broker certificates; default the
	// host of the address dialled.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns certificate verification off. Explicit, never a
	// default, and reported by `config check`.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL mechanisms kmigrate supports.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismAWSMSKIAM   = "AWS_MSK_IAM"
	MechanismOAuthBearer = "OAUTHBEARER"
)

// SASL configures authentication.
type SASL struct {
	// Mechanism is one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, AWS_MSK_IAM and
	// OAUTHBEARER. Required.
	Mechanism string `yaml:"mechanism"`
	// Username for PLAIN and SCRAM.
	Username string `yaml:"username"`
	// Password for PLAIN and SCRAM; may be ${ENV_VAR}. Exclusive with PasswordFile.
	Password Secret `yaml:"password"`
	// PasswordFile is a file whose content (trailing newline trimmed) is the password.
	PasswordFile string `yaml:"password_file"`
	// AWS configures AWS_MSK_IAM.
	AWS *AWSIAM `yaml:"aws"`
	// OAuth configures OAUTHBEARER.
	OAuth *OAuth `yaml:"oauth"`
}

// AWSIAM configures AWS_MSK_IAM. Without static keys, credentials come from the
// standard AWS chain: environment variables, shared config and credentials files
// (with Profile), web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), and
// the instance or container role. They are refreshed before they expire.
type AWSIAM struct {
	// Region of the MSK cluster. Required.
	Region string `yaml:"region"`
	// Profile selects a profile in the shared AWS files.
	Profile string `yaml:"profile"`
	// AccessKeyID, with SecretAccessKey and optional SessionToken, sets static
	// credentials instead of the chain.
	AccessKeyID string `yaml:"access_key_id"`
	// SecretAccessKey pairs with AccessKeyID; may be ${ENV_VAR}.
	SecretAccessKey Secret `yaml:"secret_access_key"`
	// SessionToken is the optional session token of temporary static credentials.
	SessionToken Secret `yaml:"session_token"`
}

// OAuth configures OAUTHBEARER. The token comes from a file or a command and is
// fetched again RefreshBefore its expiry (read from the token's JWT exp claim, or
// from expires_in when the command prints JSON), or every RefreshInterval when the
// expiry is unknown.
type OAuth struct {
	// TokenFile holds the token (as written by a sidecar, for example).
	TokenFile string `yaml:"token_file"`
	// TokenCommand prints the token, or JSON with access_token and expires_in.
	// The first element is the program, the rest its arguments; no shell.
	TokenCommand []string `yaml:"token_command"`
	// RefreshBefore is how long before expiry a new token is fetched. Default 1m.
	RefreshBefore Duration `yaml:"refresh_before"`
	// RefreshInterval is how often a token of unknown expiry is fetched again.
	// Default 5m.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// Extensions are SASL extensions sent with the token (some brokers need them).
	Extensions map[string]string `yaml:"extensions"`
}

// Selection includes and excludes names by regular expression. A name is selected
// when it fully matches one include pattern (all names when Include is empty) and no
// exclude pattern. Patterns are anchored: "orders" does not select "orders-dlq".
type Selection struct {
	// Include lists the patterns a name must match one of; default everything.
	Include []string `yaml:"include"`
	// Exclude lists the patterns a name must match none of.
	Exclude []string `yaml:"exclude"`

	include []*regexp.Regexp
	exclude []*regexp.Regexp
}

// Replication tunes the copy engine of `kmigrate run`.
type Replication struct {
	// TopicPrefix is prepended to every target topic name (rename rule); default
	// none, the identity mapping.
	TopicPrefix string `yaml:"topic_prefix"`
	// TopicSuffix is appended to every target topic name; default none.
	TopicSuffix string `yaml:"topic_suffix"`
	// ReplicationFactor overrides the target replication factor per topic name
	// (source name). Default: the source's, capped at the target's broker count.
	ReplicationFactor map[string]int `yaml:"replication_factor"`
	// Compression of the target producer: none, gzip, snappy, lz4 or zstd.
	// Default lz4.
	Compression string `yaml:"compression"`
	// DiscoveryInterval is how often new topics, partition increases and config
	// changes on the source are picked up. Default 30s.
	DiscoveryInterval Duration `yaml:"discovery_interval"`
	// CheckpointInterval is how often each partition's progress is persisted on the
	// target. Default 1s.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// MaxBytesPerSecond throttles the whole process (bytes of record data per
	// second); 0 means no limit.
	MaxBytesPerSecond int64 `yaml:"max_bytes_per_second"`
	// FetchMaxBytes bounds one fetch response; the records waiting for the
	// target are bounded at twice this, so it sets the memory used. Default 8 MiB.
	FetchMaxBytes int32 `yaml:"fetch_max_bytes"`
	// FetchMaxPartitionBytes bounds one partition in a fetch. Default 1 MiB.
	FetchMaxPartitionBytes int32 `yaml:"fetch_max_partition_bytes"`
	// BatchMaxBytes bounds one produced record batch. Default 1 MiB.
	BatchMaxBytes int32 `yaml:"batch_max_bytes"`
	// Linger is how long the producer waits to fill a batch. Default 5ms.
	Linger Duration `yaml:"linger"`
	// MaxOffsetMapRuns bounds one partition's offset map in memory; beyond it the
	// oldest runs are coarsened in the safe direction (a consumer may re-read, never
	// skip) and reports say so. Default 100000.
	MaxOffsetMapRuns int `yaml:"max_offset_map_runs"`
	// ShutdownTimeout bounds flushing and checkpointing on SIGTERM. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// ScaleOut lets several `run` processes of the migration share its
	// partitions: Kafka's group protocol assigns them, through the writer
	// group on the source. Default false: a second `run` is refused. Every
	// process of a migration must agree on it.
	ScaleOut bool `yaml:"scale_out"`
	// CheckpointMaxPartitions bounds the state topic's write rate: at most
	// this many partitions are checkpointed per checkpoint interval, those
	// checkpointed longest ago first (a partition's checkpoint is one or two
	// small records). Beyond it, each partition's checkpoint is simply less
	// frequent; a crash leaves more to reconcile, never anything lost.
	// Default 2000. The final checkpoint on shutdown writes them all.
	CheckpointMaxPartitions int `yaml:"checkpoint_max_partitions"`
}

// GroupSync tunes consumer-group translation.
type GroupSync struct {
	// Enabled turns translation on; default true.
	Enabled *bool `yaml:"enabled"`
	// Interval between translation passes. Default 5s.
	Interval Duration `yaml:"interval"`
	// AllowBackwards lets a pass move a target group's offset backwards. Default
	// false: a target group that is ahead is left alone and reported.
	AllowBackwards bool `yaml:"allow_backwards"`
}

// HTTP configures the server of `kmigrate run`: /metrics, /-/healthy, /-/ready, the
// JSON status API and the dashboard.
type HTTP struct {
	// Listen is the address to listen on. Default 127.0.0.1:8080; "" or "off"
	// disables the server.
	Listen string `yaml:"listen"`
	// ReadyMaxLag is the total lag in records under which /-/ready answers 200.
	// Default 1000.
	ReadyMaxLag int64 `yaml:"ready_max_lag"`
}

// Metrics configures metric pushing for users who do not scrape /metrics.
type Metrics struct {
	// DogStatsD, when its address is set, pushes metrics over UDP.
	DogStatsD DogStatsD `yaml:"dogstatsd"`
}

// DogStatsD configures pushing metrics to a DogStatsD agent.
type DogStatsD struct {
	// Address is host:port of the agent, for example 127.0.0.1:8125.
	Address string `yaml:"address"`
	// Interval between pushes. Default 10s.
	Interval Duration `yaml:"interval"`
	// Tags are added to every metric, as key:value.
	Tags []string `yaml:"tags"`
}

// Schemas configures the migration of a Confluent-compatible Schema Registry.
type Schemas struct {
	// Source is the registry schemas are read from. Required.
	Source Registry `yaml:"source"`
	// Target is the registry schemas are written to, in IMPORT mode so that
	// schema ids and versions are kept. Required.
	Target Registry `yaml:"target"`
	// IncludeDeleted copies soft-deleted versions too (registered, then
	// soft-deleted again on the target). Default false: they are left out.
	IncludeDeleted bool `yaml:"include_deleted"`
	// RequestTimeout bounds one REST request. Default 30s.
	RequestTimeout Duration `yaml:"request_timeout"`
}

// Registry is how to reach one Schema Registry: its REST API, or, for reading
// only, the topic that stores its schemas on the migration's Kafka cluster.
type Registry struct {
	// URL is the base URL of the REST API, for example http://registry:8081 or
	// https://registry.example/apis/ccompat/v7. Exclusive with Topic.
	URL string `yaml:"url"`
	// Topic names the registry's storage topic (Confluent's _schemas) on this
	// side's Kafka cluster; kmigrate reads its schema records instead of the REST
	// API. Enough for `plan` and `verify`; `sync` needs URL. Exclusive with URL.
	Topic string `yaml:"topic"`
	// BasicAuth, when present, authenticates every request.
	BasicAuth *BasicAuth `yaml:"basic_auth"`
	// TLS configures https URLs; default the system roots.
	TLS *TLS `yaml:"tls"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	// Username is required.
	Username string `yaml:"username"`
	// Password may be ${ENV_VAR}. Exclusive with PasswordFile.
	Password Secret `yaml:"password"`
	// PasswordFile is a file whose content (trailing newline trimmed) is the
	// password.
	PasswordFile string `yaml:"password_file"`
}

// ACLs says how a source principal is named on the target, for the ACLs and
// client quotas kmigrate copies. A principal ("User:alice") found in Principals
// maps to its value; otherwise the first Rewrite rule whose Match matches the
// whole principal rewrites it; otherwise it stays as it is. Both sides of every
// mapping are "Type:name" principals.
type ACLs struct {
	// Principals maps a source principal to its target principal exactly, for
	// example "User:alice": "User:alice@gcp".
	Principals map[string]string `yaml:"principals"`
	// Rewrite rules apply, in order, to principals not in Principals.
	Rewrite []PrincipalRewrite `yaml:"rewrite"`
}

// PrincipalRewrite renames the principals a regular expression matches.
type PrincipalRewrite struct {
	// Match is an anchored regular expression over the whole principal, for
	// example "User:arn:aws:iam::.*:role/(.*)".
	Match string `yaml:"match"`
	// Replace is the target principal, with $1 or $name for Match's groups,
	// for example "User:$1" (${...} is an environment variable, as everywhere
	// in the file).
	Replace string `yaml:"replace"`

	re *regexp.Regexp
}

// MapPrincipal returns the target principal of source principal p and how it
// was found: "table", "rewrite[i]" or "" when p stays as it is. Load compiles
// the rules; code that builds ACLs by hand calls Compile first.
func (a *ACLs) MapPrincipal(p string) (string, string) {
	if t, ok := a.Principals[p]; ok {
		return t, "table"
	}
	for i, r := range a.Rewrite {
		if r.re == nil {
			continue
		}
		if m := r.re.FindStringSubmatchIndex(p); m != nil {
			return string(r.re.ExpandString(nil, r.Replace, p, m)), "rewrite[" + strconv.Itoa(i) + "]"
		}
	}
	return p, ""
}

// Compile compiles the rewrite rules; Load calls it.
func (a *ACLs) Compile() error {
	for i := range a.Rewrite {
		re, err := compileAnchored(a.Rewrite[i].Match)
		if err != nil {
			return err
		}
		a.Rewrite[i].re = re
	}
	return nil
}

// Duration is a time.Duration written as a Go duration string ("5s", "1m30s").
type Duration struct {
	time.Duration
}

// GroupSyncEnabled reports whether group translation runs.
func (g GroupSync) GroupSyncEnabled() bool { return g.Enabled == nil || *g.Enabled }

// Match reports whether name is selected.
func (s *Selection) Match(name string) bool {
	if len(s.include) > 0 || len(s.Include) > 0 {
		ok := false
		for _, re := range s.include {
			if re.MatchString(name) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, re := range s.exclude {
		if re.MatchString(name) {
			return false
		}
	}
	return true
}

// Compile compiles the patterns; Load calls it. Code that builds a Selection by
// hand calls it before Match.
func (s *Selection) Compile() error {
	s.include, s.exclude = nil, nil
	for _, p := range s.Include {
		re, err := compileAnchored(p)
		if err != nil {
			return err
		}
		s.include = append(s.include, re)
	}
	for _, p := range s.Exclude {
		re, err := compileAnchored(p)
		if err != nil {
			return err
		}
		s.exclude = append(s.exclude, re)
	}
	return nil
}

func compileAnchored(p string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + p + `)$`)
}
