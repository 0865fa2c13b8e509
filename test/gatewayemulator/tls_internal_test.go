package gatewayemulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

func selfSigned(t *testing.T, key crypto.Signer, names ...string) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// With an RSA and an ECDSA certificate on one chain (credentialNames), a
// client that offers ECDSA signatures gets the ECDSA one, another the RSA
// one; a certificate for the SNI wins over one that is not.
func TestChooseCertificate(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := selfSigned(t, rsaKey, "app.example.com")
	ecCert := selfSigned(t, ecKey, "app.example.com")
	otherEC := selfSigned(t, ecKey, "other.example.com")
	ecdsaClient := []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256}
	rsaClient := []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256}
	for _, c := range []struct {
		name    string
		certs   []tls.Certificate
		sni     string
		schemes []tls.SignatureScheme
		want    tls.Certificate
	}{
		{"ECDSA-capable client, RSA listed first", []tls.Certificate{rsaCert, ecCert}, "app.example.com", ecdsaClient, ecCert},
		{"RSA-only client, ECDSA listed first", []tls.Certificate{ecCert, rsaCert}, "app.example.com", rsaClient, rsaCert},
		{"the certificate for the SNI before key type", []tls.Certificate{otherEC, rsaCert}, "app.example.com", ecdsaClient, rsaCert},
		{"no certificate names the SNI: by key type", []tls.Certificate{rsaCert, ecCert}, "x.example.org", ecdsaClient, ecCert},
	} {
		got := chooseCertificate(c.certs, &tls.ClientHelloInfo{ServerName: c.sni, SignatureSchemes: c.schemes})
		if string(got.Certificate[0]) != string(c.want.Certificate[0]) {
			t.Errorf("%s: chose another certificate", c.name)
		}
	}
}
