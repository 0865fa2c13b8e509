package istio

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
)

// verifies is what a TLS client decides: whether a certificate with these
// SANs is valid for host.
func verifies(dnsNames []string, ips []net.IP, host string) bool {
	cert := &x509.Certificate{DNSNames: dnsNames, IPAddresses: ips}
	return cert.VerifyHostname(host) == nil
}

func TestCertificateCoversAsTLSClients(t *testing.T) {
	ips := []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("2001:db8::1")}
	for _, tc := range []struct {
		dns  []string
		ips  []net.IP
		host string
		want bool
	}{
		{[]string{"chatqna.example.com"}, nil, "chatqna.example.com", true},
		{[]string{"chatqna.example.com"}, nil, "ChatQnA.Example.COM", true},
		{[]string{"ChatQnA.Example.COM"}, nil, "chatqna.example.com", true},
		{[]string{"chatqna.example.com"}, nil, "chatqna.example.com.", true},
		{[]string{"*.example.com"}, nil, "chatqna.example.com", true},
		{[]string{"*.example.com"}, nil, "chatqna.example.com.", true},
		{[]string{"*.example.com"}, nil, "a.b.example.com", false},
		{[]string{"*.example.com"}, nil, "example.com", false},
		{[]string{"*.example.com"}, nil, "*.example.com", true},
		{[]string{"*.EXAMPLE.com"}, nil, "*.example.com", true},
		{[]string{"*.example.com"}, nil, "*.other.com", false},
		{[]string{"chatqna.example.com"}, nil, "*.example.com", false},
		{[]string{"a*.example.com"}, nil, "ab.example.com", false},
		{[]string{"a*.example.com"}, nil, "a*.example.com", true},
		{[]string{"*"}, nil, "chatqna", false},
		{[]string{""}, nil, "", false},
		{[]string{"."}, nil, ".", false},
		{[]string{"chatqna.example.com."}, nil, "chatqna.example.com", false},
		{[]string{"chatqna.example.com."}, nil, "chatqna.example.com.", true},
		{[]string{"chat_qna.example.com"}, nil, "chat_qna.example.com", true},
		{[]string{"*.example.com"}, nil, "chat_qna.example.com", true},
		// Only ASCII letters are folded: the Kelvin sign is not "k".
		{[]string{"\u212Aa.example.com"}, nil, "ka.example.com", false},
		{[]string{"*.example.com"}, nil, "ns/chatqna.example.com", true},
		// IP addresses: only by IP SANs, in any notation.
		{[]string{"10.0.0.1"}, nil, "10.0.0.1", false},
		{[]string{"*.0.0.1"}, nil, "10.0.0.1", false},
		{[]string{"::1"}, nil, "::1", false},
		{nil, ips, "10.0.0.1", true},
		{nil, ips, "::ffff:10.0.0.1", true},
		{nil, ips, "[2001:db8::1]", true},
		{nil, ips, "2001:DB8:0::1", true},
		{nil, ips, "10.0.0.2", false},
		{nil, ips, "10.0.0.01", false},
		{[]string{"10.0.0.01"}, nil, "10.0.0.01", true},
		{nil, ips, "chatqna.example.com", false},
	} {
		if got := CertificateCovers(tc.dns, tc.ips, tc.host); got != tc.want {
			t.Errorf("CertificateCovers(%q, %v, %q) = %v, want %v", tc.dns, tc.ips, tc.host, got, tc.want)
		}
		if x := verifies(tc.dns, tc.ips, stripNamespace(tc.host)); x != tc.want {
			t.Errorf("crypto/x509: %q, %v for %q: %v, the table says %v", tc.dns, tc.ips, tc.host, x, tc.want)
		}
	}
}

// FuzzCertificateCovers checks CertificateCovers against crypto/x509's
// VerifyHostname. dnsLines are the DNS SANs, one per line; ipBytes the IP
// SANs, 4 or 16 bytes each; derive makes host from a SAN, so that the
// fuzzer reaches the matches.
func FuzzCertificateCovers(f *testing.F) {
	for _, s := range []struct {
		dns    string
		ips    []byte
		host   string
		derive uint8
	}{
		{"chatqna.example.com", nil, "chatqna.example.com", 0},
		{"*.example.com", nil, "chatqna.example.com", 0},
		{"*.example.com", nil, "a.b.example.com", 0},
		{"*.example.com", nil, "*.example.com", 0},
		{"*.example.com\nchatqna.example.com", nil, "x", 1},
		{"*.example.com", nil, "", 2},
		{"Chat_QnA.example.com.", nil, "", 3},
		{"10.0.0.1", []byte{10, 0, 0, 1}, "10.0.0.1", 0},
		{"", []byte{10, 0, 0, 1}, "[::ffff:10.0.0.1]", 0},
		{"", []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "", 4},
		{"\u212Aa.example.com", nil, "ka.example.com", 0},
		{"", nil, "", 0},
	} {
		f.Add(s.dns, s.ips, s.host, s.derive)
	}
	f.Fuzz(func(t *testing.T, dnsLines string, ipBytes []byte, host string, derive uint8) {
		var dns []string
		if dnsLines != "" {
			dns = strings.Split(dnsLines, "\n")
		}
		var ips []net.IP
		for len(ipBytes) > 0 {
			n := 4
			if ipBytes[0]&0x80 != 0 && len(ipBytes) >= 16 {
				n = 16
			}
			if len(ipBytes) < n {
				break
			}
			ips = append(ips, net.IP(ipBytes[:n]))
			ipBytes = ipBytes[n:]
		}
		switch derive % 8 {
		case 1: // host replaces the first label of the first SAN
			if len(dns) > 0 {
				_, rest, _ := strings.Cut(dns[0], ".")
				host = host + "." + rest
			}
		case 2: // the first SAN as it is
			if len(dns) > 0 {
				host = dns[0]
			}
		case 3: // the first SAN, upper-case, with a trailing dot
			if len(dns) > 0 {
				host = strings.ToUpper(dns[0]) + "."
			}
		case 4: // the first IP SAN, as text
			if len(ips) > 0 {
				host = ips[0].String()
			}
		case 5: // the first IP SAN in brackets
			if len(ips) > 0 {
				host = "[" + ips[0].String() + "]"
			}
		case 6: // a namespace-scoped Gateway host
			if len(dns) > 0 {
				host = "ns/" + dns[0]
			}
		}
		got := CertificateCovers(dns, ips, host)
		if want := verifies(dns, ips, stripNamespace(host)); got != want {
			t.Errorf("CertificateCovers(%q, %v, %q) = %v, crypto/x509's VerifyHostname: %v", dns, ips, host, got, want)
		}
		// This holds for every host, so also for those secure accepts and
		// the IP addresses the audit may meet. An IP address is covered only
		// by IP SANs, a name only by DNS SANs.
		candidate := strings.TrimSuffix(strings.TrimPrefix(stripNamespace(host), "["), "]")
		if net.ParseIP(candidate) != nil {
			if CertificateCovers(nil, ips, host) != got || CertificateCovers(dns, nil, host) {
				t.Errorf("IP host %q: covered by DNS SANs %q or not only by IP SANs %v", host, dns, ips)
			}
		} else if CertificateCovers(dns, nil, host) != got || CertificateCovers(nil, ips, host) {
			t.Errorf("host %q: covered by IP SANs %v or not only by DNS SANs %q", host, ips, dns)
		}
	})
}

