package plugin

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// issueGatewayCredential is what cert-manager wrote for the private CA
// secure sets up: a CA, and a certificate for chatqna.example.com it
// signed, valid 90 days from now. The key PEM only goes into Secrets.
func issueGatewayCredential(t *testing.T) testpki.Credential {
	t.Helper()
	notBefore, notAfter := testpki.ValidFor(90 * 24 * time.Hour)
	return testpki.MustIssue(t, testpki.Leaf{DNSNames: []string{"chatqna.example.com"}, CA: "OPEA chatqna ingress CA",
		NotBefore: notBefore, NotAfter: notAfter})
}

// readyCondition is the Ready condition cert-manager sets on its
// Certificates and Issuers.
func readyCondition(u *unstructured.Unstructured, message string) {
	_ = unstructured.SetNestedSlice(u.Object, []interface{}{
		map[string]interface{}{"type": "Ready", "status": "True", "reason": "Ready", "message": message},
	}, "status", "conditions")
}

// issuedStatus is the status cert-manager writes beside Ready on a
// Certificate it issued as cred, to be renewed 30 days before it expires.
func issuedStatus(u *unstructured.Unstructured, cred testpki.Credential) {
	status := map[string]interface{}{
		"notBefore":   cred.Leaf.NotBefore.UTC().Format(time.RFC3339),
		"notAfter":    cred.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"renewalTime": renewalTime(cred).Format(time.RFC3339),
		"revision":    int64(1),
	}
	for k, v := range status {
		_ = unstructured.SetNestedField(u.Object, v, "status", k)
	}
}

// renewalTime is when cert-manager renews cred, as issuedStatus says.
func renewalTime(cred testpki.Credential) time.Time {
	return cred.Leaf.NotAfter.UTC().Add(-30 * 24 * time.Hour).Truncate(time.Second)
}

// minute is t as verify's messages give it.
func minute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// securedChatQnA is ChatQnA after kubectl opea secure -n chatqna --host
// chatqna.example.com, once the controllers have acted: the namespace
// enrolled and every pod captured by ztunnel; secure's objects (STRICT
// PeerAuthentication, the private CA's Issuers and Certificates, Gateway,
// VirtualService) as it renders them, cert-manager's Issuers and
// Certificates Ready and its Secrets written; two ingress gateway pods of
// ServiceAccount istio-ingress; istiod with its mesh ConfigMap, ztunnel and
// istio-cni ready in ambient mode.
func securedChatQnA(t *testing.T, cred testpki.Credential) []runtime.Object {
	t.Helper()
	objs := append(chatQnA(), ambientIstio()...)
	objs = append(objs, meshRootConfigMap(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna", Labels: map[string]string{"istio.io/dataplane-mode": "ambient"}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio", Labels: map[string]string{"istio.io/rev": "default"}},
			Data: map[string]string{"mesh": "rootNamespace: istio-system\ntrustDomain: cluster.local\n"}},
	)
	for _, o := range chatQnAPods() {
		pod := o.(*metav1.PartialObjectMetadata)
		pod.Annotations = map[string]string{"ambient.istio.io/redirection": "enabled"}
		objs = append(objs, pod)
	}
	for _, name := range []string{"istio-ingress-7c9d8f6b4-4xk2p", "istio-ingress-7c9d8f6b4-h7w9z"} {
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: name,
				Labels: map[string]string{"app": "istio-ingress", "istio": "ingress", "sidecar.istio.io/inject": "true"}},
			Spec: corev1.PodSpec{ServiceAccountName: "istio-ingress", Containers: []corev1.Container{{Name: "istio-proxy", Image: "auto",
				Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		})
	}

	applied, err := desired.Objects(desired.Params{
		AppNamespace: "chatqna", GatewayNamespace: "istio-ingress", GatewaySelector: map[string]string{"istio": "ingress"},
		Hosts: []string{"chatqna.example.com"}, Service: "chatqna-nginx", ServicePort: 80,
		HTTPSPort: 443, HTTPPort: 80, HTTPRedirect: true, Certificates: desired.OwnCA,
		NetworkingVersion: "v1", SecurityVersion: "v1",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range applied {
		switch u.GetKind() {
		case "Certificate":
			readyCondition(u, "Certificate is up to date and has not expired")
			if u.GetName() == "opea-chatqna-tls" {
				issuedStatus(u, cred)
			}
		case "Issuer":
			readyCondition(u, "Signing CA verified")
		}
		objs = append(objs, u)
	}
	labels := ownership.Labels("chatqna")
	secret := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: name, Labels: labels,
				Annotations: map[string]string{"cert-manager.io/certificate-name": name, "cert-manager.io/issuer-kind": "Issuer"}},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
	}
	return append(objs,
		secret("opea-chatqna-ca", map[string][]byte{"tls.crt": cred.CAPEM, "tls.key": cred.CAKeyPEM, "ca.crt": cred.CAPEM}),
		secret("opea-chatqna-tls", map[string][]byte{"tls.crt": cred.CertPEM, "tls.key": cred.KeyPEM, "ca.crt": cred.CAPEM}),
	)
}

