// Package testpki mints throw-away certificates for tests: a CA and a
// serving certificate it signed, PEM-encoded as a kubernetes.io/tls Secret
// holds them (ca.crt, tls.crt, tls.key), as cert-manager or a user would
// write them for a gateway. Its keys are test keys: never print them.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Leaf is the serving certificate to mint.
type Leaf struct {
	DNSNames []string
	IPs      []net.IP
	// CommonName is its subject; "" for the first DNS name, else "test".
	CommonName string
	// NotBefore and NotAfter bound its validity; zero values stand for an
	// hour ago and a day from now. The CA is valid an hour longer on each
	// side.
	NotBefore, NotAfter time.Time
	// CA is the common name of the CA that signs it; "" for "test CA".
	CA string
}

// Credential is a CA and the leaf certificate it signed, as PEM and parsed.
type Credential struct {
	CAPEM, CAKeyPEM, CertPEM, KeyPEM []byte
	CA, Leaf                         *x509.Certificate
}

// ValidFor is the validity of a certificate issued a minute ago for d; a
// d that is not positive gives one that expired -d ago, issued a day
// before that.
func ValidFor(d time.Duration) (notBefore, notAfter time.Time) {
	now := time.Now()
	notBefore = now.Add(-time.Minute)
	if d <= 0 {
		notBefore = now.Add(d - 24*time.Hour)
	}
	return notBefore, now.Add(d)
}

// Issue mints a new CA and leaf, each with a new P-256 key and a random
// serial number, so that no two credentials look alike.
func Issue(l Leaf) (Credential, error) {
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if l.CA == "" {
		l.CA = "test CA"
	}
	if l.CommonName == "" {
		l.CommonName = "test"
		if len(l.DNSNames) > 0 {
			l.CommonName = l.DNSNames[0]
		}
	}
	caKey, caTmpl, err := newTemplate(pkix.Name{CommonName: l.CA}, l.NotBefore.Add(-time.Hour), l.NotAfter.Add(time.Hour))
	if err != nil {
		return Credential{}, err
	}
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Credential{}, fmt.Errorf("signing the CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Credential{}, err
	}
	key, tmpl, err := newTemplate(pkix.Name{CommonName: l.CommonName}, l.NotBefore, l.NotAfter)
	if err != nil {
		return Credential{}, err
	}
	tmpl.DNSNames, tmpl.IPAddresses = l.DNSNames, l.IPs
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return Credential{}, fmt.Errorf("signing the certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return Credential{}, err
	}
	caKeyPEM, err := keyPEM(caKey)
	if err != nil {
		return Credential{}, err
	}
	leafKeyPEM, err := keyPEM(key)
	if err != nil {
		return Credential{}, err
	}
	return Credential{
		CAPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		CAKeyPEM: caKeyPEM,
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:   leafKeyPEM,
		CA:       ca,
		Leaf:     leaf,
	}, nil
}

// T is the part of testing.TB MustIssue uses; taking it rather than
// testing.TB keeps package testing out of the tools that mint through
// fixtures.
type T interface {
	Helper()
	Fatal(args ...any)
}

// MustIssue is Issue for a test, which it fails on an error.
func MustIssue(t T, l Leaf) Credential {
	t.Helper()
	c, err := Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTemplate is a new key and a certificate template for subject, valid
// from notBefore to notAfter, with a random serial number.
func newTemplate(subject pkix.Name, notBefore, notAfter time.Time) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	return key, &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: notBefore, NotAfter: notAfter}, nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