func TestHostMatchesAsIstio(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"*", "*", true},
		{"*", "*.example.com", true},
		{"*", "", true},
		{"", "", true},
		{"", "a.example.com", false},
		{"*.example.com", "*.a.example.com", true},
		{"*.a.example.com", "*.b.example.com", false},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "*example.com", true},
		{"*-qna.example.com", "chat-qna.example.com", true},
		{"*-qna.example.com", "chatqna.example.com", false},
		{"*qna.example.com", "*.example.com", true},
		{"*.example.com", "*.example.org", false},
		{"ns/*.example.com", "other/a.example.com", true},
		{"/", "", true},
		{"CHATQNA.example.com", "chatqna.EXAMPLE.com", true},
	} {
		for _, ab := range [][2]string{{tc.a, tc.b}, {tc.b, tc.a}} {
			if got := HostMatches(ab[0], ab[1]); got != tc.want {
				t.Errorf("HostMatches(%q, %q) = %v, want %v", ab[0], ab[1], got, tc.want)
			}
		}
	}
}

// istioMatches is istiod's host.Name Matches, for the differential check:
// a leading "*" stands for any prefix; two wildcards overlap when the longer
// one's suffix ends with the shorter one's.
func istioMatches(n, o string) bool {
	nw, ow := strings.HasPrefix(n, "*"), strings.HasPrefix(o, "*")
	switch {
	case nw && ow:
		if len(n) < len(o) {
			return strings.HasSuffix(o[1:], n[1:])
		}
		return strings.HasSuffix(n[1:], o[1:])
	case nw:
		return strings.HasSuffix(o, n[1:])
	case ow:
		return strings.HasSuffix(n, o[1:])
	}
	return n == o
}

// FuzzHostMatches checks that HostMatches is istiod's relation on the
// lower-cased hosts without namespace: symmetric, reflexive, "*" matching
// everything, a wildcard matching the names under it.
func FuzzHostMatches(f *testing.F) {
	for _, s := range [][2]string{
		{"*", "chatqna.example.com"},
		{"*.intel.com", "chatqna.intel.com"},
		{"*.intel.com", "intel.com"},
		{"*.intel.com", "*.a.intel.com"},
		{"*-qna.example.com", "*.example.com"},
		{"chatqna/a.example.com", "A.example.com"},
		{"", "*"},
		{"/", "*/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := HostMatches(a, b), HostMatches(b, a)
		if ab != ba {
			t.Errorf("HostMatches(%q, %q) = %v, HostMatches(%q, %q) = %v", a, b, ab, b, a, ba)
		}
		if want := istioMatches(strings.ToLower(stripNamespace(a)), strings.ToLower(stripNamespace(b))); ab != want {
			t.Errorf("HostMatches(%q, %q) = %v, istiod: %v", a, b, ab, want)
		}
		if HostsIntersect([]string{a}, []string{b}) != ab || HostsIntersect([]string{"x.invalid", a}, []string{b, "y.invalid"}) != (ab || HostMatches(a, "y.invalid") || HostMatches("x.invalid", b)) {
			t.Errorf("HostsIntersect disagrees with HostMatches for %q, %q", a, b)
		}
		if HostsIntersect(nil, []string{a}) || HostsIntersect([]string{a}, nil) {
			t.Errorf("HostsIntersect with no hosts is true for %q", a)
		}
		for _, h := range []string{a, b} {
			if !HostMatches(h, h) {
				t.Errorf("HostMatches(%q, %q) = false", h, h)
			}
			if !HostMatches("*", h) || !HostMatches(h, "*") {
				t.Errorf("%q does not match *", h)
			}
			if isASCII(h) && !HostMatches(h, strings.ToUpper(h)) {
				t.Errorf("HostMatches(%q, upper-case) = false", h)
			}
		}
		// A wildcard matches the names under it, and the narrower wildcards.
		if !strings.Contains(b, "/") {
			if !HostMatches("*."+b, "chatqna."+b) || !HostMatches("*."+b, "*.chatqna."+b) {
				t.Errorf("*.%s does not match the names under it", b)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