// securedCluster is the fake cluster holding objs, answering as an API
// server would where the fakes do not: the field selector of a ConfigMap
// list is honoured (the kube fake ignores field selectors, and verify finds
// istio-cni-config by one), and a SubjectAccessReview is answered as RBAC
// would with the Role Istio's gateway chart grants: ServiceAccount
// istio-ingress/istio-ingress may list Secrets in its namespace, nobody
// else may.
func securedCluster(t *testing.T, objs []runtime.Object) fakeCluster {
	t.Helper()
	c := fakeClusterWith(t, objs...)
	c.cluster().Discovery().FakedServerVersion = &version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.2"}
	c.kube.PrependReactor("list", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		selector := a.(k8stesting.ListAction).GetListRestrictions().Fields
		if selector == nil || selector.Empty() {
			return false, nil, nil
		}
		all, err := c.kube.Tracker().List(corev1.SchemeGroupVersion.WithResource("configmaps"), corev1.SchemeGroupVersion.WithKind("ConfigMap"), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		list := all.(*corev1.ConfigMapList)
		matched := &corev1.ConfigMapList{ListMeta: list.ListMeta}
		for _, cm := range list.Items {
			if selector.Matches(fields.Set{"metadata.name": cm.Name, "metadata.namespace": cm.Namespace}) {
				matched.Items = append(matched.Items, cm)
			}
		}
		return true, matched, nil
	})
	c.kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		attrs := review.Spec.ResourceAttributes
		if review.Spec.User == "system:serviceaccount:istio-ingress:istio-ingress" && attrs != nil &&
			attrs.Namespace == "istio-ingress" && attrs.Verb == "list" && attrs.Group == "" && attrs.Resource == "secrets" {
			review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: `RBAC: allowed by RoleBinding "istio-ingress/istio-ingress" of Role "istio-ingress"`}
		}
		return true, review, nil
	})
	return c
}

// runVerify runs verify -n chatqna against c, as runOn does, and fails the
// test unless the only request that was not a read is the one
// SubjectAccessReview for the gateway pods' ServiceAccount.
func runVerify(t *testing.T, c fakeCluster, args ...string) result {
	t.Helper()
	c.kube.ClearActions()
	c.dyn.ClearActions()
	c.meta.ClearActions()
	r := run(t, c.clients, append([]string{"--kubeconfig", writeKubeconfig(t), "verify", "-n", "chatqna"}, args...)...)
	want := []string{"create subjectaccessreviews.authorization.k8s.io in namespace "}
	if diff := cmp.Diff(want, c.writes()); diff != "" {
		t.Errorf("%v: requests other than reads (-want +got):\n%s", args, diff)
	}
	return r
}

// liveGateway is the ingress gateway as a client reaches it: an HTTPS
// listener serving the Secret's certificate, whose GET / answers 200, and
// a plain HTTP listener that redirects to https. It returns their
// addresses.
func liveGateway(t *testing.T, cred testpki.Credential) (httpsAddress, httpAddress string) {
	t.Helper()
	pair, err := tls.X509KeyPair(cred.CertPEM, cred.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ChatQnA"))
	}))
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+r.Host+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(plain.Close)
	return strings.TrimPrefix(secure.URL, "https://"), strings.TrimPrefix(plain.URL, "http://")
}

