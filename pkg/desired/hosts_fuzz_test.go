package desired

import (
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// FuzzValidateHosts checks that whatever ValidateHosts accepts is a name the
// gateway can be asked for by SNI and that crypto/x509 accepts as a SAN.
// The input is one host per line.
func FuzzValidateHosts(f *testing.F) {
	for _, seed := range []string{
		"chatqna.example.com",
		"*.intel.com\nChatQnA.Example.com\nchatqna.example.com",
		"10.0.0.1", "::1", "[::1]", "fe80::1%eth0", "::ffff:10.0.0.1",
		"example.123", "chatqna.0x1f", "*.123",
		strings.Repeat("a", 64) + ".example.com",
		strings.Repeat("a", 63) + ".example.com",
		longName(253), longName(254),
		"*", "*.", "*.*.example.com", "a.*.example.com", "*chat.example.com",
		"localhost", "chat_qna.example.com", "example.com.", " a.example.com \n\ta.example.com",
		"\u212Aa.example.com", "bücher.example", "xn--bcher-kva.example",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		in := strings.Split(input, "\n")
		out, err := ValidateHosts(in)
		if err != nil {
			if out != nil {
				t.Errorf("ValidateHosts(%q) returned hosts %q with error %v", in, out, err)
			}
			if !strings.HasPrefix(err.Error(), "invalid --host \"") {
				t.Errorf("ValidateHosts(%q) error %q does not name a host", in, err)
			}
			// The error is the one of some host on its own.
			failing := 0
			for _, h := range in {
				if _, err := ValidateHosts([]string{h}); err != nil {
					failing++
				}
			}
			if failing == 0 {
				t.Errorf("ValidateHosts(%q) fails, but no host on its own does", in)
			}
			return
		}
		// Accepted: every input is in the output, once, in order of first
		// appearance.
		seen := map[string]bool{}
		var want []string
		for _, h := range in {
			h = strings.ToLower(strings.TrimSpace(h))
			if !seen[h] {
				seen[h] = true
				want = append(want, h)
			}
		}
		if strings.Join(want, "\n") != strings.Join(out, "\n") || len(want) != len(out) {
			t.Fatalf("ValidateHosts(%q) = %q, want %q", in, out, want)
		}
		for _, h := range out {
			checkValidHost(t, h)
		}
		// Validating again changes nothing.
		again, err := ValidateHosts(out)
		if err != nil || strings.Join(again, "\n") != strings.Join(out, "\n") {
			t.Errorf("ValidateHosts(%q) = %q, %v; want the same hosts", out, again, err)
		}
	})
}

// checkValidHost checks the rules a host ValidateHosts accepts follows, and
// that a certificate for it verifies the concrete names it stands for.
func checkValidHost(t *testing.T, h string) {
	t.Helper()
	if h != strings.ToLower(h) || h != strings.TrimSpace(h) {
		t.Errorf("host %q is not trimmed and lower-case", h)
	}
	if len(h) > 253 {
		t.Errorf("host %q is %d characters long", h, len(h))
	}
	name, wildcard := strings.CutPrefix(h, "*.")
	if strings.Contains(name, "*") {
		t.Errorf("host %q has a wildcard other than a leading *.", h)
	}
	labels := strings.Split(name, ".")
	if !wildcard && len(labels) < 2 {
		t.Errorf("host %q is not fully qualified", h)
	}
	for _, l := range labels {
		if len(l) < 1 || len(l) > 63 {
			t.Errorf("host %q has a label of %d characters", h, len(l))
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			t.Errorf("host %q has a label starting or ending with '-'", h)
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				t.Errorf("host %q has the character %q", h, c)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "" {
		t.Errorf("host %q ends in a numeric label", h)
	}
	if net.ParseIP(h) != nil || net.ParseIP(strings.Trim(h, "[]")) != nil {
		t.Errorf("host %q is an IP address", h)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		t.Errorf("host %q is an IP address", h)
	}

	// A certificate with the host as its only SAN verifies the concrete
	// names it stands for, and not the parent domain.
	cert := &x509.Certificate{DNSNames: []string{h}}
	concrete := istio.ExampleHost(h, "chatqna")
	if wildcard != (concrete != h) {
		t.Errorf("ExampleHost(%q) = %q", h, concrete)
	}
	for _, c := range []string{concrete, strings.ToUpper(concrete), concrete + "."} {
		if err := cert.VerifyHostname(c); err != nil {
			t.Errorf("a certificate for %q does not verify %q: %v", h, c, err)
		}
	}
	if wildcard {
		if err := cert.VerifyHostname("a.b." + name); err == nil {
			t.Errorf("a certificate for %q verifies a.b.%s", h, name)
		}
		if err := cert.VerifyHostname(name); err == nil {
			t.Errorf("a certificate for %q verifies %s", h, name)
		}
	}
}
