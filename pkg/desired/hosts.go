package desired

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxLabelLength and MaxHostLength are DNS's limits (RFC 1035 2.3.4) on a
// label and on a whole name.
const (
	MaxLabelLength = 63
	MaxHostLength  = 253
)

// ValidateHosts checks that every host is a DNS name or a wildcard "*.name"
// that a certificate can carry and a TLS client asks for by server name, and
// returns them trimmed, lower-cased and without duplicates. A host must be
// fully qualified (at least two labels) of ASCII letters, digits and inner
// hyphens, each label 1 to 63 characters, at most 253 in all; a wildcard only
// as the whole leftmost label; not an IP address; and its last label not a
// number, which clients would read as an IPv4 address.
func ValidateHosts(hosts []string) ([]string, error) {
	var bad []string
	var out []string
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if problem := hostProblem(h); problem != "" {
			bad = append(bad, fmt.Sprintf("%q: %s", h, problem))
			continue
		}
		h = strings.ToLower(h)
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("invalid --host %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// hostProblem says what is wrong with the trimmed host h, "" if nothing.
func hostProblem(h string) string {
	if h == "" {
		return "is empty: give a DNS name such as chatqna.example.com"
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			return "contains non-ASCII characters: give an internationalized name in its ASCII (xn--) form"
		}
	}
	// ASCII only: lower-casing cannot change the length or turn another
	// character into a letter.
	h = strings.ToLower(h)
	if isIPLiteral(h) {
		return "is an IP address: TLS clients send no server name (SNI) for an IP address, so the gateway cannot pick this host's certificate by name, " +
			"and a certificate for an IP address needs an IP SAN, which secure does not request; " +
			"use a DNS name that resolves to the gateway's address, such as chatqna.example.com"
	}
	if bare, what := withoutURLParts(h); what != "" && strings.Contains(bare, ".") {
		return fmt.Sprintf("is %s, not a host name: give the bare host name: %s", what, bare)
	}
	name, wildcard := strings.CutPrefix(h, "*.")
	if strings.Contains(name, "*") || h == "*" {
		return "a wildcard must be the whole leftmost label, followed by a domain, as in *.example.com"
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) > MaxLabelLength {
			return fmt.Sprintf("label %q is %d characters long, more than DNS's %d: shorten it", l, len(l), MaxLabelLength)
		}
	}
	if len(h) > MaxHostLength {
		return fmt.Sprintf("is %d characters long, more than DNS's %d: use a shorter name", len(h), MaxHostLength)
	}
	var errs []string
	if wildcard {
		errs = validation.IsWildcardDNS1123Subdomain(h)
	} else {
		errs = validation.IsDNS1123Subdomain(h)
	}
	if len(errs) > 0 {
		return strings.Join(errs, "; ")
	}
	if last := labels[len(labels)-1]; isNumericLabel(last) {
		return fmt.Sprintf("ends in the numeric label %q: no top-level domain is a number, and clients read such a name as an IPv4 address; "+
			"use a DNS name under a real domain, such as chatqna.example.com", last)
	}
	if !wildcard && len(labels) < 2 {
		return "must be a fully qualified name such as chatqna.example.com"
	}
	return ""
}

// isIPLiteral reports whether h is an IPv4 or IPv6 address, possibly in
// brackets as in URLs, or with an IPv6 zone.
func isIPLiteral(h string) bool {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	_, err := netip.ParseAddr(h)
	return err == nil
}

// isNumericLabel reports whether a last label makes browsers parse the whole
// name as an IPv4 address (the WHATWG URL standard's "ends in a number"):
// all decimal digits, or 0x followed by hexadecimal digits.
func isNumericLabel(l string) bool {
	digits := "0123456789"
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		l, digits = rest, "0123456789abcdef"
		if l == "" {
			return true
		}
	}
	if l == "" {
		return false
	}
	for i := 0; i < len(l); i++ {
		if !strings.ContainsRune(digits, rune(l[i])) {
			return false
		}
	}
	return true
}

// withoutURLParts finds a host name given as a URL, or with a port or path,
// as people copy it from a browser: it returns the bare host name and what
// surrounded it ("a URL", "a host name with a path"), or "" when h is none
// of those.
func withoutURLParts(h string) (bare, what string) {
	if scheme, _, ok := strings.Cut(h, "://"); ok && scheme != "" {
		u, err := url.Parse(h)
		if err != nil || u.Hostname() == "" {
			return "", ""
		}
		return u.Hostname(), "a URL"
	}
	hostPort, path, hasPath := strings.Cut(h, "/")
	host, port, err := net.SplitHostPort(hostPort)
	hasPort := err == nil && host != "" && port != ""
	switch {
	case hasPort && hasPath:
		return host, "a host name with a port and a path"
	case hasPort:
		return host, "a host name with a port"
	case hasPath && hostPort != "" && path != "":
		return hostPort, "a host name with a path"
	case hasPath && hostPort != "":
		return hostPort, "a host name with a trailing slash"
	}
	return "", ""
}
