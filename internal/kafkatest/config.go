package kafkatest

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
)

// OAuthSessionMillis bounds a SASL session on the SASL listener of a cluster
// with Options.OAuth (connections.max.reauth.ms): the client must
// authenticate again, with a valid token, at least this often.
const OAuthSessionMillis = 10000

// Listener names. Tests reach brokers through PLAINTEXT, SASL and SSL; INTERNAL
// (broker to broker) and CONTROLLER (KRaft) belong to the cluster itself.
const (
	ListenerPlaintext = "PLAINTEXT"
	ListenerSASL      = "SASL"
	ListenerSSL       = "SSL"
	// ListenerProxied is a listener that advertises another address
	// (Options.Proxied): PLAINTEXT, or SASL_SSL with Options.ProxiedSecure.
	ListenerProxied  = "PROXIED"
	listenerInternal = "INTERNAL"
	listenerCtrl     = "CONTROLLER"
)

// internalUser is the super user that brokers and controllers authenticate as on
// INTERNAL and CONTROLLER when the authorizer is on.
const internalUser = "kafka"

const (
	plainModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	scramModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
	authorizer  = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
)

// props is an ordered properties file.
type props struct {
	keys []string
	vals map[string]string
}

func (p *props) set(k, v string) {
	if p.vals == nil {
		p.vals = map[string]string{}
	}
	if _, ok := p.vals[k]; !ok {
		p.keys = append(p.keys, k)
	}
	p.vals[k] = v
}

