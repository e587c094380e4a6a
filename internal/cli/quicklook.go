package cli

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kmigrate/kmigrate/internal/config"
)

// clientProperties are the Kafka client properties a quick look understands,
// as Kafka's own tools (--command-config) and kcat (-X) name them.
var clientProperties = map[string]string{
	"security.protocol":                     "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
	"sasl.mechanism":                        "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM",
	"sasl.mechanisms":                       "as sasl.mechanism (kcat's name)",
	"sasl.username":                         "the SASL user",
	"sasl.password":                         "the SASL password",
	"sasl.jaas.config":                      `Java's form: ... username="u" password="p";`,
	"ssl.ca.location":                       "CA bundle (PEM) that signed the brokers' certificates",
	"ssl.certificate.location":              "client certificate (PEM), for mutual TLS",
	"ssl.key.location":                      "client key (PEM), for mutual TLS",
	"ssl.endpoint.identification.algorithm": `"" (or none) skips the check of the brokers' certificates`,
	"aws.region":                            "AWS region, for AWS_MSK_IAM",
	"oauth.token.file":                      "file holding the bearer token, for OAUTHBEARER",
	"client.id":                             "the client id",
}

var jaasField = regexp.MustCompile(`(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"`)

// readProperties reads a Java properties file of key=value lines (# and !
// start comments).
func readProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read --command-config: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not key=value", path, n)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read --command-config %s: %w", path, err)
	}
	return out, nil
}

// quickLookConfig builds the configuration of a one-cluster look from
// --bootstrap-server and client properties, through the same loader and
// validation as a file: the cluster is the source, every topic and group is
// selected.
func quickLookConfig(bootstrap string, props map[string]string) (*config.Config, error) {
	var unknown []string
	for k := range props {
		if _, ok := clientProperties[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		known := make([]string, 0, len(clientProperties))
		for k := range clientProperties {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("unknown client property %s; known: %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	cl := map[string]any{"bootstrap_servers": strings.Split(bootstrap, ",")}
	if id := props["client.id"]; id != "" {
		cl["client_id"] = id
	}
	proto := strings.ToUpper(props["security.protocol"])
	if proto == "" {
		proto = "PLAINTEXT"
	}
	tlsOn, saslOn := false, false
	switch proto {
	case "PLAINTEXT":
	case "SSL":
		tlsOn = true
	case "SASL_PLAINTEXT":
		saslOn = true
	case "SASL_SSL":
		tlsOn, saslOn = true, true
	default:
		return nil, fmt.Errorf("security.protocol %q: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", props["security.protocol"])
	}
	if tlsOn {
		t := map[string]any{}
		for prop, key := range map[string]string{"ssl.ca.location": "ca_file", "ssl.certificate.location": "cert_file", "ssl.key.location": "key_file"} {
			if v := props[prop]; v != "" {
				t[key] = v
			}
		}
		if v, ok := props["ssl.endpoint.identification.algorithm"]; ok && (v == "" || strings.EqualFold(v, "none")) {
			t["insecure_skip_verify"] = true
		}
		cl["tls"] = t
	}
	if saslOn {
		mech := props["sasl.mechanism"]
		if mech == "" {
			mech = props["sasl.mechanisms"]
		}
		if mech == "" {
			mech = "PLAIN" // Kafka's default for SASL listeners
		}
		s := map[string]any{"mechanism": strings.ToUpper(mech)}
		user, pass := props["sasl.username"], props["sasl.password"]
		for _, m := range jaasField.FindAllStringSubmatch(props["sasl.jaas.config"], -1) {
			v := strings.ReplaceAll(m[2], `\"`, `"`)
			if m[1] == "username" && user == "" {
				user = v
			} else if m[1] == "password" && pass == "" {
				pass = v
			}
		}
		if user != "" {
			s["username"] = user
		}
		if pass != "" {
			s["password"] = pass
		}
		if r := props["aws.region"]; r != "" {
			s["aws"] = map[string]any{"region": r}
		}
		if f := props["oauth.token.file"]; f != "" {
			s["oauth"] = map[string]any{"token_file": f}
		}
		cl["sasl"] = s
	}
	doc := map[string]any{"migration": "scan", "source": cl, "target": cl, "http": map[string]any{"listen": "off"}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse("--bootstrap-server", b, func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("the cluster given by flags: %w", err)
	}
	return cfg, nil
}
