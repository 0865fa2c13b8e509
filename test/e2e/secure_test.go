package e2e

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

var (
	peerAuthGVR    = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
	gatewayGVR     = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
	virtualSvcGVR  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	issuerGVR      = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}
	ourObjectGVRs  = []schema.GroupVersionResource{peerAuthGVR, gatewayGVR, virtualSvcGVR, issuerGVR, certificateGVR}
	objectsPerApp  = 7 // PeerAuthentication, 2 Issuers, 2 Certificates, Gateway, VirtualService
	secureSucceeds = "serverside-applied"
)

func adminDynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// newChatQnA creates a namespace holding a ChatQnA release named release,
// and makes sure the shared ingress gateway exists.
func newChatQnA(t testing.TB, release string) string {
	t.Helper()
	return newChatQnAIn(t, namespaceName(t), release)
}

// newChatQnAIn is newChatQnA in a namespace ns it creates.
func newChatQnAIn(t testing.TB, ns, release string) string {
	t.Helper()
	ensureIngressGateway(t)
	createNamespace(t, ns)
	createChatQnAServices(t, adminKube(t), ns, release)
	t.Cleanup(func() { deleteOurGatewayObjects(t, ns) })
	return ns
}

// deleteOurGatewayObjects removes what secure made for appNs in the shared
// gateway namespace, which outlives the test's own namespace.
func deleteOurGatewayObjects(t testing.TB, appNs string) {
	dyn := adminDynamic(t)
	for _, gvr := range []schema.GroupVersionResource{issuerGVR, certificateGVR, {Version: "v1", Resource: "secrets"}} {
		_ = dyn.Resource(gvr).Namespace(gatewayNamespace).DeleteCollection(context.Background(), metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: ownership.Selector(appNs)})
	}
}

