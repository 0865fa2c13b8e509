package istio

import (
	"fmt"
	"sort"
	"strings"
)

// CredentialKeys are the keys of a pair istiod reads, in the order it tries
// them (ExtractCertInfo in pilot/pkg/credentials/kube/secrets.go).
var CredentialKeys = [][2]string{{"cert", "key"}, {"tls.crt", "tls.key"}}

// CredentialPair returns the certificate and key istiod serves from a Secret
// with data: the first of CredentialKeys whose two values are both non-empty.
// The Secret's type does not matter. The error says why there is none,
// without any key material.
func CredentialPair(data map[string][]byte) (cert, key []byte, keys [2]string, err error) {
	for _, k := range CredentialKeys {
		if len(data[k[0]]) > 0 && len(data[k[1]]) > 0 {
			return data[k[0]], data[k[1]], k, nil
		}
	}
	for _, k := range CredentialKeys {
		_, c := data[k[0]]
		_, p := data[k[1]]
		if c && p {
			return nil, nil, k, fmt.Errorf("found keys %q and %q, but not both hold a value", k[0], k[1])
		}
	}
	names := make([]string, 0, len(data))
	for k := range data {
		names = append(names, k)
	}
	sort.Strings(names)
	found := strings.Join(names, ", ")
	if found == "" {
		found = "none"
	}
	return nil, nil, [2]string{}, fmt.Errorf("no non-empty cert and key, or tls.crt and tls.key (keys: %s)", found)
}

// CredentialCA returns the CA certificate istiod reads from a Secret's data
// (ExtractRoot): cacert, else ca.crt; nil if neither is set.
func CredentialCA(data map[string][]byte) []byte {
	if len(data["cacert"]) > 0 {
		return data["cacert"]
	}
	return data["ca.crt"]
}
