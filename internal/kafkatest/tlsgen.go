package kafkatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made for a test: it signs server and client
// certificates. It is exported so that tests can make a second, unrelated CA to prove
// that a client refuses a broker it should not trust.
type CA struct {
	// Cert is the self-signed CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key, which signs the certificates Issue makes.
	Key *ecdsa.PrivateKey
	// PEM is the certificate in PEM form, ready for a trust store.
	PEM []byte
}

// NewCA makes a self-signed certificate authority named cn, valid for ten years.
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key of ca %s: %w", cn, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"kmigrate test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate of ca %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate of ca %s: %w", cn, err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Pool returns a certificate pool that trusts only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue signs a certificate for cn, valid for the DNS names and IP addresses in
// hosts, usable by servers and clients. It returns the certificate and its
// unencrypted PKCS#8 key, both PEM-encoded.
func (ca *CA) Issue(cn string, hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key of %s: %w", cn, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"kmigrate test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate of %s: %w", cn, err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key of %s: %w", cn, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial is still a valid certificate.
		return big.NewInt(1)
	}
	return n
}

// tlsFiles are the PEM files of a cluster's SSL listener.
type tlsFiles struct {
	CA       string // CA certificate: trust store of brokers and clients
	Keystore string // broker key followed by its certificate and the CA: Kafka's PEM key store
	Cert     string // broker certificate alone
	Key      string // broker key alone
}

// writeTLS makes a CA and a broker certificate for 127.0.0.1, localhost and
// the further hosts (a namespace's address) in dir.
func writeTLS(dir, cluster string, hosts ...string) (tlsFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return tlsFiles{}, fmt.Errorf("create tls directory %s: %w", dir, err)
	}
	ca, err := NewCA("kmigrate test ca " + cluster)
	if err != nil {
		return tlsFiles{}, err
	}
	cert, key, err := ca.Issue("broker."+cluster, append([]string{"127.0.0.1", "localhost"}, hosts...)...)
	if err != nil {
		return tlsFiles{}, err
	}
	f := tlsFiles{
		CA:       filepath.Join(dir, "ca.pem"),
		Keystore: filepath.Join(dir, "broker-keystore.pem"),
		Cert:     filepath.Join(dir, "broker.pem"),
		Key:      filepath.Join(dir, "broker-key.pem"),
	}
	keystore := append(append(append([]byte{}, key...), cert...), ca.PEM...)
	for path, data := range map[string][]byte{f.CA: ca.PEM, f.Keystore: keystore, f.Cert: cert, f.Key: key} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return tlsFiles{}, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return f, nil
}

// TLSConfig returns a client TLS configuration that trusts the cluster's CA. It fails
// when the cluster has no SSL listener.
func (c *Cluster) TLSConfig() (*tls.Config, error) {
	if c.CAFile == "" {
		return nil, fmt.Errorf("tls config of cluster %s: cluster has no ssl listener", c.Name)
	}
	data, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read ca of cluster %s: %w", c.Name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("read ca of cluster %s: no certificate in %s", c.Name, c.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