// ourObjects lists every object labelled as secure's for appNs, in the app
// and gateway namespaces, as "resource ns/name" -> resourceVersion.
func ourObjects(t testing.TB, appNs string) map[string]string {
	t.Helper()
	dyn := adminDynamic(t)
	found := map[string]string{}
	for _, gvr := range ourObjectGVRs {
		list, err := dyn.Resource(gvr).List(context.Background(), metav1.ListOptions{LabelSelector: ownership.Selector(appNs)})
		if err != nil {
			t.Fatalf("listing %s: %v", gvr.Resource, err)
		}
		for _, o := range list.Items {
			found[gvr.Resource+" "+o.GetNamespace()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return found
}

func getObject(t testing.TB, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := adminDynamic(t).Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading %s %s/%s: %v", gvr.Resource, ns, name, err)
	}
	return obj
}

func nested(t testing.TB, obj *unstructured.Unstructured, fields ...string) interface{} {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, fields...)
	if !found || err != nil {
		t.Fatalf("%s %s: no field %s (%v)", obj.GetKind(), obj.GetName(), strings.Join(fields, "."), err)
	}
	return v
}

func namespaceLabels(t testing.TB, ns string) map[string]string {
	t.Helper()
	got, err := adminKube(t).CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Labels
}

func TestSecureCreatesEverythingForChatQnA(t *testing.T) {
	ns := newChatQnAIn(t, "chatqna", "chatqna")
	r := opea(t, "secure", "-n", ns, "--host", ns+".example.com")
	if r.code != 0 {
		t.Fatalf("secure: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	names := ownership.NamesFor(ns)
	wantLines := []string{
		"namespace/" + ns + " serverside-applied",
		"peerauthentication.security.istio.io/default serverside-applied",
		"issuer.cert-manager.io/" + names.SelfSignedIssuer + " serverside-applied",
		"certificate.cert-manager.io/" + names.CACertificate + " serverside-applied",
		"issuer.cert-manager.io/" + names.CAIssuer + " serverside-applied",
		"certificate.cert-manager.io/" + names.Certificate + " serverside-applied",
		"gateway.networking.istio.io/opea-ingress serverside-applied",
		"virtualservice.networking.istio.io/opea-ingress serverside-applied",
	}
	if got := strings.Split(r.stdout, "\n")[:len(wantLines)]; !reflect.DeepEqual(got, wantLines) {
		t.Errorf("secure output (-want +got):\n%s", cmp.Diff(wantLines, got))
	}
	for _, want := range []string{"kubectl opea verify -n " + ns, "get secret " + names.TLSSecret + " -n istio-ingress",
		"curl --cacert " + ns + "-ca.crt", "https://" + ns + ".example.com/"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("secure does not tell the next step %q:\n%s", want, r.stdout)
		}
	}

	if got := namespaceLabels(t, ns)["istio.io/dataplane-mode"]; got != "ambient" {
		t.Errorf("namespace label istio.io/dataplane-mode = %q, want ambient", got)
	}
	pa := getObject(t, peerAuthGVR, ns, "default")
	if mode := nested(t, pa, "spec", "mtls", "mode"); mode != "STRICT" {
		t.Errorf("PeerAuthentication mode = %v", mode)
	}
	if diff := cmp.Diff(ownership.Labels(ns), pa.GetLabels()); diff != "" {
		t.Errorf("PeerAuthentication labels (-want +got):\n%s", diff)
	}

	// The certificate chain lives with the gateway pods.
	selfSigned := getObject(t, issuerGVR, gatewayNamespace, names.SelfSignedIssuer)
	nested(t, selfSigned, "spec", "selfSigned")
	ca := getObject(t, certificateGVR, gatewayNamespace, names.CACertificate)
	if isCA := nested(t, ca, "spec", "isCA"); isCA != true {
		t.Errorf("CA Certificate isCA = %v", isCA)
	}
	if ref := nested(t, ca, "spec", "issuerRef", "name"); ref != names.SelfSignedIssuer {
		t.Errorf("CA Certificate issuer = %v", ref)
	}
	caIssuer := getObject(t, issuerGVR, gatewayNamespace, names.CAIssuer)
	if secret := nested(t, caIssuer, "spec", "ca", "secretName"); secret != names.CASecret {
		t.Errorf("CA Issuer secret = %v", secret)
	}
	leaf := getObject(t, certificateGVR, gatewayNamespace, names.Certificate)
	if diff := cmp.Diff([]interface{}{ns + ".example.com"}, nested(t, leaf, "spec", "dnsNames")); diff != "" {
		t.Errorf("Certificate dnsNames (-want +got):\n%s", diff)
	}
	if ref := nested(t, leaf, "spec", "issuerRef", "name"); ref != names.CAIssuer {
		t.Errorf("leaf Certificate issuer = %v, want the CA issuer", ref)
	}
	if secret := nested(t, leaf, "spec", "secretName").(string); secret != names.TLSSecret || strings.HasPrefix(secret, "istio") {
		t.Errorf("leaf Certificate secretName = %q", secret)
	}

	gw := getObject(t, gatewayGVR, ns, "opea-ingress")
	wantSelector := map[string]interface{}{}
	for k, v := range gatewayPodLabels {
		wantSelector[k] = v
	}
	if diff := cmp.Diff(wantSelector, nested(t, gw, "spec", "selector")); diff != "" {
		t.Errorf("Gateway selector is not the gateway pods' labels (-want +got):\n%s", diff)
	}
	servers := nested(t, gw, "spec", "servers").([]interface{})
	wantServers := []interface{}{
		map[string]interface{}{
			"port":  map[string]interface{}{"number": int64(443), "name": "https-" + ns, "protocol": "HTTPS"},
			"hosts": []interface{}{ns + ".example.com"},
			"tls":   map[string]interface{}{"mode": "SIMPLE", "credentialName": names.TLSSecret},
		},
		map[string]interface{}{
			"port":  map[string]interface{}{"number": int64(80), "name": "http-" + ns, "protocol": "HTTP"},
			"hosts": []interface{}{ns + ".example.com"},
			"tls":   map[string]interface{}{"httpsRedirect": true},
		},
	}
	if diff := cmp.Diff(wantServers, servers); diff != "" {
		t.Errorf("Gateway servers (-want +got):\n%s", diff)
	}
	vs := getObject(t, virtualSvcGVR, ns, "opea-ingress")
	if diff := cmp.Diff([]interface{}{ns + "/opea-ingress"}, nested(t, vs, "spec", "gateways")); diff != "" {
		t.Errorf("VirtualService gateways (-want +got):\n%s", diff)
	}
	route := nested(t, vs, "spec", "http").([]interface{})[0].(map[string]interface{})["route"].([]interface{})[0]
	wantRoute := map[string]interface{}{"destination": map[string]interface{}{
		"host": "chatqna-nginx." + ns + ".svc.cluster.local",
		"port": map[string]interface{}{"number": int64(80)},
	}}
	if diff := cmp.Diff(wantRoute, route); diff != "" {
		t.Errorf("VirtualService route (-want +got):\n%s", diff)
	}
	if got := len(ourObjects(t, ns)); got != objectsPerApp {
		t.Errorf("%d labelled objects, want %d", got, objectsPerApp)
	}
}

func TestSecureIsIdempotentAndDryRunsWriteNothing(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("first secure: exit %d: %s", r.code, r.stderr)
	}
	settleIssuance(t, ns)
	before := ourObjects(t, ns)
	nsBefore, _ := adminKube(t).CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})

	again := opea(t, "secure", "-n", ns, "--host", ns+".example.com")
	if again.code != 0 {
		t.Fatalf("second secure: exit %d: %s", again.code, again.stderr)
	}
	if strings.Contains(again.stdout, secureSucceeds) || strings.Count(again.stdout, " unchanged\n") != objectsPerApp+1 {
		t.Errorf("a second identical run should report every object unchanged:\n%s", again.stdout)
	}
	if diff := cmp.Diff(before, ourObjects(t, ns)); diff != "" {
		t.Errorf("resourceVersions moved on the second run (-before +after):\n%s", diff)
	}
	nsAfter, _ := adminKube(t).CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if nsBefore.ResourceVersion != nsAfter.ResourceVersion {
		t.Errorf("the namespace was written again")
	}

	server := opea(t, "secure", "-n", ns, "--host", "other.example.com", "--dry-run=server")
	if server.code != 0 || !strings.Contains(server.stdout, "gateway.networking.istio.io/opea-ingress serverside-applied (server dry run)") {
		t.Errorf("--dry-run=server with another host: exit %d\n%s%s", server.code, server.stdout, server.stderr)
	}
	if !strings.Contains(server.stdout, "peerauthentication.security.istio.io/default unchanged (server dry run)") {
		t.Errorf("--dry-run=server should see the PeerAuthentication unchanged:\n%s", server.stdout)
	}
	if diff := cmp.Diff(before, ourObjects(t, ns)); diff != "" {
		t.Errorf("--dry-run=server changed objects (-before +after):\n%s", diff)
	}

	client := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--dry-run=client", "-o", "yaml")
	if client.code != 0 {
		t.Fatalf("--dry-run=client -o yaml: exit %d: %s", client.code, client.stderr)
	}
	printed, err := listItems(client.stdout)
	if err != nil {
		t.Fatalf("--dry-run=client -o yaml is not one List of objects: %v\n%s", err, client.stdout)
	}
	if len(printed) != objectsPerApp+1 {
		t.Fatalf("--dry-run=client printed %d objects, want %d", len(printed), objectsPerApp+1)
	}
	// Every printed object is exactly what the cluster holds: each field it
	// sets has the value the live object has.
	mapper := adminMapper(t)
	for _, p := range printed {
		resource, err := resourceOf(mapper, p)
		if err != nil {
			t.Errorf("printed %s %s is of no resource the cluster serves: %v", p.GetKind(), p.GetName(), err)
			continue
		}
		live, err := resource.Get(context.Background(), p.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Errorf("printed %s %s is not in the cluster: %v", p.GetKind(), p.GetName(), err)
			continue
		}
		if path := firstDifference(p.Object, live.Object, ""); path != "" {
			t.Errorf("printed %s %s differs from the applied one at %s", p.GetKind(), p.GetName(), path)
		}
	}
	asJSON := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--dry-run=client", "-o", "json")
	list, err := desired.Decode([]byte(asJSON.stdout))
	if err != nil || len(list) != 1 || list[0].GetKind() != "List" {
		t.Fatalf("-o json is not one List: %v\n%s", err, asJSON.stdout)
	}
	if items, _, _ := unstructured.NestedSlice(list[0].Object, "items"); len(items) != len(printed) {
		t.Errorf("-o json lists %d objects, -o yaml %d", len(items), len(printed))
	}
	if diff := cmp.Diff(before, ourObjects(t, ns)); diff != "" {
		t.Errorf("--dry-run=client changed objects (-before +after):\n%s", diff)
	}

	applied := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "-o", "yaml")
	if applied.code != 0 || strings.Contains(applied.stdout, "managedFields") || !strings.Contains(applied.stdout, "resourceVersion") {
		t.Errorf("secure -o yaml should print the server's objects without managedFields:\n%s", applied.stdout)
	}
}

