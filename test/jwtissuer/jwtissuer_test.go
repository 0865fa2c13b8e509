package jwtissuer

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/test/testpki"
)

// ServeJWKS answers over HTTPS with the key set to a client that trusts
// the certificate's CA, and fails the handshake of one that does not, as
// istiod's JWKS resolver would.
func TestServeJWKSOverHTTPS(t *testing.T) {
	idp, err := New("https://idp.example.com/realms/opea")
	if err != nil {
		t.Fatal(err)
	}
	cred := testpki.MustIssue(t, testpki.Leaf{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, CA: "test IdP CA"})
	srv, err := ServeJWKS(idp.JWKS(), cred.CertPEM, cred.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Errorf("URL %s", srv.URL)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cred.CA)
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	resp, err := trusting.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 2 {
		t.Errorf("key set: %+v (%v)", set, err)
	}
	other := x509.NewCertPool()
	other.AddCert(testpki.MustIssue(t, testpki.Leaf{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).CA)
	untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: other, MinVersion: tls.VersionTLS12}}}
	if resp, err := untrusting.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		if resp != nil {
			resp.Body.Close()
		}
		t.Errorf("a client that does not trust the CA: %v", err)
	}
}
