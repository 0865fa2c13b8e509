package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/test/testpki"
)

// The leaf verifies against its CA for its names, and its key pair loads
// as a TLS server's would.
func TestIssuedLeafVerifiesAgainstItsCA(t *testing.T) {
	c := testpki.MustIssue(t, testpki.Leaf{DNSNames: []string{"chatqna.example.com"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CAPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	for _, name := range []string{"chatqna.example.com", "127.0.0.1"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: roots}); err == nil {
		t.Error("the leaf verifies for a name it does not carry")
	}
	if _, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM); err != nil {
		t.Errorf("tls.crt and tls.key: %v", err)
	}
	if _, err := tls.X509KeyPair(c.CAPEM, c.CAKeyPEM); err != nil {
		t.Errorf("the CA's pair: %v", err)
	}
	if c.Leaf.Subject.CommonName != "chatqna.example.com" || c.CA.Subject.CommonName != "test CA" {
		t.Errorf("subjects %q and %q", c.Leaf.Subject.CommonName, c.CA.Subject.CommonName)
	}
}

// Two credentials never share a serial number: a check that compares the
// certificate served with the one in a Secret must tell them apart.
func TestSerialNumbersDiffer(t *testing.T) {
	a := testpki.MustIssue(t, testpki.Leaf{})
	b := testpki.MustIssue(t, testpki.Leaf{})
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 || a.CA.SerialNumber.Cmp(a.Leaf.SerialNumber) == 0 {
		t.Error("serial numbers repeat")
	}
}

// ValidFor gives a certificate valid from a minute ago, or one that
// expired, issued a day before it did.
func TestValidFor(t *testing.T) {
	before, after := testpki.ValidFor(time.Hour)
	if now := time.Now(); !before.Before(now) || !after.After(now.Add(59*time.Minute)) {
		t.Errorf("valid for an hour: %s to %s", before, after)
	}
	before, after = testpki.ValidFor(-time.Hour)
	if now := time.Now(); !after.Before(now) || after.Sub(before) != 24*time.Hour {
		t.Errorf("expired an hour ago: %s to %s", before, after)
	}
	c := testpki.MustIssue(t, testpki.Leaf{NotBefore: before, NotAfter: after})
	if !c.Leaf.NotAfter.Before(time.Now()) || !c.CA.NotAfter.After(c.Leaf.NotAfter) {
		t.Errorf("leaf until %s, CA until %s", c.Leaf.NotAfter, c.CA.NotAfter)
	}
}
