package desired

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func jwtAuth() *Auth {
	return &Auth{
		Settings: AuthSettings{
			Mode: AuthJWT, Issuer: "https://idp.example.com/realms/opea",
			JWKSURI:   "https://idp.example.com/realms/opea/protocol/openid-connect/certs",
			Audiences: []string{"chatqna"}, Claims: []string{"groups=opea-users"},
		},
		PolicyVersion: "v1", RequestAuthnVersion: "v1",
		Namespace: "istio-ingress", Selector: map[string]string{"app": "istio-ingress", "istio": "ingress"},
	}
}

// authObjects renders p and returns the --auth objects as YAML (kind,
// namespace, name, annotations and spec), by name.
func authObjects(t *testing.T, p Params) map[string]string {
	t.Helper()
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range objs {
		if o.GetKind() != "RequestAuthentication" && !strings.Contains(o.GetName(), "jwt") && !strings.Contains(o.GetName(), "ext-authz") {
			continue
		}
		if o.GetLabels()["opea.dev/app-namespace"] != "chatqna" {
			t.Errorf("%s has not secure's labels: %v", o.GetName(), o.GetLabels())
		}
		doc := map[string]interface{}{"kind": o.GetKind(), "namespace": o.GetNamespace(), "spec": o.Object["spec"]}
		if a := o.GetAnnotations(); a != nil {
			doc["annotations"] = a
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		out[o.GetName()] = string(b)
	}
	return out
}

func TestAuthPoliciesOnTheClassicGateway(t *testing.T) {
	p := baseParams()
	p.Hosts = []string{"chatqna.example.com", "chat.example.com"}
	p.Auth = jwtAuth()
	want := map[string]string{
		"opea-chatqna-jwt": `kind: RequestAuthentication
namespace: istio-ingress
spec:
  jwtRules:
  - audiences:
    - chatqna
    issuer: https://idp.example.com/realms/opea
    jwksUri: https://idp.example.com/realms/opea/protocol/openid-connect/certs
  selector:
    matchLabels:
      app: istio-ingress
      istio: ingress
`,
		"opea-chatqna-require-jwt": `annotations:
  opea.dev/auth: '{"mode":"jwt","issuer":"https://idp.example.com/realms/opea","jwksUri":"https://idp.example.com/realms/opea/protocol/openid-connect/certs","audiences":["chatqna"],"claims":["groups=opea-users"]}'
kind: AuthorizationPolicy
namespace: istio-ingress
spec:
  action: DENY
  rules:
  - from:
    - source:
        notRequestPrincipals:
        - https://idp.example.com/realms/opea/*
    to:
    - operation:
        hosts:
        - chatqna.example.com
        - chatqna.example.com:*
        - chat.example.com
        - chat.example.com:*
  - to:
    - operation:
        hosts:
        - chatqna.example.com
        - chatqna.example.com:*
        - chat.example.com
        - chat.example.com:*
    when:
    - key: request.auth.claims[groups]
      notValues:
      - opea-users
  selector:
    matchLabels:
      app: istio-ingress
      istio: ingress
`,
	}
	if diff := cmp.Diff(want, authObjects(t, p)); diff != "" {
		t.Errorf("--auth jwt objects (-want +got):\n%s", diff)
	}
}

func TestAuthExtAuthzWithTheGatewayAPI(t *testing.T) {
	p := gatewayAPIParams()
	p.Auth = &Auth{Settings: AuthSettings{Mode: AuthExtAuthz, Provider: "oauth2-proxy"}, PolicyVersion: "v1", Namespace: "chatqna"}
	want := map[string]string{
		"opea-chatqna-ext-authz": `annotations:
  opea.dev/auth: '{"mode":"ext-authz","provider":"oauth2-proxy"}'
kind: AuthorizationPolicy
namespace: chatqna
spec:
  action: CUSTOM
  provider:
    name: oauth2-proxy
  rules:
  - to:
    - operation:
        hosts:
        - chatqna.example.com
        - chatqna.example.com:*
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: Gateway
    name: opea-ingress
`,
	}
	if diff := cmp.Diff(want, authObjects(t, p)); diff != "" {
		t.Errorf("--auth ext-authz objects (-want +got):\n%s", diff)
	}
}

func TestAuthPoliciesComeAfterTheIngress(t *testing.T) {
	p := baseParams()
	p.Auth = jwtAuth()
	objs, err := Objects(p)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs[len(objs)-4:] {
		kinds = append(kinds, o.GetKind())
	}
	// The gateway routes first; the token is required once its rules are
	// in place (a DENY before them would refuse every request meanwhile).
	if want := []string{"Gateway", "VirtualService", "RequestAuthentication", "AuthorizationPolicy"}; !cmp.Equal(kinds, want) {
		t.Errorf("last kinds = %v, want %v", kinds, want)
	}
}

func TestAuthRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Params)
		want   string
	}{
		{"a wildcard host", func(p *Params) { p.Hosts = []string{"*.example.com"} }, "wildcard host"},
		{"an http issuer", func(p *Params) { p.Auth.Settings.Issuer = "http://idp.example.com" }, "must be an https URL"},
		{"no selector", func(p *Params) { p.Auth.Selector = nil }, "selector"},
		{"no RequestAuthentication version", func(p *Params) { p.Auth.RequestAuthnVersion = "" }, "versions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := baseParams()
			p.Auth = jwtAuth()
			tc.modify(&p)
			if _, err := Objects(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Objects = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestAuthSettingsValidate(t *testing.T) {
	ok := jwtAuth().Settings
	for _, tc := range []struct {
		name   string
		modify func(*AuthSettings)
		want   string // "" valid
	}{
		{"valid", func(*AuthSettings) {}, ""},
		{"loopback http", func(s *AuthSettings) { s.JWKSURI = "http://127.0.0.1:8080/jwks" }, ""},
		{"localhost http", func(s *AuthSettings) { s.Issuer = "http://localhost:8080/realms/opea" }, ""},
		{"ipv6 loopback http", func(s *AuthSettings) { s.JWKSURI = "http://[::1]:8080/jwks" }, ""},
		{"no issuer", func(s *AuthSettings) { s.Issuer = "" }, "--auth jwt needs --jwt-issuer"},
		{"remote http", func(s *AuthSettings) { s.JWKSURI = "http://idp.example.com/certs" }, "must be an https URL"},
		{"relative", func(s *AuthSettings) { s.JWKSURI = "/certs" }, "absolute URL"},
		{"user info", func(s *AuthSettings) { s.JWKSURI = "https://u:p@idp.example.com/certs" }, "no user info"},
		{"claim without =", func(s *AuthSettings) { s.Claims = []string{"groups"} }, "key=value"},
		{"claim with brackets", func(s *AuthSettings) { s.Claims = []string{"a[b]=c"} }, "no brackets"},
		{"claim empty value", func(s *AuthSettings) { s.Claims = []string{"groups="} }, "non-empty"},
		{"claim wildcard", func(s *AuthSettings) { s.Claims = []string{"groups=opea-*"} }, "must not contain *"},
		{"empty audience", func(s *AuthSettings) { s.Audiences = []string{""} }, "invalid --audience"},
		{"provider with jwt", func(s *AuthSettings) { s.Provider = "x" }, "--auth-provider is for --auth ext-authz"},
		{"ext-authz without provider", func(s *AuthSettings) { *s = AuthSettings{Mode: AuthExtAuthz} }, "needs --auth-provider"},
		{"ext-authz with issuer", func(s *AuthSettings) { s.Mode, s.Provider = AuthExtAuthz, "p" }, "are for --auth jwt"},
		{"unknown mode", func(s *AuthSettings) { s.Mode = "basic" }, "use jwt, ext-authz or none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			s.Claims = append([]string(nil), ok.Claims...)
			tc.modify(&s)
			got := strings.Join(s.Validate(), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("Validate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAuthRecordRoundTripsAndRefusesWhatTheFlagsRefuse(t *testing.T) {
	s := jwtAuth().Settings
	got, err := ParseAuthRecord(s.Record())
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got, s) {
		t.Errorf("round trip: %+v, want %+v", got, s)
	}
	for _, bad := range []string{
		``, `{}`, `not json`, `{"mode":"jwt"}`,
		`{"mode":"jwt","issuer":"http://evil.example.com","jwksUri":"https://idp.example.com/certs"}`,
		`{"mode":"ext-authz","provider":"p","extra":1}`,
		`{"mode":"ext-authz","provider":"p"} {"mode":"jwt"}`,
		`{"mode":"none"}`,
	} {
		if _, err := ParseAuthRecord(bad); err == nil {
			t.Errorf("ParseAuthRecord(%q) accepted it", bad)
		}
	}
}
