// Package kafkatest runs real Apache Kafka clusters for kmigrate's tests and tools.
//
// The model: a cluster is a set of JVM processes on 127.0.0.1 (Apache Kafka in KRaft
// mode, jars from Maven Central fetched by tools/kafka/fetch into a cache outside the
// repository) plus a directory that holds everything about it: one folder per node
// with its server.properties, data and server.log, the TLS files, and cluster.json,
// the state (pids, ports, roles, bootstrap addresses, users and passwords). Any
// process that can read cluster.json can use, inspect or stop the cluster; nothing
// else is remembered, so the command-line front (tools/kafka/cluster) and tests share
// the same clusters.
//
// Two topologies exist: "single" (one combined broker+controller node) and "seed"
// (three controllers, ids 101-103, and three brokers, ids 1-3, replication factor 3,
// min.insync.replicas 2, like a production cluster). Options add a SASL_PLAINTEXT
// listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; users "admin" and "alice"), an SSL
// listener (a CA and a broker certificate made for the cluster) and the
// StandardAuthorizer. A PLAINTEXT listener always exists. With the authorizer, its
// principal is User:ANONYMOUS, which is not a super user and has no ACLs, so it can
// list brokers but not touch a topic until a test grants it ACLs: a restricted
// principal is always at hand. "admin" is a super user; "alice" is an ordinary user.
// Brokers and controllers talk to each other over their own listeners (INTERNAL and
// CONTROLLER) as the super user "kafka", never over the listeners tests use.
//
// Options.Host, Options.Netns and Options.Proxied put a cluster on an address of
// a network namespace, run its JVMs there, and give every broker a PROXIED listener
// that advertises a proxy's address (the two-clouds fault harness, internal/clouds).
//
// Tests share clusters through Shared and Main. With KMIGRATE_TEST_CLUSTERS set to a
// directory, a cluster of a given name is started once (under a file lock) and reused
// by every test package of the run; the runner stops them all at the end with
// `tools/kafka/cluster down --all --dir "$KMIGRATE_TEST_CLUSTERS"`. Without it, a
// package starts its clusters on first use and Main stops them when its tests finish.
// The well-known names are listed in SharedNames. Tests that stop or kill brokers
// must use a cluster of their own (StartT), because shared clusters serve other
// packages at the same time.
//
// Nodes are detached JVMs (their own session, output in their node's server.log):
// they outlive the process that started them, and every stop is by pid, checked
// against the node's command line so that a reused pid is never signalled. The
// first start on a machine also builds a class data sharing archive of Kafka's
// classes in the jar cache (Prepare does it ahead), which cuts the CPU of every
// later JVM start by about 40%.
//
// Readiness is exact: Start returns only when every broker is registered and
// unfenced, as seen by a metadata request. Timing and memory figures depend on the
// machine; the JVM heaps are small by default and can be overridden with
// KAFKA_HEAP_OPTS and KAFKA_JVM_OPTS.
package kafkatest