func (p *props) write(path string) error {
	var b strings.Builder
	b.WriteString("# Written by kmigrate's kafkatest; regenerated on every start of the cluster.\n")
	for _, k := range p.keys {
		// Values hold no newline or backslash: they are ports, paths and generated
		// hex passwords.
		fmt.Fprintf(&b, "%s=%s\n", k, p.vals[k])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// nodeConfig returns the server.properties of node n of cluster c.
func (c *Cluster) nodeConfig(n *Node) *props {
	p := &props{}
	o := c.Options
	p.set("process.roles", strings.Join(n.Roles, ","))
	p.set("node.id", strconv.Itoa(int(n.ID)))
	p.set("controller.quorum.voters", c.Voters)
	p.set("controller.listener.names", listenerCtrl)

	// Listeners. A controller has only CONTROLLER; a broker has the client
	// listeners plus INTERNAL; a combined node has both sets.
	secure := o.Authorizer // inter-node traffic authenticates only when ACLs are enforced
	internalProto := "PLAINTEXT"
	if secure {
		internalProto = "SASL_PLAINTEXT"
	}
	var listeners, advertised []string
	names := sortedListeners(n.Ports)
	for _, name := range names {
		l := fmt.Sprintf("%s://%s", name, net.JoinHostPort(n.host(), strconv.Itoa(n.Ports[name])))
		listeners = append(listeners, l)
		if a, ok := n.Advertised[name]; ok {
			l = name + "://" + a
		}
		if name != listenerCtrl {
			advertised = append(advertised, l)
		}
	}
	p.set("listeners", strings.Join(listeners, ","))
	if n.IsBroker() {
		p.set("advertised.listeners", strings.Join(advertised, ","))
		p.set("inter.broker.listener.name", listenerInternal)
	}
	protoMap := []string{listenerCtrl + ":" + internalProto, listenerInternal + ":" + internalProto, "PLAINTEXT:PLAINTEXT"}
	if o.SASL {
		protoMap = append(protoMap, ListenerSASL+":SASL_PLAINTEXT")
	}
	if o.TLS {
		protoMap = append(protoMap, ListenerSSL+":SSL")
	}
	if o.Proxied != "" && o.ProxiedSecure {
		protoMap = append(protoMap, ListenerProxied+":SASL_SSL")
	} else if o.Proxied != "" {
		protoMap = append(protoMap, ListenerProxied+":PLAINTEXT")
	}
	p.set("listener.security.protocol.map", strings.Join(protoMap, ","))

	// Authentication.
	if secure {
		jaas := fmt.Sprintf(`%s required username="%s" password="%s" user_%s="%s";`,
			plainModule, internalUser, c.InternalPassword, internalUser, c.InternalPassword)
		for _, l := range []string{listenerCtrl, listenerInternal} {
			lp := "listener.name." + strings.ToLower(l) + "."
			p.set(lp+"sasl.enabled.mechanisms", "PLAIN")
			p.set(lp+"plain.sasl.jaas.config", jaas)
		}
		p.set("sasl.mechanism.controller.protocol", "PLAIN")
		p.set("sasl.mechanism.inter.broker.protocol", "PLAIN")
	}
	if o.SASL || secure {
		p.set("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
	}
	if o.SASL && n.IsBroker() {
		lp := "listener.name." + strings.ToLower(ListenerSASL) + "."
		p.set(lp+"sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
		var users strings.Builder
		for _, u := range sortedKeys(c.Users) {
			fmt.Fprintf(&users, ` user_%s="%s"`, u, c.Users[u])
		}
		p.set(lp+"plain.sasl.jaas.config", plainModule+" required"+users.String()+";")
		p.set(lp+"scram-sha-256.sasl.jaas.config", scramModule+" required;")
		p.set(lp+"scram-sha-512.sasl.jaas.config", scramModule+" required;")
		if o.OAuth {
			// Kafka's unsecured JWS validator: any token with sub and exp
			// claims, unsigned. Sessions end with their token (re-authentication
			// every OAuthSessionMillis at most), so expiring tokens matter.
			p.set(lp+"sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER")
			p.set(lp+"oauthbearer.sasl.jaas.config", "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;")
			p.set(lp+"oauthbearer.sasl.server.callback.handler.class", "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler")
			p.set(lp+"connections.max.reauth.ms", fmt.Sprint(OAuthSessionMillis))
		}
	}
	if o.TLS && n.IsBroker() {
		tlsListeners := []string{ListenerSSL}
		if o.ProxiedSecure {
			tlsListeners = append(tlsListeners, ListenerProxied)
		}
		for _, l := range tlsListeners {
			lp := "listener.name." + strings.ToLower(l) + "."
			p.set(lp+"ssl.keystore.type", "PEM")
			p.set(lp+"ssl.keystore.location", c.tls.Keystore)
			p.set(lp+"ssl.truststore.type", "PEM")
			p.set(lp+"ssl.truststore.location", c.CAFile)
			p.set(lp+"ssl.client.auth", "none")
		}
	}
	if o.ProxiedSecure && n.IsBroker() {
		lp := "listener.name." + strings.ToLower(ListenerProxied) + "."
		p.set(lp+"sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512")
		p.set(lp+"scram-sha-256.sasl.jaas.config", scramModule+" required;")
		p.set(lp+"scram-sha-512.sasl.jaas.config", scramModule+" required;")
	}

	// Authorization.
	if o.Authorizer {
		p.set("authorizer.class.name", authorizer)
		p.set("super.users", "User:admin;User:"+internalUser)
		p.set("allow.everyone.if.no.acl.found", "false")
	}

	// Storage and replication.
	p.set("log.dirs", n.DataDir)
	rf, isr := "1", "1"
	if len(c.Brokers()) >= 3 {
		rf, isr = "3", "2"
	}
	p.set("num.partitions", "1")
	p.set("default.replication.factor", rf)
	p.set("min.insync.replicas", isr)
	p.set("offsets.topic.replication.factor", rf)
	p.set("offsets.topic.num.partitions", "10")
	p.set("transaction.state.log.replication.factor", rf)
	p.set("transaction.state.log.min.isr", isr)
	p.set("transaction.state.log.num.partitions", "10")
	p.set("share.coordinator.state.topic.replication.factor", rf)
	p.set("share.coordinator.state.topic.min.isr", isr)

	// Fast, deterministic tests: no topic appears by accident, groups rebalance at
	// once, background work (cleaner, retention, aborted transactions) runs within
	// seconds instead of minutes. Segment sizes stay at their defaults; tests set them
	// per topic.
	p.set("auto.create.topics.enable", "false")
	p.set("group.initial.rebalance.delay.ms", "0")
	p.set("log.initial.task.delay.ms", "1000")
	p.set("log.cleaner.backoff.ms", "1000")
	p.set("log.retention.check.interval.ms", "5000")
	p.set("log.segment.delete.delay.ms", "5000")
	p.set("transaction.abort.timed.out.transaction.cleanup.interval.ms", "5000")
	p.set("num.network.threads", "3")
	p.set("num.io.threads", "4")
	return p
}

// sortedListeners orders listener names so that configuration files are stable.
func sortedListeners(ports map[string]int) []string {
	order := map[string]int{ListenerPlaintext: 0, listenerInternal: 1, ListenerSASL: 2, ListenerSSL: 3, ListenerProxied: 4, listenerCtrl: 5}
	names := sortedKeys(ports)
	sort.SliceStable(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
