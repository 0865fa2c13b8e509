package plugin

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var jwtFlags = []string{"--auth", "jwt", "--jwt-issuer", "https://idp.example.com/realms/opea",
	"--jwks-uri", "https://idp.example.com/realms/opea/protocol/openid-connect/certs"}

func TestSecureRejectsBadAuthFlags(t *testing.T) {
	kubeconfig := writeKubeconfig(t) // its server is unreachable: usage errors come first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--jwt-issuer", "https://idp.example.com"}, "need --auth jwt or --auth ext-authz"},
		{[]string{"--auth", "basic"}, `invalid --auth "basic": use jwt, ext-authz or none`},
		{[]string{"--auth", "jwt"}, "--auth jwt needs --jwt-issuer URL"},
		{[]string{"--auth", "jwt", "--jwt-issuer", "http://idp.example.com", "--jwks-uri", "https://idp.example.com/certs"}, "must be an https URL (plain http only for a loopback host)"},
		{append(jwtFlags, "--require-claim", "groups"), `invalid --require-claim "groups": give it as key=value`},
		{append(jwtFlags, "--auth-provider", "oauth2-proxy"), "--auth-provider is for --auth ext-authz"},
		{[]string{"--auth", "ext-authz"}, "--auth ext-authz needs --auth-provider NAME"},
		{[]string{"--auth=none", "--audience", "chatqna"}, "--auth=none removes the authentication: leave out"},
		{[]string{"--auth", "ext-authz", "--auth-provider", "p", "--host", "*.example.com"}, "cannot protect the wildcard host *.example.com"},
	} {
		r := run(t, nil, append([]string{"--kubeconfig", kubeconfig, "secure", "-n", "chatqna", "--host", "chatqna.example.com"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q; stderr:\n%s", tc.args, r.code, ExitUsage, tc.want, r.err)
		}
	}
}

// authPolicy is a policy of secure --auth on the ingress gateway, as an
// earlier secure made it for namespace app, with its record.
func authPolicy(kind, app, name, record string) runtime.Object {
	u := unstructuredObject("security.istio.io/v1", kind, "istio-ingress", name, ownLabels(app), map[string]interface{}{"spec": map[string]interface{}{}})
	if record != "" {
		u.SetAnnotations(map[string]string{"opea.dev/auth": record})
	}
	return u
}

const jwtRecord = `{"mode":"jwt","issuer":"https://idp.example.com/realms/opea","jwksUri":"https://idp.example.com/realms/opea/protocol/openid-connect/certs","audiences":["chatqna"]}`

func TestSecureAuthDryRun(t *testing.T) {
	c := fakeClusterWith(t, chatQnA(tlsSecret("istio-ingress", "chatqna-tls", nil))...)
	args := []string{"secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls", "--dry-run=client"}
	r := runOn(t, c, append(append(args, jwtFlags...), "--audience", "chatqna", "-o", "name")...)
	wantEnd := "virtualservice.networking.istio.io/opea-ingress\n" +
		"requestauthentication.security.istio.io/opea-chatqna-jwt\n" +
		"authorizationpolicy.security.istio.io/opea-chatqna-require-jwt\n"
	if r.code != 0 || !strings.HasSuffix(r.out, wantEnd) {
		t.Errorf("--auth jwt: exit %d, stdout:\n%s\nwant the end:\n%s\nstderr:\n%s", r.code, r.out, wantEnd, r.err)
	}
	r = runOn(t, c, append(append(args, jwtFlags...), "--audience", "chatqna", "-o", "yaml")...)
	for _, want := range []string{
		"    namespace: istio-ingress\n",
		"opea.dev/auth: '" + jwtRecord + "'",
		"          notRequestPrincipals:\n          - https://idp.example.com/realms/opea/*\n",
		"          hosts:\n          - chatqna.example.com\n          - chatqna.example.com:*\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("-o yaml lacks %q:\n%s", want, r.out)
		}
	}
}

