package snapshot

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Credential is the Secret of one TLS listener, found where Istio reads it.
type Credential struct {
	TLSListener
	Secret *Secret
	// CertPEM and keyPEM are the fields Istio would read, by its rules;
	// keys names them, and problem says why there are none.
	CertPEM, KeyPEM []byte
	Keys            [2]string
	Problem         error
	CAPEM           []byte
}

// Credentials finds each TLS listener's Secret where Istio reads it.
// missing lists the listeners whose Secret is absent there.
func (v *Scope) Credentials() (found []Credential, missing []TLSListener) {
	for _, t := range v.TLSListeners() {
		var sec *Secret
		for _, ns := range t.SecretNamespaces {
			if s := v.s.Secrets[Key(ns, t.SecretName)]; s != nil {
				sec = s
				break
			}
		}
		if sec == nil {
			missing = append(missing, t)
			continue
		}
		c := Credential{TLSListener: t, Secret: sec, CAPEM: istio.CredentialCA(sec.Data)}
		c.CertPEM, c.KeyPEM, c.Keys, c.Problem = istio.CredentialPair(sec.Data)
		found = append(found, c)
	}
	return found, missing
}

// Parsed is a credential whose certificate and key parse.
type Parsed struct {
	Credential
	Chain []*x509.Certificate
	Key   crypto.PrivateKey
}

func (c Credential) Parse() (Parsed, error) {
	p := Parsed{Credential: c}
	var err error
	if p.Chain, err = Certificates(c.CertPEM); err != nil {
		return p, fmt.Errorf("the certificate does not parse: %w", err)
	}
	if len(p.Chain) == 0 {
		return p, errors.New("the certificate field holds no PEM certificate")
	}
	block, _ := pem.Decode(c.KeyPEM)
	if block == nil {
		return p, errors.New("the key field holds no PEM key")
	}
	if p.Key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if p.Key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			if p.Key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				return p, errors.New("the key does not parse as PKCS#8, EC or PKCS#1")
			}
		}
	}
	return p, nil
}

func SecretRef(s *Secret) string { return Key(s.Namespace, s.Name) }

// Ref names c's Secret and, for a Gateway API listener, the listener:
// several listeners may share a Secret, and their names say which to fix.
func (c Credential) Ref() string {
	if c.API != nil {
		return SecretRef(c.Secret) + " of " + c.API.String()
	}
	return SecretRef(c.Secret)
}

// Certificates are the certificates of the PEM bundle, in order: its
// CERTIFICATE blocks, other blocks left out. One that does not parse is an
// error.
func Certificates(bundle []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
}
