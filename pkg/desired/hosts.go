package desired

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultHost is used when no --host is given, as in OPEA's manual procedure.
const DefaultHost = "*.intel.com"

// ValidateHosts checks that every host is a DNS name or a wildcard "*.name"
// that a certificate can carry, and returns them without duplicates.
func ValidateHosts(hosts []string) ([]string, error) {
	var bad []string
	var out []string
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		var errs []string
		if strings.HasPrefix(h, "*") {
			errs = validation.IsWildcardDNS1123Subdomain(h)
		} else {
			errs = validation.IsDNS1123Subdomain(h)
		}
		if len(errs) == 0 && !strings.Contains(h, ".") {
			errs = []string{"must be a fully qualified name such as chatqna.example.com"}
		}
		if len(errs) > 0 {
			bad = append(bad, fmt.Sprintf("%q: %s", h, strings.Join(errs, "; ")))
			continue
		}
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

// ExampleHost turns a wildcard host into a concrete name a client can use,
// e.g. *.intel.com -> chatqna.intel.com for the chatqna application.
func ExampleHost(host, appNamespace string) string {
	if strings.HasPrefix(host, "*.") {
		return appNamespace + host[1:]
	}
	return host
}