// A plain rerun renders the policies of the record again; --auth=none
// lists them as deleted, and leaves another application's alone.
func TestSecureAuthKeptByARerunAndRemovedByNone(t *testing.T) {
	more := []runtime.Object{tlsSecret("istio-ingress", "chatqna-tls", nil),
		authPolicy("RequestAuthentication", "chatqna", "opea-chatqna-jwt", ""),
		authPolicy("AuthorizationPolicy", "chatqna", "opea-chatqna-require-jwt", jwtRecord),
		authPolicy("AuthorizationPolicy", "codetrans", "opea-codetrans-require-jwt", jwtRecord),
		authPolicy("RequestAuthentication", "codetrans", "opea-codetrans-jwt", ""),
	}
	c := fakeClusterWith(t, chatQnA(more...)...)
	args := []string{"secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls", "--dry-run=client"}

	r := runOn(t, c, args...)
	wantEnd := "requestauthentication.security.istio.io/opea-chatqna-jwt serverside-applied (dry run)\n" +
		"authorizationpolicy.security.istio.io/opea-chatqna-require-jwt serverside-applied (dry run)\n"
	if r.code != 0 || !strings.HasSuffix(r.out, wantEnd) || !strings.Contains(r.err, "Keeping --auth jwt, which an earlier secure --auth set up for namespace chatqna") {
		t.Errorf("rerun: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}

	r = runOn(t, c, append(args, "--auth=none")...)
	wantEnd = "virtualservice.networking.istio.io/opea-ingress serverside-applied (dry run)\n" +
		"authorizationpolicy.security.istio.io/opea-chatqna-require-jwt deleted (dry run)\n" +
		"requestauthentication.security.istio.io/opea-chatqna-jwt deleted (dry run)\n"
	if r.code != 0 || !strings.HasSuffix(r.out, wantEnd) || strings.Contains(r.out, "codetrans") {
		t.Errorf("--auth=none: exit %d, stdout:\n%s\nwant the end:\n%s\nstderr:\n%s", r.code, r.out, wantEnd, r.err)
	}

	// Switching to ext-authz removes the jwt policies once the CUSTOM one is applied.
	c = fakeClusterWith(t, chatQnA(append(more, istiodDeployment(), meshConfigMap("extensionProviders:\n- name: oauth2-proxy\n  envoyExtAuthzHttp: {service: oauth2-proxy.oauth2-proxy.svc.cluster.local, port: 4180}\n"))...)...)
	r = runOn(t, c, append(args, "--auth", "ext-authz", "--auth-provider", "oauth2-proxy")...)
	wantEnd = "authorizationpolicy.security.istio.io/opea-chatqna-ext-authz serverside-applied (dry run)\n" +
		"authorizationpolicy.security.istio.io/opea-chatqna-require-jwt deleted (dry run)\n" +
		"requestauthentication.security.istio.io/opea-chatqna-jwt deleted (dry run)\n"
	if r.code != 0 || !strings.HasSuffix(r.out, wantEnd) {
		t.Errorf("jwt to ext-authz: exit %d, stdout:\n%s\nwant the end:\n%s\nstderr:\n%s", r.code, r.out, wantEnd, r.err)
	}
}

// A record that is not what secure writes, or policies without their
// record, refuse a plain rerun: it must not apply what the flags refuse,
// nor drop the token requirement without a word.
func TestSecureAuthRefusesABadRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    string
	}{
		{"an http issuer", []runtime.Object{authPolicy("AuthorizationPolicy", "chatqna", "opea-chatqna-require-jwt",
			`{"mode":"jwt","issuer":"http://evil.example.com","jwksUri":"https://idp.example.com/certs"}`)},
			`AuthorizationPolicy istio-ingress/opea-chatqna-require-jwt: annotation opea.dev/auth=`},
		{"no record", []runtime.Object{authPolicy("RequestAuthentication", "chatqna", "opea-chatqna-jwt", "")},
			"found RequestAuthentication istio-ingress/opea-chatqna-jwt, left by an earlier secure --auth for namespace chatqna, without the AuthorizationPolicy that records its settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, chatQnA(append(tc.objects, tlsSecret("istio-ingress", "chatqna-tls", nil))...)...)
			r := runOn(t, c, "secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls", "--dry-run=client")
			if r.code != ExitFailure || !strings.Contains(r.err, tc.want) || r.out != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant %q", r.code, r.out, r.err, tc.want)
			}
		})
	}
}

func istiodDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}
}

func meshConfigMap(mesh string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio"}, Data: map[string]string{"mesh": mesh}}
}

// --auth ext-authz refuses a provider the mesh config lacks, naming the
// ConfigMap and how to add one, and writes nothing.
func TestSecureAuthRefusesAMissingProvider(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		want string
	}{
		{"other providers", []runtime.Object{istiodDeployment(), meshConfigMap("extensionProviders:\n- name: opa\n  envoyExtAuthzGrpc: {service: opa.opa.svc.cluster.local, port: 9191}\n")},
			"--auth-provider oauth2-proxy is not an extension provider of Istio's mesh config (ConfigMap istio-system/istio, key mesh: it has opa)"},
		{"no ConfigMap", []runtime.Object{istiodDeployment()}, "(ConfigMap istio-system/istio, key mesh: the ConfigMap does not exist)"},
		{"no istiod", nil, "could not check that --auth-provider oauth2-proxy is an extension provider of Istio's mesh config: no istiod found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, chatQnA(append(tc.objs, tlsSecret("istio-ingress", "chatqna-tls", nil))...)...)
			r := runOn(t, c, "secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls",
				"--auth", "ext-authz", "--auth-provider", "oauth2-proxy")
			if r.code != ExitFailure || !strings.Contains(r.err, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", r.code, r.err, tc.want)
			}
			if tc.name == "other providers" && !strings.Contains(r.err, "add it under extensionProviders of the mesh config (kubectl edit configmap istio -n istio-system") {
				t.Errorf("the fix does not say how to add the provider:\n%s", r.err)
			}
		})
	}
}

func TestSecurePrintRBACGrantsTheAuthPolicies(t *testing.T) {
	r := run(t, nil, "secure", "--print-rbac", "-n", "chatqna", "--gateway-namespace", "istio-ingress", "--auth", "jwt")
	for _, want := range []string{"requestauthentications"} {
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Errorf("exit %d, stdout lacks %q:\n%s\nstderr:\n%s", r.code, want, r.out, r.err)
		}
	}
	plain := run(t, nil, "secure", "--print-rbac", "-n", "chatqna", "--gateway-namespace", "istio-ingress")
	if cmp.Equal(plain.out, r.out) {
		t.Errorf("--auth jwt grants nothing more")
	}
}