// outcome is what a check is expected to report.
type outcome struct {
	status        check.Status
	message, hint string
}

// securedOutcomes are the outcomes of every check on securedChatQnA,
// probed at probeAddress.
func securedOutcomes(cred testpki.Credential, probeAddress string) map[string]outcome {
	ok := func(message string) outcome { return outcome{status: check.Pass, message: message} }
	skipped := func(message string) outcome { return outcome{status: check.Skip, message: message} }
	return map[string]outcome{
		"cluster.api-reachable":       ok("Kubernetes v1.37.2"),
		"cluster.istio-apis":          ok("networking.istio.io/v1, security.istio.io/v1"),
		"cluster.cert-manager-api":    ok("cert-manager.io/v1"),
		"ambient.istiod":              ok("istio-system/istiod: 1/1 ready"),
		"ambient.istiod-ambient-mode": ok("istio-system/istiod: PILOT_ENABLE_AMBIENT=true"),
		"ambient.ztunnel":             ok("istio-system/ztunnel: 3/3 ready"),
		"ambient.istio-cni":           ok("istio-system/istio-cni-node: 3/3 ready"),
		"ambient.cni-ambient-enabled": ok("AMBIENT_ENABLED=true"),

		"enrolment.namespace-label":      ok("istio.io/dataplane-mode=ambient"),
		"enrolment.no-sidecar-injection": ok("no istio-injection or istio.io/rev label"),
		"enrolment.no-opt-out":           ok("3 pods, none opted out"),
		"enrolment.pods-redirected":      ok("3 pods captured"),

		"mtls.namespace-strict":    ok("STRICT for 3 workloads"),
		"mtls.no-permissive-ports": ok("no PERMISSIVE or DISABLE portLevelMtls"),
		"mtls.ignored-policies":    ok("none"),
		"mtls.destinationrule-tls": ok("none"),

		"ingress.gateway-found":    ok("Gateway chatqna/opea-ingress, VirtualService chatqna/opea-ingress"),
		"ingress.selector-matches": ok("istio=ingress matches 2 pods in istio-ingress"),
		"ingress.service-ports":    ok("every server port reaches the gateway pods through their Service"),
		"ingress.https-server":     ok("chatqna/opea-ingress port 443, SIMPLE, credential opea-chatqna-tls"),
		"ingress.http-redirect":    ok("HTTP redirects to HTTPS"),
		"ingress.no-conflicts":     ok("no other Gateway on the same pods claims the same host and port"),

		"routing.gateway-ref":        ok("every reference resolves"),
		"routing.hosts-intersect":    ok("hosts intersect"),
		"routing.destination-exists": ok("every destination exists"),

		"certificate.secret-present":     ok("istio-ingress/opea-chatqna-tls"),
		"certificate.gateway-may-read":   ok("istio-ingress/istio-ingress may list Secrets in its namespace"),
		"certificate.secret-format":      ok("istio-ingress/opea-chatqna-tls: kubernetes.io/tls"),
		"certificate.keypair":            ok("they parse and match"),
		"certificate.sans":               ok("chatqna.example.com"),
		"certificate.validity":           ok("until " + cred.Leaf.NotAfter.UTC().Format("2006-01-02")),
		"certificate.chain":              ok("chains to ca.crt"),
		"certificate.cert-manager-ready": ok("Certificate and issuer Ready"),
		"certificate.renewal": ok(fmt.Sprintf("Certificate istio-ingress/opea-chatqna-tls renews at %s (revision 1, issued %s)",
			minute(renewalTime(cred)), minute(cred.Leaf.NotBefore))),
		"certificate.served-current":   ok("the gateway serves the certificate issued " + minute(cred.Leaf.NotBefore) + ", the latest in istio-ingress/opea-chatqna-tls"),
		"certificate.mesh-root-expiry": ok(`"CN=cluster.local" until ` + meshRootExpiry.Format("2006-01-02")),
		"certificate.mesh-root-single": ok(`one root, "CN=cluster.local"`),

		"probe.tls-handshake":      ok(probeAddress + " validated for chatqna.example.com"),
		"probe.served-certificate": ok("the served certificate is the Secret's"),
		"probe.https-route":        ok("GET / answered 200"),
		"probe.http-redirect":      ok("301 to https://chatqna.example.com/"),

		"authorization.ingress-admitted":       ok("no AuthorizationPolicy applies to the entry pods: every caller admitted"),
		"authorization.gateway-admits-clients": ok("no AuthorizationPolicy on the gateway refuses clients"),
		"authorization.waypoint-admitted":      ok("no Service of the namespace uses a waypoint"),
		"authorization.ztunnel-accepted":       ok("no AuthorizationPolicy in namespace chatqna"),
		"authorization.waypoint-ingress":       ok("no waypoint"),
		"authorization.port-forward":           ok("no one but the cluster's admins (subjects bound to ClusterRole cluster-admin, left out) may port-forward to the pods of chatqna"),
		"authorization.no-bypass-service":      ok("no NodePort or LoadBalancer Service selects the application's pods"),
		"authorization.lockdown-intact":        ok("not locked down: no AuthorizationPolicy of kubectl opea secure --lockdown"),

		// The fake cluster's application pods carry none of the labels
		// its Services select: no port is served, none judged.
		"reachability.plaintext-refused":      skipped("no running pod found to serve any port of the application's Services"),
		"reachability.entry-admits-gateway":   skipped("no running pod found to serve the entry ports chatqna-nginx:80"),
		"reachability.backends-internal":      skipped("no running pod found to serve a backend port"),
		"pitfalls.networkpolicy-admits-hbone": ok("no NetworkPolicy in namespace chatqna"),
		"pitfalls.principals-exist":           ok("every service account the policies name in namespace chatqna exists (0 accounts there)"),
		"pitfalls.gateway-host-network":       ok("no gateway pod of the application's Gateways on the host network"),
		"pitfalls.l7-policy-enforced":         ok("no RequestAuthentication, and no AuthorizationPolicy with HTTP fields or CUSTOM, selects the application's pods"),
		"pitfalls.waypoint-exists":            ok("no Service or pod of the namespace names a waypoint"),
		"authentication.configured":           {status: check.Skip, message: "no authentication at the gateway for the application's hosts: whoever reaches the gateway reaches the application (kubectl opea secure --auth jwt|ext-authz adds it)"},
	}
}

