package istio

import (
	"slices"
	"strings"
	"testing"
)

func TestCredentialPairInIstiodsOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     map[string][]byte
		wantCert string
		wantErr  string
	}{
		{"tls.crt and tls.key", map[string][]byte{"tls.crt": []byte("A"), "tls.key": []byte("a")}, "A", ""},
		{"cert and key first", map[string][]byte{"tls.crt": []byte("A"), "tls.key": []byte("a"), "cert": []byte("B"), "key": []byte("b")}, "B", ""},
		{"an empty cert: tls.crt", map[string][]byte{"tls.crt": []byte("A"), "tls.key": []byte("a"), "cert": nil, "key": []byte("b")}, "A", ""},
		{"empty values", map[string][]byte{"tls.crt": []byte("A"), "tls.key": nil}, "", `found keys "tls.crt" and "tls.key", but not both hold a value`},
		{"other keys", map[string][]byte{"crt": []byte("A")}, "", "(keys: crt)"},
	} {
		cert, _, _, err := CredentialPair(tc.data)
		if string(cert) != tc.wantCert || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: cert %q, error %v", tc.name, cert, err)
		}
	}
}

func TestServerCredentials(t *testing.T) {
	for _, tc := range []struct {
		tls  *ServerTLS
		want []string
	}{
		{nil, nil},
		{&ServerTLS{Mode: "SIMPLE"}, nil},
		{&ServerTLS{CredentialName: "rsa"}, []string{"rsa"}},
		{&ServerTLS{CredentialNames: []string{"rsa", "ecdsa"}}, []string{"rsa", "ecdsa"}},
		// istiod uses credentialNames when set (mergeGateways).
		{&ServerTLS{CredentialName: "one", CredentialNames: []string{"rsa", "ecdsa"}}, []string{"rsa", "ecdsa"}},
	} {
		if got := tc.tls.Credentials(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: Credentials() = %v, want %v", tc.tls, got, tc.want)
		}
	}
}
