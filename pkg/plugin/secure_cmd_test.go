package plugin

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	fakediscovery "k8s.io/client-go/discovery/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
)

// fakeClusterWith is a fake cluster holding namespace chatqna (replaced
// when objs hold it) and objs, each where the API server keeps it (see
// clientstest.Cluster.Add), and serving Istio's and cert-manager's APIs.
// The user holds every permission secure checks for before reading: what a
// missing one does is tested against the real API server. Nothing of the
// setup is recorded as a request.
func fakeClusterWith(t *testing.T, objs ...runtime.Object) fakeCluster {
	t.Helper()
	c := clientstest.New(t, append([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}}}, objs...)...)
	c.AllowAccessReviews()
	return fakeCluster{kube: c.Kube, dyn: c.Dynamic, meta: c.Metadata}
}

// cluster is c as clientstest's fake cluster: the same three clients over
// the same discovery.
func (c fakeCluster) cluster() *clientstest.Cluster {
	return &clientstest.Cluster{Kube: c.kube, Dynamic: c.dyn, Metadata: c.meta}
}

// discovery is the fake discovery client of c, to change what it serves.
func (c fakeCluster) discovery() *fakediscovery.FakeDiscovery {
	return c.cluster().Discovery()
}

// withoutAPIGroups stops serving the API groups named.
func (c fakeCluster) withoutAPIGroups(groups ...string) fakeCluster {
	c.cluster().StopServing(groups...)
	return c
}

// writes lists every request of the fakes that is not a read.
func (c fakeCluster) writes() []string {
	return c.cluster().Writes()
}

// runOn runs the command against c, with a kubeconfig whose server does
// not exist: only the fakes answer, and the user's kubeconfig is not read.
// It fails the test when the command wrote anything.
func runOn(t *testing.T, c fakeCluster, args ...string) result {
	t.Helper()
	r := run(t, c.cluster().Getter, append([]string{"--kubeconfig", writeKubeconfig(t)}, args...)...)
	if w := c.writes(); len(w) > 0 {
		t.Errorf("%v wrote to the cluster: %v", args, w)
	}
	return r
}

// unstructuredObject is an object of the dynamic client.
func unstructuredObject(apiVersion, kind, namespace, name string, labels map[string]string, fields map[string]interface{}) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion, "kind": kind}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetLabels(labels)
	u.SetCreationTimestamp(metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second)))
	return u
}

// ingressGateway is the istio/gateway Helm chart installed as
// istio-ingress in namespace istio-ingress: its Deployment and its
// LoadBalancer Service, 80 and 443 to the same pod ports.
func ingressGateway() []runtime.Object {
	podLabels := map[string]string{"app": "istio-ingress", "istio": "ingress"}
	template := map[string]string{"app": "istio-ingress", "istio": "ingress", "sidecar.istio.io/inject": "true"}
	port := func(name string, n int32) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: n, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(n)}
	}
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-ingress"}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "istio-ingress", Labels: podLabels},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: podLabels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: template},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "auto",
						Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}}}}},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "istio-ingress", Labels: podLabels},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeLoadBalancer,
				Selector: podLabels,
				Ports:    []corev1.ServicePort{port("status-port", 15021), port("http2", 80), port("https", 443)},
			},
		},
	}
}

// service is a ClusterIP Service of the application in namespace chatqna.
func service(name string, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "nginx", Port: p, TargetPort: intstr.FromInt32(8080)})
	}
	return s
}

// chatQnA is the ChatQnA Helm chart's Services in namespace chatqna, its
// entry Service chatqna-nginx on port 80 among them, and the ingress
// gateway, with more objects.
func chatQnA(more ...runtime.Object) []runtime.Object {
	objs := []runtime.Object{
		service("chatqna", 8888), service("chatqna-nginx", 80), service("chatqna-ui", 5173),
		service("chatqna-retriever-usvc", 7000), service("chatqna-tei", 80),
	}
	return append(append(objs, ingressGateway()...), more...)
}

// gatewayOf is a Gateway of another application on the ingress gateway
// pods, serving hosts on 443 and redirecting them on 80, as secure writes it.
func gatewayOf(namespace string, hosts ...interface{}) *unstructured.Unstructured {
	server := func(number int64, protocol string, tls map[string]interface{}) interface{} {
		return map[string]interface{}{
			"port":  map[string]interface{}{"number": number, "name": strings.ToLower(protocol) + "-" + namespace, "protocol": protocol},
			"hosts": hosts,
			"tls":   tls,
		}
	}
	return unstructuredObject("networking.istio.io/v1", "Gateway", namespace, "opea-ingress", ownLabels(namespace), map[string]interface{}{
		"spec": map[string]interface{}{
			"selector": map[string]interface{}{"istio": "ingress"},
			"servers": []interface{}{
				server(443, "HTTPS", map[string]interface{}{"mode": "SIMPLE", "credentialName": "opea-" + namespace + "-tls"}),
				server(80, "HTTP", map[string]interface{}{"httpsRedirect": true}),
			},
		},
	})
}