// expectedJSON is the -o json document of a run of verify -n chatqna whose
// checks report outcomes, one for every check of the catalogue that judges
// an Istio Gateway's ingress (the Gateway API's are not run) but those
// reported only under a condition (ReportedOnly) that outcomes leave out.
func expectedJSON(t *testing.T, outcomes map[string]outcome, success bool, summary check.Summary) string {
	t.Helper()
	var catalogue []check.Check
	for _, c := range check.Catalogue {
		if _, expected := outcomes[c.ID]; c.ReportedOnly != nil && !expected {
			continue
		}
		if c.Ingress != check.GatewayAPIIngress {
			catalogue = append(catalogue, c)
		}
	}
	if len(outcomes) != len(catalogue) {
		t.Fatalf("%d expected outcomes for %d checks", len(outcomes), len(catalogue))
	}
	report := auditreport.Report{Namespace: "chatqna", Success: success, Summary: summary}
	for _, c := range catalogue {
		o, found := outcomes[c.ID]
		if !found {
			t.Fatalf("no expected outcome for %s", c.ID)
		}
		if n := len(report.Categories); n == 0 || report.Categories[n-1].CategoryName != c.Category {
			report.Categories = append(report.Categories, auditreport.ReportCategory{CategoryName: c.Category})
		}
		category := &report.Categories[len(report.Categories)-1]
		category.Checks = append(category.Checks, auditreport.ReportCheck{ID: c.ID, Description: c.Description, Result: o.status,
			Message: o.message, Hint: o.hint, Docs: auditreport.DocsURL + c.ID})
	}
	var b bytes.Buffer
	if err := auditreport.JSON(&b, report); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkJSON compares verify's -o json output with the report expected.
func checkJSON(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 0 || r.err != "" {
		t.Errorf("-o json: exit %d, stderr %q; want 0 and nothing", r.code, r.err)
	}
	var report auditreport.Report
	if err := json.Unmarshal([]byte(r.out), &report); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, r.out)
	}
	// The reachability document is the matrix's, judged on its own below
	// and in verify_reachability_test.go; the rest is compared whole.
	reach := report.Reachability
	report.Reachability = nil
	var b bytes.Buffer
	if err := auditreport.JSON(&b, report); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("-o json (-want +got):\n%s", diff)
	}
	checkSecuredReachability(t, reach)
}