// listItems reads the v1 List that -o yaml or json prints, as kubectl apply
// does for several objects.
func listItems(out string) ([]*unstructured.Unstructured, error) {
	docs, err := desired.Decode([]byte(out))
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 || !docs[0].IsList() {
		return nil, fmt.Errorf("%d documents, want one List", len(docs))
	}
	list, err := docs[0].ToList()
	if err != nil {
		return nil, err
	}
	var items []*unstructured.Unstructured
	for i := range list.Items {
		items = append(items, &list.Items[i])
	}
	return items, nil
}

// firstDifference returns the path of the first value in want that got
// lacks or holds differently, or "" when want is contained in got.
func firstDifference(want, got interface{}, path string) string {
	switch w := want.(type) {
	case map[string]interface{}:
		g, ok := got.(map[string]interface{})
		if !ok {
			return path
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if d := firstDifference(w[k], g[k], path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []interface{}:
		g, ok := got.([]interface{})
		if !ok || len(g) != len(w) {
			return path
		}
		for i := range w {
			if d := firstDifference(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return path
	}
	return ""
}

func TestSecureWithOtherHostsUpdatesInPlace(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", "a.example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	first := ourObjects(t, ns)
	r := opea(t, "secure", "-n", ns, "--host", "b.example.com", "--host", "*.apps.example.com")
	if r.code != 0 {
		t.Fatalf("secure with new hosts: %s", r.stderr)
	}
	second := ourObjects(t, ns)
	var firstKeys, secondKeys []string
	for k := range first {
		firstKeys = append(firstKeys, k)
	}
	for k := range second {
		secondKeys = append(secondKeys, k)
	}
	sort.Strings(firstKeys)
	sort.Strings(secondKeys)
	if diff := cmp.Diff(firstKeys, secondKeys); diff != "" {
		t.Errorf("changing hosts changed the set of objects (-before +after):\n%s", diff)
	}
	wantHosts := []interface{}{"b.example.com", "*.apps.example.com"}
	leaf := getObject(t, certificateGVR, gatewayNamespace, ownership.NamesFor(ns).Certificate)
	if diff := cmp.Diff(wantHosts, nested(t, leaf, "spec", "dnsNames")); diff != "" {
		t.Errorf("Certificate dnsNames (-want +got):\n%s", diff)
	}
	gw := getObject(t, gatewayGVR, ns, "opea-ingress")
	for _, s := range nested(t, gw, "spec", "servers").([]interface{}) {
		if diff := cmp.Diff(wantHosts, s.(map[string]interface{})["hosts"]); diff != "" {
			t.Errorf("Gateway server hosts (-want +got):\n%s", diff)
		}
	}
	vs := getObject(t, virtualSvcGVR, ns, "opea-ingress")
	if diff := cmp.Diff(wantHosts, nested(t, vs, "spec", "hosts")); diff != "" {
		t.Errorf("VirtualService hosts (-want +got):\n%s", diff)
	}
}

func TestSecondAppOnTheSameGatewayDoesNotCollide(t *testing.T) {
	chatqna := newChatQnA(t, "chatqna")
	ensureIngressGateway(t)
	codetrans := newNamespace(t)
	t.Cleanup(func() { deleteOurGatewayObjects(t, codetrans) })
	createChatQnAServices(t, adminKube(t), codetrans, "codetrans")
	for _, ns := range []string{chatqna, codetrans} {
		if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
			t.Fatalf("secure -n %s: %s", ns, r.stderr)
		}
	}
	a, b := ourObjects(t, chatqna), ourObjects(t, codetrans)
	if len(a) != objectsPerApp || len(b) != objectsPerApp {
		t.Fatalf("objects per app: %d and %d, want %d each", len(a), len(b), objectsPerApp)
	}
	for k := range a {
		if _, shared := b[k]; shared {
			t.Errorf("both apps use %s", k)
		}
	}
	portNames := map[string]string{}
	for _, ns := range []string{chatqna, codetrans} {
		gw := getObject(t, gatewayGVR, ns, "opea-ingress")
		for _, s := range nested(t, gw, "spec", "servers").([]interface{}) {
			name := s.(map[string]interface{})["port"].(map[string]interface{})["name"].(string)
			if other, dup := portNames[name]; dup {
				t.Errorf("port name %s used by the Gateways of %s and %s", name, other, ns)
			}
			portNames[name] = ns
		}
		route := getObject(t, virtualSvcGVR, ns, "opea-ingress")
		host := nested(t, route, "spec", "http").([]interface{})[0].(map[string]interface{})["route"].([]interface{})[0].(map[string]interface{})["destination"].(map[string]interface{})["host"]
		release := map[string]string{chatqna: "chatqna", codetrans: "codetrans"}[ns]
		if host != release+"-nginx."+ns+".svc.cluster.local" {
			t.Errorf("the VirtualService of %s routes to %v", ns, host)
		}
	}
}

// assertNothingWritten checks that no object of secure's exists for appNs and
// that the namespace, if any, is not enrolled.
func assertNothingWritten(t testing.TB, appNs string) {
	t.Helper()
	if objs := ourObjects(t, appNs); len(objs) != 0 {
		t.Errorf("objects were written: %v", objs)
	}
	ns, err := adminKube(t).CoreV1().Namespaces().Get(context.Background(), appNs, metav1.GetOptions{})
	if err == nil && ns.Labels["istio.io/dataplane-mode"] != "" {
		t.Errorf("namespace %s was labelled %v", appNs, ns.Labels)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestSecureRefusesBadInputAndWritesNothing(t *testing.T) {
	ensureIngressGateway(t)
	kube := adminKube(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, ns string) // ns exists with no Services
		args     []string                      // after "secure -n <ns>"
		wantCode int
		want     []string
	}{
		{
			name:     "no nginx Service",
			setup:    func(t *testing.T, ns string) {},
			wantCode: 1,
			want:     []string{"no Service named <release>-nginx in namespace", "fix: pass the application's entry Service with --service NAME"},
		},
		{
			name: "two nginx Services",
			setup: func(t *testing.T, ns string) {
				createChatQnAServices(t, kube, ns, "chatqna")
				createChatQnAServices(t, kube, ns, "codetrans")
			},
			wantCode: 1,
			want:     []string{"several *-nginx Services in namespace", "chatqna-nginx, codetrans-nginx", "fix: choose one with --service NAME"},
		},
		{
			name:     "entry port missing",
			setup:    func(t *testing.T, ns string) { createChatQnAServices(t, kube, ns, "chatqna") },
			args:     []string{"--service", "chatqna-nginx", "--port", "8080"},
			wantCode: 1,
			want:     []string{"chatqna-nginx has no port 8080 (ports: 80 (nginx))"},
		},
		{
			name: "no gateway in the named namespace",
			setup: func(t *testing.T, ns string) {
				createChatQnAServices(t, kube, ns, "chatqna")
			},
			args:     []string{"--gateway-namespace", "kube-public"},
			wantCode: 1,
			want:     []string{"no Istio ingress gateway found in namespace kube-public", "or install one", "fix: pass --gateway-api instead of --gateway-namespace to have"},
		},
		{
			name: "two gateways",
			setup: func(t *testing.T, ns string) {
				createChatQnAServices(t, kube, ns, "chatqna")
				second := newNamespace(t)
				if err := fixtures.InstallGatewayChart(ctx, cluster.AdminConfig(), "istio-ingressgateway", second); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = kube.AppsV1().Deployments(second).Delete(ctx, "istio-ingressgateway", metav1.DeleteOptions{})
				})
			},
			wantCode: 1,
			want:     []string{"2 ingress gateways found", "istio-ingress/istio-ingress", "/istio-ingressgateway (", "istio=ingressgateway", "fix: choose one with --gateway-namespace"},
		},
		{
			name:     "bad host",
			setup:    func(t *testing.T, ns string) { createChatQnAServices(t, kube, ns, "chatqna") },
			args:     []string{"--host", "chat_qna.example.com", "--host", "ok.example.com"},
			wantCode: 2,
			want:     []string{`invalid --host "chat_qna.example.com"`},
		},
		{
			name: "sidecar namespace",
			setup: func(t *testing.T, ns string) {
				createChatQnAServices(t, kube, ns, "chatqna")
				patch := []byte(`{"metadata":{"labels":{"istio-injection":"enabled"}}}`)
				if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 1,
			want:     []string{"uses Istio sidecar injection (istio-injection=enabled)", "--enroll=false"},
		},
		{
			name:     "TLS Secret missing",
			setup:    func(t *testing.T, ns string) { createChatQnAServices(t, kube, ns, "chatqna") },
			args:     []string{"--tls-secret", "nope-tls"},
			wantCode: 1,
			want:     []string{"Secret istio-ingress/nope-tls does not exist", "kubectl create secret tls nope-tls -n istio-ingress"},
		},
		{
			name:     "Issuer missing",
			setup:    func(t *testing.T, ns string) { createChatQnAServices(t, kube, ns, "chatqna") },
			args:     []string{"--issuer", "letsencrypt", "--issuer-kind", "ClusterIssuer"},
			wantCode: 1,
			want:     []string{"ClusterIssuer letsencrypt does not exist"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			tc.setup(t, ns)
			args := tc.args
			if !slices.Contains(args, "--host") {
				args = append(args, "--host", ns+".example.com")
			}
			r := opea(t, append([]string{"secure", "-n", ns}, args...)...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			assertNothingWritten(t, ns)
		})
	}

	t.Run("missing namespace", func(t *testing.T) {
		r := opea(t, "secure", "-n", "no-such-namespace", "--host", "chatqna.example.com")
		if r.code != 1 || !strings.Contains(r.stderr, `namespace "no-such-namespace" does not exist`) {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
		assertNothingWritten(t, "no-such-namespace")
	})

	t.Run("unreachable cluster", func(t *testing.T) {
		r := opea(t, "secure", "-n", "chatqna", "--host", "chatqna.example.com", "--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify")
		if r.code != 3 || !strings.Contains(r.stderr, "cannot reach the cluster at https://127.0.0.1:1") || !strings.Contains(r.stderr, "kubectl cluster-info") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestSecureReportsConflictWithAnotherFieldManager(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	istioPA := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
		"metadata": map[string]interface{}{"name": "default", "namespace": ns},
		"spec":     map[string]interface{}{"mtls": map[string]interface{}{"mode": "PERMISSIVE"}},
	}}
	dyn := adminDynamic(t)
	if _, err := dyn.Resource(peerAuthGVR).Namespace(ns).Apply(context.Background(), "default", istioPA,
		metav1.ApplyOptions{FieldManager: "platform-team"}); err != nil {
		t.Fatal(err)
	}

	r := opea(t, "secure", "-n", ns, "--host", ns+".example.com")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"peerauthentication.security.istio.io/default in namespace " + ns, `.spec.mtls.mode owned by "platform-team"`, "--force-conflicts"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if mode := nested(t, getObject(t, peerAuthGVR, ns, "default"), "spec", "mtls", "mode"); mode != "PERMISSIVE" {
		t.Errorf("the conflicting PeerAuthentication was changed to %v", mode)
	}
	if objs := ourObjects(t, ns); len(objs) != 0 {
		t.Errorf("objects were written despite the conflict: %v", objs)
	}

	forced := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--force-conflicts")
	if forced.code != 0 {
		t.Fatalf("--force-conflicts: exit %d: %s", forced.code, forced.stderr)
	}
	if mode := nested(t, getObject(t, peerAuthGVR, ns, "default"), "spec", "mtls", "mode"); mode != "STRICT" {
		t.Errorf("after --force-conflicts the mode is %v", mode)
	}
}

func TestSecureListsEveryMissingPermission(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	grant := func(rules []rbacv1.PolicyRule, namespace string) {
		grantLimitedUser(t, "opea-secure-"+ns, namespace, rules)
	}
	write := []string{"get", "create", "patch"}
	// Everything secure reads (its preconditions fail closed: an unread one
	// refuses), and every write but two: patching the Gateway in the app
	// namespace and creating Certificates with the gateway.
	grant([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "services"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{ns}, Verbs: []string{"patch"}},
		// Any namespace's Gateway may claim the hosts on the gateway pods.
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"gateways"}, Verbs: []string{"list"}},
	}, "")
	grant([]rbacv1.PolicyRule{
		{APIGroups: []string{"security.istio.io"}, Resources: []string{"peerauthentications"}, Verbs: append(write, "list")},
		{APIGroups: []string{"security.istio.io"}, Resources: []string{"authorizationpolicies"}, Verbs: []string{"list"}},
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"virtualservices"}, Verbs: write},
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"gateways"}, Verbs: []string{"get", "create"}},
		{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gateways"}, Verbs: []string{"get"}},
		{APIGroups: []string{"security.istio.io"}, Resources: []string{"authorizationpolicies"}, Verbs: []string{"list"}},
	}, ns)
	grant([]rbacv1.PolicyRule{
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"issuers"}, Verbs: write},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		// A plain secure keeps what an earlier secure --auth made on the gateway.
		{APIGroups: []string{"security.istio.io"}, Resources: []string{"authorizationpolicies", "requestauthentications"}, Verbs: []string{"list"}},
	}, gatewayNamespace)

	limited := kubeconfigFor(t, limitedUser)
	var r opeaResult
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		r = opeaWith(t, limited, "secure", "-n", ns, "--host", ns+".example.com")
		return strings.Contains(r.stderr, "you lack permissions"), nil
	})
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	// Both, in one report, before anything is read: the one in the gateway
	// namespace too, although secure finds that namespace only later.
	for _, want := range []string{
		fmt.Sprintf("error: you lack permissions secure needs: create certificates.cert-manager.io in namespace istio-ingress; patch gateways.networking.istio.io in namespace %s\n", ns),
		"fix: ask a cluster admin",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "peerauthentications") || strings.Contains(r.stderr, "issuers") {
		t.Errorf("permissions the user has are reported missing:\n%s", r.stderr)
	}
	assertNothingWritten(t, ns)
}

