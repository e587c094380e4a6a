// Package clouds runs kmigrate between two "clouds" on one machine and injects the
// faults of a long cross-cloud link, for the fault suite and tools/clouds.
//
// The model: the source cluster runs in a network namespace called AWS, the target
// in one called GCP, each joined to the root namespace by a veth pair on addresses
// of 10.213.<instance>.0/24 that the harness gives itself; nothing is routed
// between the two clouds. kmigrate runs in the root namespace. Every broker has a
// PROXIED listener that advertises a proxy on loopback in the root namespace (one
// proxy per broker, toxiproxy used as a library), so a client that bootstraps from
// the proxies reaches every broker through its proxy; the PLAINTEXT listener
// advertises the broker's own address for clients inside the cloud (the ledger's
// producers and consumers) and for the harness's checks. With
// kafkatest.Options.ProxiedSecure the PROXIED listener is SASL_SSL, so that
// kmigrate crosses the link only over TLS with SCRAM.
//
// Faults: a link cut and heal (ip link down/up on the root end: the cloud keeps
// working inside, connections across hang), a bandwidth cap (tc tbf on both ends),
// latency with jitter and connection resets (toxics on the cloud's proxies; this
// kernel has no netem). Lifting a toxic replaces the cloud's proxies with new
// ones on the same addresses (toxiproxy's own removal can deadlock under latency
// and resets), so it cuts the connections through them once. Broker kills go
// through kafkatest.
//
// The ledger (ledger.go) is an independent witness: Apache's VerifiableProducer
// writes inside the source cloud and prints every acknowledged record; the
// comparison reads both clusters whole and checks that every acknowledged record
// is on the target exactly once, in source order per partition.
//
// Namespaces are named with Prefix and an instance index; each instance records its
// owner process, and every start sweeps the instances of dead owners. Making
// namespaces needs root and ip: without them NewNet returns ErrNoNamespaces, and
// the tests fail with it (only `go test -short` skips them, as every JVM test).
package clouds