// checkSecuredReachability judges the reachability document of the
// secured ChatQnA, whose pods no Service selects: a row for each port of
// the application's Services (not the gateway's), every cell unknown for
// want of a pod, the gateway column calling as the gateway pods' identity.
func checkSecuredReachability(t *testing.T, doc *auditreport.ReachabilityDocument) {
	t.Helper()
	if doc == nil {
		t.Fatal("-o json has no reachability document")
	}
	var keys []string
	for _, c := range doc.Columns {
		keys = append(keys, c.Key)
	}
	if diff := cmp.Diff([]string{"plaintext", "gateway", "app", "other-namespace"}, keys); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if len(doc.Columns) == 4 && !cmp.Equal(doc.Columns[1].Callers, []string{"cluster.local/ns/istio-ingress/sa/istio-ingress"}) {
		t.Errorf("gateway callers %v", doc.Columns[1].Callers)
	}
	var rows []string
	for _, r := range doc.Rows {
		rows = append(rows, fmt.Sprintf("%s:%d", r.Service, r.Port))
		for _, c := range r.Cells {
			if c.Verdict != "unknown" || c.DecidedBy != "(no pod serves this port)" {
				t.Errorf("%s:%d %s: %s by %q, want unknown: no pod", r.Service, r.Port, c.Column, c.Verdict, c.DecidedBy)
			}
		}
	}
	want := []string{"chatqna:8888", "chatqna-nginx:80", "chatqna-retriever-usvc:7000", "chatqna-tei:80", "chatqna-ui:5173"}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// On a cluster where ChatQnA is secured as secure leaves it, verify exits 0
// in every output format. With the gateway reachable, every check passes;
// with no address to probe (the gateway Service has no load balancer
// address, no --probe-address, and --probe-via address rules out a
// port-forward), the probe warns, as documented, and the checks of what it
// would have seen are skipped: still exit 0.
func TestVerifySucceedsOnASecuredChatQnA(t *testing.T) {
	cred := issueGatewayCredential(t)
	c := securedCluster(t, securedChatQnA(t, cred))
	const docs = "    see: " + auditreport.DocsURL

	t.Run("gateway probed", func(t *testing.T) {
		httpsAddress, httpAddress := liveGateway(t, cred)
		probe := []string{"--probe-address", httpsAddress, "--probe-http-address", httpAddress, "--probe-timeout", "30s"}

		short := runVerify(t, c, append(probe, "-o", "short")...)
		want := result{out: "Verdict: chatqna is secured: TLS ingress and STRICT mTLS in place (54 passed, 0 warnings, 0 failed, 4 skipped)\n"}
		if diff := cmp.Diff(want, short, cmp.AllowUnexported(result{})); diff != "" {
			t.Errorf("-o short (-want +got):\n%s", diff)
		}

		checkJSON(t, runVerify(t, c, append(probe, "-o", "json")...),
			expectedJSON(t, securedOutcomes(cred, httpsAddress), true, check.Summary{Passed: 54, Skipped: 4}))

		table := runVerify(t, c, probe...)
		if table.code != 0 || table.err != "" || strings.Count(table.out, "[ok]   ") != 54 ||
			!strings.HasSuffix(table.out, "\nVerdict: chatqna is secured: TLS ingress and STRICT mTLS in place (54 passed, 0 warnings, 0 failed, 4 skipped)\n") {
			t.Errorf("-o table: exit %d, stderr %q:\n%s", table.code, table.err, table.out)
		}
	})

	t.Run("no address to probe", func(t *testing.T) {
		const hint = "pass --probe-address HOST:PORT of the gateway's HTTPS listener (e.g. after kubectl port-forward -n istio-ingress svc/istio-ingress 8443:443)"
		short := runVerify(t, c, "-o", "short", "--probe-via", "address")
		want := result{out: `Live TLS probe
--------------
[warn] TLS handshake validates for every host  [probe.tls-handshake]
    no address to probe: the gateway Service has no load balancer address
    fix: ` + hint + `
` + docs + `probe.tls-handshake

Verdict: chatqna is secured: TLS ingress and STRICT mTLS in place (49 passed, 1 warning, 0 failed, 8 skipped)
`}
		if diff := cmp.Diff(want, short, cmp.AllowUnexported(result{})); diff != "" {
			t.Errorf("-o short (-want +got):\n%s", diff)
		}

		outcomes := securedOutcomes(cred, "")
		outcomes["probe.tls-handshake"] = outcome{status: check.Warn, message: "no address to probe: the gateway Service has no load balancer address", hint: hint}
		outcomes["probe.served-certificate"] = outcome{status: check.Skip, message: "no successful handshake"}
		outcomes["probe.https-route"] = outcome{status: check.Skip, message: "no successful handshake"}
		outcomes["probe.http-redirect"] = outcome{status: check.Skip, message: "no plain HTTP address to probe"}
		outcomes["certificate.served-current"] = outcome{status: check.Skip, message: "no successful handshake"}
		checkJSON(t, runVerify(t, c, "-o", "json", "--probe-via", "address"),
			expectedJSON(t, outcomes, true, check.Summary{Passed: 49, Warnings: 1, Skipped: 8}))

		if table := runVerify(t, c, "--probe-via", "address"); table.code != 0 || table.err != "" {
			t.Errorf("-o table: exit %d, stderr %q:\n%s", table.code, table.err, table.out)
		}
	})
}

// A certificate that expires sooner than --min-validity is a warning, not
// a failure: on the same secured ChatQnA, probed, verify still exits 0,
// with that one warning.
func TestVerifyWarnsOfACertificateExpiringSooner(t *testing.T) {
	cred := issueGatewayCredential(t)
	c := securedCluster(t, securedChatQnA(t, cred))
	httpsAddress, httpAddress := liveGateway(t, cred)
	args := []string{"--min-validity", "2400h", "--probe-address", httpsAddress, "--probe-http-address", httpAddress, "--probe-timeout", "30s"}
	const hint = "renew the certificate soon, or have cert-manager renew it earlier (spec.renewBefore)"
	message := "the certificate in istio-ingress/opea-chatqna-tls expires on " + cred.Leaf.NotAfter.UTC().Format("2006-01-02") + ", in less than 2400h0m0s"

	short := runVerify(t, c, append(args, "-o", "short")...)
	want := result{out: `Certificate
-----------
[warn] certificate valid now and for long enough  [certificate.validity]
    ` + message + `
    fix: ` + hint + `
    see: ` + auditreport.DocsURL + `certificate.validity

Verdict: chatqna is secured: TLS ingress and STRICT mTLS in place (53 passed, 1 warning, 0 failed, 4 skipped)
`}
	if diff := cmp.Diff(want, short, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("-o short (-want +got):\n%s", diff)
	}

	outcomes := securedOutcomes(cred, httpsAddress)
	outcomes["certificate.validity"] = outcome{status: check.Warn, message: message, hint: hint}
	checkJSON(t, runVerify(t, c, append(args, "-o", "json")...),
		expectedJSON(t, outcomes, true, check.Summary{Passed: 53, Warnings: 1, Skipped: 4}))
}