// ownLabels are the labels secure puts on what it creates for namespace.
func ownLabels(namespace string) map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "kubectl-opea", "opea.dev/app-namespace": namespace}
}

func tlsSecret(namespace, name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": []byte("certificate"), "tls.key": []byte("key")},
	}
}

// secure --dry-run=client reads the cluster, checks every precondition and
// prints what it would apply, kubectl's way: one line per object, in the
// order of the apply. It sends nothing.
func TestSecureDryRunClientPrintsWhatItWouldApply(t *testing.T) {
	const (
		namespace = "namespace/chatqna serverside-applied (dry run)\n"
		strict    = "peerauthentication.security.istio.io/default serverside-applied (dry run)\n"
		routing   = "gateway.networking.istio.io/opea-ingress serverside-applied (dry run)\n" +
			"virtualservice.networking.istio.io/opea-ingress serverside-applied (dry run)\n"
	)
	for _, tc := range []struct {
		name               string
		more               []runtime.Object
		withoutCertManager bool
		args               []string
		out                string
		errOut             string
	}{
		{
			name: "a private CA",
			args: []string{"--host", "chatqna.example.com"},
			out: namespace + strict +
				"issuer.cert-manager.io/opea-chatqna-selfsigned serverside-applied (dry run)\n" +
				"certificate.cert-manager.io/opea-chatqna-ca serverside-applied (dry run)\n" +
				"issuer.cert-manager.io/opea-chatqna-ca serverside-applied (dry run)\n" +
				"certificate.cert-manager.io/opea-chatqna-tls serverside-applied (dry run)\n" +
				routing,
		},
		{
			name: "an existing issuer",
			more: []runtime.Object{unstructuredObject("cert-manager.io/v1", "Issuer", "istio-ingress", "corp-ca", nil,
				map[string]interface{}{"spec": map[string]interface{}{"ca": map[string]interface{}{"secretName": "corp-ca"}}})},
			args: []string{"--host", "chatqna.example.com", "--issuer", "corp-ca"},
			out:  namespace + strict + "certificate.cert-manager.io/opea-chatqna-tls serverside-applied (dry run)\n" + routing,
		},
		{
			name:               "an existing Secret, without cert-manager",
			more:               []runtime.Object{tlsSecret("istio-ingress", "chatqna-tls", nil)},
			withoutCertManager: true,
			args:               []string{"--host", "chatqna.example.com", "--tls-secret", "chatqna-tls"},
			out:                namespace + strict + routing,
		},
		{
			name: "not enrolled",
			args: []string{"--host", "chatqna.example.com", "--tls-secret", "chatqna-tls", "--enroll=false"},
			more: []runtime.Object{tlsSecret("istio-ingress", "chatqna-tls", nil)},
			out:  strict + routing,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, chatQnA(tc.more...)...)
			if tc.withoutCertManager {
				c.withoutAPIGroups("cert-manager.io")
			}
			r := runOn(t, c, append([]string{"secure", "-n", "chatqna", "--dry-run=client"}, tc.args...)...)
			if diff := cmp.Diff(result{out: tc.out, err: tc.errOut}, r, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecureDryRunClientOutputFormats(t *testing.T) {
	c := fakeClusterWith(t, chatQnA()...)
	args := []string{"secure", "-n", "chatqna", "--host", "chatqna.example.com", "--dry-run=client"}

	names := runOn(t, c, append(args, "-o", "name")...)
	want := result{out: "namespace/chatqna\n" +
		"peerauthentication.security.istio.io/default\n" +
		"issuer.cert-manager.io/opea-chatqna-selfsigned\n" +
		"certificate.cert-manager.io/opea-chatqna-ca\n" +
		"issuer.cert-manager.io/opea-chatqna-ca\n" +
		"certificate.cert-manager.io/opea-chatqna-tls\n" +
		"gateway.networking.istio.io/opea-ingress\n" +
		"virtualservice.networking.istio.io/opea-ingress\n"}
	if diff := cmp.Diff(want, names, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("-o name (-want +got):\n%s", diff)
	}

	for _, format := range []string{"yaml", "json"} {
		r := runOn(t, c, append(args, "-o", format)...)
		if r.code != 0 || r.err != "" {
			t.Fatalf("-o %s: exit %d, stderr %q", format, r.code, r.err)
		}
		var list unstructured.UnstructuredList
		if err := yaml.Unmarshal([]byte(r.out), &list.Object); err != nil {
			t.Fatalf("-o %s does not parse: %v\n%s", format, err, r.out)
		}
		if list.GetAPIVersion() != "v1" || list.GetKind() != "List" {
			t.Errorf("-o %s: %s %s, want a v1 List", format, list.GetAPIVersion(), list.GetKind())
		}
		items, _, _ := unstructured.NestedSlice(list.Object, "items")
		var got []string
		objs := map[string]*unstructured.Unstructured{}
		for _, item := range items {
			u := &unstructured.Unstructured{Object: item.(map[string]interface{})}
			ref := u.GetAPIVersion() + " " + u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
			got = append(got, ref)
			objs[ref] = u
		}
		wantItems := []string{
			"v1 Namespace /chatqna",
			"security.istio.io/v1 PeerAuthentication chatqna/default",
			"cert-manager.io/v1 Issuer istio-ingress/opea-chatqna-selfsigned",
			"cert-manager.io/v1 Certificate istio-ingress/opea-chatqna-ca",
			"cert-manager.io/v1 Issuer istio-ingress/opea-chatqna-ca",
			"cert-manager.io/v1 Certificate istio-ingress/opea-chatqna-tls",
			"networking.istio.io/v1 Gateway chatqna/opea-ingress",
			"networking.istio.io/v1 VirtualService chatqna/opea-ingress",
		}
		if diff := cmp.Diff(wantItems, got); diff != "" {
			t.Fatalf("-o %s items (-want +got):\n%s", format, diff)
		}
		// What was discovered: the gateway pods' selector and ports, the
		// entry Service and its port.
		gw := objs["networking.istio.io/v1 Gateway chatqna/opea-ingress"].Object
		selector, _, _ := unstructured.NestedStringMap(gw, "spec", "selector")
		servers, _, _ := unstructured.NestedSlice(gw, "spec", "servers")
		var ports []interface{}
		for _, s := range servers {
			n, _, _ := unstructured.NestedFieldNoCopy(s.(map[string]interface{}), "port", "number")
			ports = append(ports, n)
		}
		if diff := cmp.Diff(map[string]string{"app": "istio-ingress", "istio": "ingress"}, selector); diff != "" {
			t.Errorf("-o %s: Gateway selector (-want +got):\n%s", format, diff)
		}
		if diff := cmp.Diff([]interface{}{float64(443), float64(80)}, ports); diff != "" {
			t.Errorf("-o %s: Gateway server ports (-want +got):\n%s", format, diff)
		}
		vs := objs["networking.istio.io/v1 VirtualService chatqna/opea-ingress"].Object
		routes, _, _ := unstructured.NestedSlice(vs, "spec", "http")
		destination, _, _ := unstructured.NestedMap(routes[0].(map[string]interface{})["route"].([]interface{})[0].(map[string]interface{}), "destination")
		wantDestination := map[string]interface{}{"host": "chatqna-nginx.chatqna.svc.cluster.local", "port": map[string]interface{}{"number": float64(80)}}
		if diff := cmp.Diff(wantDestination, destination); diff != "" {
			t.Errorf("-o %s: VirtualService destination (-want +got):\n%s", format, diff)
		}
	}
}

// Every documented precondition refuses with its own message and fix,
// exit code 1, nothing on stdout, and nothing sent to the cluster.
func TestSecureRefusesFailedPreconditions(t *testing.T) {
	const (
		noGateway = "no Istio ingress gateway found in any namespace (looked for Deployments whose pods carry istio=ingress or istio=ingressgateway or app=istio-ingress)\n" +
			"  fix: install one (helm install istio-ingress istio/gateway -n istio-ingress --create-namespace), or pass --gateway-namespace and --gateway-selector"
		noCertManager = "the cert-manager API cert-manager.io/v1 is not served (cert-manager is not installed)\n" +
			"  fix: install cert-manager (helm install cert-manager jetstack/cert-manager --set crds.enabled=true), or pass --tls-secret with an existing Secret"
	)
	acme := func(solvers ...string) *unstructured.Unstructured {
		var s []interface{}
		for _, solver := range solvers {
			s = append(s, map[string]interface{}{solver: map[string]interface{}{}})
		}
		return unstructuredObject("cert-manager.io/v1", "ClusterIssuer", "", "letsencrypt", nil, map[string]interface{}{
			"spec": map[string]interface{}{"acme": map[string]interface{}{"server": "https://acme-v02.api.letsencrypt.org/directory", "solvers": s}},
		})
	}
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		change func(fakeCluster)
		args   []string
		want   string // stderr after the notices
		notes  string
		code   int // default ExitFailure
	}{
		{
			name: "the namespace is missing",
			objs: chatQnA(),
			args: []string{"-n", "chatqna-prod"},
			want: `namespace "chatqna-prod" does not exist` + "\n" +
				"  fix: did you mean -n chatqna? (the namespace holding an OPEA application)",
		},
		{
			name: "no entry Service",
			objs: append(ingressGateway(), service("chatqna", 8888), service("chatqna-ui", 5173)),
			want: "no Service named <release>-nginx in namespace chatqna (Services: chatqna, chatqna-ui)\n" +
				"  fix: pass the application's entry Service with --service NAME",
		},
		{
			name: "several entry Services",
			objs: chatQnA(service("codetrans-nginx", 80)),
			want: "several *-nginx Services in namespace chatqna: chatqna-nginx, codetrans-nginx\n" +
				"  fix: choose one with --service NAME",
		},
		{
			name: "--service names no Service",
			objs: chatQnA(),
			args: []string{"--service", "chatqna-web"},
			want: "Service chatqna/chatqna-web does not exist\n" +
				"  fix: list the Services with 'kubectl get services -n chatqna' and pass the entry one with --service",
		},
		{
			name: "--port names no port of the entry Service",
			objs: chatQnA(),
			args: []string{"--port", "8080"},
			want: "Service chatqna/chatqna-nginx has no port 8080 (ports: 80 (nginx))\n" +
				"  fix: pass one of its ports with --port",
		},
		{
			name: "no ingress gateway",
			objs: []runtime.Object{service("chatqna-nginx", 80)},
			want: noGateway,
		},
		{
			name:   "Istio's APIs are not served",
			objs:   chatQnA(),
			change: func(c fakeCluster) { c.withoutAPIGroups("networking.istio.io", "security.istio.io") },
			want: "the Istio APIs networking.istio.io and security.istio.io are not served (Istio's CRDs are not installed)\n" +
				"  fix: install Istio in ambient mode: istioctl install --set profile=ambient (or the istio/base Helm chart)",
		},
		{
			name:   "cert-manager's API is not served",
			objs:   chatQnA(),
			change: func(c fakeCluster) { c.withoutAPIGroups("cert-manager.io") },
			want:   noCertManager,
		},
		{
			name: "--tls-secret names a missing Secret",
			objs: chatQnA(tlsSecret("chatqna", "chatqna-tls", nil)), // in the app namespace: Istio does not read it there
			args: []string{"--tls-secret", "chatqna-tls"},
			want: "Secret istio-ingress/chatqna-tls does not exist (Istio reads gateway credentials only from the gateway pods' namespace)\n" +
				"  fix: kubectl create secret tls chatqna-tls -n istio-ingress --cert=tls.crt --key=tls.key",
		},
		{
			name: "--issuer names a missing Issuer",
			objs: chatQnA(),
			args: []string{"--issuer", "corp-ca"},
			want: "Issuer istio-ingress/corp-ca does not exist\n" +
				"  fix: create it first, or check --issuer and --issuer-kind (an Issuer must be in the gateway namespace)",
		},
		{
			name: "--issuer is ACME with HTTP-01 only, for a wildcard host behind the redirect",
			objs: chatQnA(acme("http01")),
			args: []string{"--issuer", "letsencrypt", "--issuer-kind", "ClusterIssuer", "--host", "*.example.com"},
			want: "ClusterIssuer letsencrypt solves only HTTP-01 challenges, which cannot issue the wildcard host *.example.com\n" +
				"  fix: pass a concrete --host (e.g. --host chatqna.example.com), or use an issuer with a DNS-01 solver\n" +
				"ClusterIssuer letsencrypt solves HTTP-01 challenges on port 80, which the Gateway's redirect to HTTPS breaks (istio/istio#33593)\n" +
				"  fix: pass --http-redirect=false, or use an issuer with a DNS-01 solver",
		},
		{
			name: "a Secret of the user's has the name of secure's",
			objs: chatQnA(tlsSecret("istio-ingress", "opea-chatqna-tls", nil)),
			want: "Secret istio-ingress/opea-chatqna-tls exists and was not written for kubectl opea secure: cert-manager would overwrite it, and unsecure would delete it\n" +
				"  fix: to serve it as it is, pass --tls-secret opea-chatqna-tls; otherwise move it out of the way (kubectl delete secret opea-chatqna-tls -n istio-ingress, if nothing needs it)",
		},
		{
			name: "an older PERMISSIVE PeerAuthentication",
			objs: chatQnA(unstructuredObject("security.istio.io/v1", "PeerAuthentication", "chatqna", "legacy", nil,
				map[string]interface{}{"spec": map[string]interface{}{"mtls": map[string]interface{}{"mode": "PERMISSIVE"}}})),
			want: "PeerAuthentication chatqna/legacy is an older namespace-wide policy with mode PERMISSIVE: istiod uses only the oldest, so default would be ignored\n" +
				"  fix: delete it (kubectl delete peerauthentication legacy -n chatqna) or make it STRICT (mtls.mode and every portLevelMtls entry), then run secure again",
		},
		{
			name: "sidecar injection on the namespace",
			objs: chatQnA(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna", Labels: map[string]string{"istio-injection": "enabled"}}}),
			want: "namespace chatqna uses Istio sidecar injection (istio-injection=enabled); ambient enrolment must not be mixed with it\n" +
				"  fix: remove it (kubectl label namespace chatqna istio-injection-) and restart the pods, or keep sidecars with --enroll=false",
		},
		{
			name: "another application's Gateway serves the same wildcard host",
			objs: chatQnA(gatewayOf("codetrans", "*.example.com")),
			args: []string{"--host", "*.example.com"},
			want: "Gateway codetrans/opea-ingress already serves host *.example.com on port 443 of the same gateway pods: istiod would keep it and drop this application's server\n" +
				"  fix: pass another --host for namespace chatqna (e.g. --host chatqna.example.com), or remove that host from Gateway codetrans/opea-ingress",
		},
		{
			name: "the cluster is unreachable",
			objs: chatQnA(),
			change: func(c fakeCluster) {
				c.kube.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused")
				})
			},
			code: ExitIncomplete,
			want: "cannot reach the cluster at https://127.0.0.1:1: Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused\n" +
				"  fix: check --kubeconfig and --context, then 'kubectl cluster-info'",
		},
		{
			name:   "every problem at once",
			objs:   []runtime.Object{service("chatqna-nginx", 80)},
			change: func(c fakeCluster) { c.withoutAPIGroups("cert-manager.io") },
			args:   []string{"-n", "chatqna-prod"},
			want: `namespace "chatqna-prod" does not exist` + "\n" +
				"  fix: install the application first, or name its namespace with -n\n" +
				noGateway + "\n" + noCertManager,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, tc.objs...)
			if tc.change != nil {
				tc.change(c)
			}
			args := append([]string{"secure", "-n", "chatqna", "--dry-run=client"}, tc.args...)
			if !slices.Contains(args, "--host") {
				args = append(args, "--host", "chatqna.example.com")
			}
			r := runOn(t, c, args...)
			want := result{err: "error: " + tc.want + "\n", code: exitOr(tc.code, ExitFailure)}
			if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// exitOr is code, or def when it is 0.
func exitOr(code, def int) int {
	if code == 0 {
		return def
	}
	return code
}

// An -o template that parses but cannot print the objects is a usage error
// found before anything is printed (or, without --dry-run=client, written):
// not half a document on stdout.
func TestSecureTriesTheTemplateBeforePrinting(t *testing.T) {
	c := fakeClusterWith(t, chatQnA()...)
	args := []string{"secure", "-n", "chatqna", "--host", "chatqna.example.com", "--dry-run=client"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "go-template={{(index .items 99).metadata.name}}"}, "index out of range: 99"},
		{[]string{"-o", "jsonpath={.items[*].spec.nope}", "--allow-missing-template-keys=false"}, "-o jsonpath={.items[*].spec.nope} cannot print the objects, so none was applied: "},
	} {
		r := runOn(t, c, append(args, tc.args...)...)
		if r.code != ExitUsage || r.out != "" || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", tc.args, r.code, r.out, r.err)
		}
	}
	// The same templates print when every key is there.
	r := runOn(t, c, append(args, "-o", "jsonpath={.items[*].metadata.name}", "--allow-missing-template-keys=false")...)
	if r.code != 0 || !strings.HasPrefix(r.out, "chatqna default opea-chatqna-selfsigned") {
		t.Errorf("a good jsonpath: exit %d, stdout %q, stderr:\n%s", r.code, r.out, r.err)
	}
}
