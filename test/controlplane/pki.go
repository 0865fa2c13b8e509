package controlplane

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/opea-project/kubectl-opea/test/testpki"
)

// pki is the key material one control plane needs, written under dir.
type pki struct {
	caCertPEM      []byte
	servingCert    string // file: serving certificate for 127.0.0.1
	servingKey     string
	caCert         string
	serviceAcctKey string // RSA key that signs ServiceAccount tokens
	serviceAcctPub string
}

// newPKI writes a throw-away CA, a serving certificate for the API server on
// loopback, and the ServiceAccount signing key pair.
func newPKI(dir string) (*pki, error) {
	p := &pki{
		servingCert:    filepath.Join(dir, "apiserver.crt"),
		servingKey:     filepath.Join(dir, "apiserver.key"),
		caCert:         filepath.Join(dir, "ca.crt"),
		serviceAcctKey: filepath.Join(dir, "sa.key"),
		serviceAcctPub: filepath.Join(dir, "sa.pub"),
	}
	now := time.Now()
	serving, err := testpki.Issue(testpki.Leaf{
		CA:         "kubectl-opea local control plane CA",
		CommonName: "kube-apiserver",
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)},
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		NotBefore:  now.Add(-time.Hour),
		NotAfter:   now.Add(7 * 24 * time.Hour),
	})
	if err != nil {
		return nil, err
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}

	p.caCertPEM = serving.CAPEM
	files := map[string][]byte{
		p.caCert:         p.caCertPEM,
		p.servingCert:    serving.CertPEM,
		p.servingKey:     serving.KeyPEM,
		p.serviceAcctKey: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)),
		p.serviceAcctPub: pemBlock("PUBLIC KEY", saPub),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// randomToken returns a bearer token for the static token file.
func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