func TestSecureWaitsForTheCertificate(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	// cert-manager holds the certificate until the issuer has its CA.
	held, err := fixtures.CreateHeldIssuer(context.Background(), adminDynamic(t), gatewayNamespace, "held-"+ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adminKube(t).CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), ownership.NamesFor(ns).TLSSecret, metav1.DeleteOptions{})
		held.Delete(context.Background(), adminKube(t), adminDynamic(t))
	})
	timedOut := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--issuer", held.Name, "--wait", "--timeout", "2s")
	if timedOut.code != 124 {
		t.Errorf("--wait with no issuance: exit %d, want 124\n%s", timedOut.code, timedOut.stderr)
	}
	if !strings.Contains(timedOut.stderr, "timed out after 2s waiting for certificate istio-ingress/"+ownership.NamesFor(ns).Certificate) {
		t.Errorf("timeout message: %s", timedOut.stderr)
	}

	names := ownership.NamesFor(ns)
	done := make(chan opeaResult)
	go func() {
		done <- opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--issuer", held.Name, "--wait", "--timeout", "60s")
	}()
	time.Sleep(1500 * time.Millisecond)
	if err := held.Release(context.Background(), adminDynamic(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixtures.WaitCertificateIssued(context.Background(), adminKube(t), adminDynamic(t), gatewayNamespace, names.Certificate); err != nil {
		t.Error(err)
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.stdout, "certificate.cert-manager.io/"+names.Certificate+" ready") {
		t.Errorf("--wait with issuance: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
