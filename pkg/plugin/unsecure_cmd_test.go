package plugin

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// namespaceObject is a namespace as the dynamic client reads it; with
// ambientBy, that field manager's apply set istio.io/dataplane-mode=ambient.
func namespaceObject(name, ambientBy string) *unstructured.Unstructured {
	ns := unstructuredObject("v1", "Namespace", "", name, nil, nil)
	if ambientBy != "" {
		ns.SetLabels(map[string]string{"istio.io/dataplane-mode": "ambient"})
		ns.SetManagedFields([]metav1.ManagedFieldsEntry{{
			Manager: ambientBy, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1", FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:istio.io/dataplane-mode":{}}}}`),
		}})
	}
	return ns
}

// securedObjects is what secure applied for app with a private CA, and the
// Secrets cert-manager wrote for its Certificates (with the labels their
// secretTemplate asks for), as the dynamic client reads them.
func securedObjects(app string) []runtime.Object {
	labels := ownLabels(app)
	prefix := "opea-" + app
	certificate := func(name string) *unstructured.Unstructured {
		return unstructuredObject("cert-manager.io/v1", "Certificate", "istio-ingress", name, labels,
			map[string]interface{}{"spec": map[string]interface{}{"secretName": name}})
	}
	secret := func(name string) *unstructured.Unstructured {
		s := unstructuredObject("v1", "Secret", "istio-ingress", name, labels, map[string]interface{}{"type": "kubernetes.io/tls"})
		s.SetAnnotations(map[string]string{"cert-manager.io/certificate-name": name})
		return s
	}
	return []runtime.Object{
		unstructuredObject("security.istio.io/v1", "PeerAuthentication", app, "default", labels, nil),
		gatewayOf(app, app+".example.com"),
		unstructuredObject("networking.istio.io/v1", "VirtualService", app, "opea-ingress", labels, nil),
		unstructuredObject("cert-manager.io/v1", "Issuer", "istio-ingress", prefix+"-selfsigned", labels, nil),
		certificate(prefix + "-ca"),
		unstructuredObject("cert-manager.io/v1", "Issuer", "istio-ingress", prefix+"-ca", labels, nil),
		certificate(prefix + "-tls"),
		secret(prefix + "-ca"),
		secret(prefix + "-tls"),
	}
}

// twoSecuredApplications is a cluster where secure ran for chatqna and
// codetrans, next to objects of the user's in the gateway namespace.
func twoSecuredApplications(more ...runtime.Object) []runtime.Object {
	objs := []runtime.Object{
		namespaceObject("chatqna", "kubectl-opea"), namespaceObject("codetrans", "kubectl-opea"),
		namespaceObject("istio-ingress", ""), namespaceObject("istio-system", ""),
		unstructuredObject("v1", "Secret", "istio-ingress", "corp-tls", nil, nil),
	}
	objs = append(objs, securedObjects("chatqna")...)
	objs = append(objs, securedObjects("codetrans")...)
	return append(objs, more...)
}

// without drops the objects of kind named name (namespace/name) from objs.
func without(objs []runtime.Object, kind, name string) []runtime.Object {
	var out []runtime.Object
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok && u.GetKind() == kind && u.GetNamespace()+"/"+u.GetName() == name {
			continue
		}
		out = append(out, o)
	}
	return out
}

// unsecure --dry-run=client lists what it would do, in the order it would
// do it, for secure's objects of the namespace only, and sends nothing.
func TestUnsecureDryRunClientListsSecuresObjects(t *testing.T) {
	const (
		routing = "virtualservice.networking.istio.io/opea-ingress deleted (dry run)\n" +
			"gateway.networking.istio.io/opea-ingress deleted (dry run)\n"
		strict       = "peerauthentication.security.istio.io/default deleted (dry run)\n"
		certificates = "certificate.cert-manager.io/opea-chatqna-ca deleted (dry run)\n" +
			"certificate.cert-manager.io/opea-chatqna-tls deleted (dry run)\n" +
			"issuer.cert-manager.io/opea-chatqna-ca deleted (dry run)\n" +
			"issuer.cert-manager.io/opea-chatqna-selfsigned deleted (dry run)\n" +
			"secret/opea-chatqna-ca deleted (dry run)\n" +
			"secret/opea-chatqna-tls deleted (dry run)\n"
		label = "namespace/chatqna label istio.io/dataplane-mode released (dry run)\n"
	)
	adoptedCertificate := unstructuredObject("cert-manager.io/v1", "Certificate", "istio-ingress", "opea-chatqna-tls", ownLabels("chatqna"),
		map[string]interface{}{"spec": map[string]interface{}{"secretName": "opea-chatqna-tls"}})
	adoptedCertificate.SetAnnotations(map[string]string{"opea.dev/adopted": "true"})
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		args []string
		want result
	}{
		{
			name: "a private CA",
			objs: twoSecuredApplications(),
			want: result{out: routing + strict + certificates + label},
		},
		{
			name: "in the gateway namespace named",
			objs: twoSecuredApplications(),
			args: []string{"--gateway-namespace", "istio-ingress"},
			want: result{out: routing + strict + certificates + label},
		},
		{
			name: "--keep-mtls",
			objs: twoSecuredApplications(),
			args: []string{"--keep-mtls"},
			want: result{out: routing + certificates},
		},
		{
			name: "an adopted Certificate, and a PeerAuthentication of the user's",
			objs: append(without(without(twoSecuredApplications(), "Certificate", "istio-ingress/opea-chatqna-tls"), "PeerAuthentication", "chatqna/default"),
				adoptedCertificate, unstructuredObject("security.istio.io/v1", "PeerAuthentication", "chatqna", "default", nil, nil)),
			want: result{out: "peerauthentication.security.istio.io/default left alone: not created by kubectl opea (no app.kubernetes.io/managed-by=kubectl-opea label)\n" +
				routing +
				"certificate.cert-manager.io/opea-chatqna-ca deleted (dry run)\n" +
				"issuer.cert-manager.io/opea-chatqna-ca deleted (dry run)\n" +
				"issuer.cert-manager.io/opea-chatqna-selfsigned deleted (dry run)\n" +
				"secret/opea-chatqna-ca deleted (dry run)\n" +
				"certificate.cert-manager.io/opea-chatqna-tls kept, secure's fields released: it existed before kubectl opea secure took it over (dry run)\n" +
				label},
		},
		{
			name: "the application namespace is gone",
			// Deleting the namespace deleted what secure made in it.
			objs: without(without(without(without(twoSecuredApplications(), "Namespace", "/chatqna"),
				"PeerAuthentication", "chatqna/default"), "Gateway", "chatqna/opea-ingress"), "VirtualService", "chatqna/opea-ingress"),
			want: result{out: certificates, err: "Namespace chatqna does not exist: removing what kubectl opea secure left for it in the gateway namespace.\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, tc.objs...)
			r := runOn(t, c, append([]string{"unsecure", "-n", "chatqna", "--dry-run=client"}, tc.args...)...)
			if diff := cmp.Diff(tc.want, r, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// -o name prints only the names of what would be deleted; notes go to
// stderr.
func TestUnsecureDryRunClientOutputName(t *testing.T) {
	c := fakeClusterWith(t, append(without(twoSecuredApplications(), "PeerAuthentication", "chatqna/default"),
		unstructuredObject("security.istio.io/v1", "PeerAuthentication", "chatqna", "default", nil, nil))...)
	r := runOn(t, c, "unsecure", "-n", "chatqna", "--dry-run=client", "-o", "name")
	want := result{
		out: "virtualservice.networking.istio.io/opea-ingress\n" +
			"gateway.networking.istio.io/opea-ingress\n" +
			"certificate.cert-manager.io/opea-chatqna-ca\n" +
			"certificate.cert-manager.io/opea-chatqna-tls\n" +
			"issuer.cert-manager.io/opea-chatqna-ca\n" +
			"issuer.cert-manager.io/opea-chatqna-selfsigned\n" +
			"secret/opea-chatqna-ca\n" +
			"secret/opea-chatqna-tls\n",
		err: "peerauthentication.security.istio.io/default left alone: not created by kubectl opea (no app.kubernetes.io/managed-by=kubectl-opea label)\n",
	}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// When nothing carries secure's labels for the namespace, unsecure says so
// and succeeds, whatever it finds for other namespaces.
func TestUnsecureNothingToDo(t *testing.T) {
	const nothing = "Nothing to do: no object of kubectl opea secure remains for namespace chatqna.\n"
	unsecured := append(without(twoSecuredApplications(), "Namespace", "/chatqna"), namespaceObject("chatqna", ""))
	var onlyCodetrans []runtime.Object
	for _, o := range unsecured {
		if u := o.(*unstructured.Unstructured); u.GetLabels()["opea.dev/app-namespace"] != "chatqna" {
			onlyCodetrans = append(onlyCodetrans, o)
		}
	}
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		args []string
		want result
	}{
		{name: "table", objs: onlyCodetrans, want: result{out: nothing}},
		{name: "-o name", objs: onlyCodetrans, args: []string{"-o", "name"}, want: result{err: nothing}},
		{name: "deleting", objs: onlyCodetrans, args: []string{"--dry-run=none"}, want: result{out: nothing}},
		{
			name: "the ambient label applied by another field manager",
			objs: append(without(onlyCodetrans, "Namespace", "/chatqna"), namespaceObject("chatqna", "opea-ci")),
			want: result{out: nothing + "namespace/chatqna label istio.io/dataplane-mode=ambient is applied by field manager opea-ci: " +
				"if kubectl opea secure ran with --field-manager opea-ci, run: kubectl opea unsecure -n chatqna --field-manager opea-ci\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, tc.objs...)
			r := runOn(t, c, append([]string{"unsecure", "-n", "chatqna", "--dry-run=client"}, tc.args...)...)
			if diff := cmp.Diff(tc.want, r, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Each documented refusal: exit code 1, the reason and the fix, nothing on
// stdout, nothing sent.
func TestUnsecureRefuses(t *testing.T) {
	const lackRights = "\n  fix: ask a cluster admin for them, or use --context/--as with an identity that has them; " +
		"pass --gateway-namespace to search only the gateway pods' namespace"
	forbid := func(c fakeCluster, verb, resource string, clusterWideOnly bool) {
		c.dyn.PrependReactor(verb, resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			if clusterWideOnly && a.GetNamespace() != "" {
				return false, nil, nil
			}
			return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New(`User "viewer" cannot `+verb+` resource`))
		})
	}
	for _, tc := range []struct {
		name   string
		objs   []runtime.Object
		change func(fakeCluster)
		args   []string
		want   string
		code   int // default ExitFailure
	}{
		{
			name: "the namespace does not exist",
			objs: twoSecuredApplications(),
			args: []string{"-n", "chatqna-prod"},
			want: `namespace "chatqna-prod" does not exist, and nothing of kubectl opea secure remains for it` + "\n" +
				"  fix: check -n (kubectl get namespaces)",
		},
		{
			name: "--gateway-namespace does not exist",
			objs: twoSecuredApplications(),
			args: []string{"--gateway-namespace", "istio-gateways"},
			want: `--gateway-namespace istio-gateways: namespace "istio-gateways" does not exist` + "\n" +
				"  fix: name the namespace of the ingress gateway pods, or leave --gateway-namespace out to search every namespace",
		},
		{
			name: "--gateway-namespace is not where the certificates are",
			objs: twoSecuredApplications(),
			args: []string{"--gateway-namespace", "istio-system"},
			want: "secure's certificates for namespace chatqna are in namespace istio-ingress, not in --gateway-namespace istio-system\n" +
				"  fix: kubectl opea unsecure -n chatqna --gateway-namespace istio-ingress (or leave --gateway-namespace out)",
		},
		{
			name:   "Secrets may not be listed",
			objs:   twoSecuredApplications(),
			change: func(c fakeCluster) { forbid(c, "list", "secrets", false) },
			want:   "you lack permissions to read what unsecure must find: list secrets in every namespace" + lackRights,
		},
		{
			name: "a Role in the application namespace only",
			objs: twoSecuredApplications(),
			change: func(c fakeCluster) {
				forbid(c, "get", "namespaces", false)
				forbid(c, "list", "*", true)
			},
			want: "you lack permissions to read what unsecure must find: " +
				`get namespaces "chatqna"; ` +
				"list authorizationpolicies.security.istio.io in every namespace; " +
				"list requestauthentications.security.istio.io in every namespace; " +
				"list certificates.cert-manager.io in every namespace; " +
				"list issuers.cert-manager.io in every namespace; " +
				"list secrets in every namespace" + lackRights,
		},
		{
			name: "the cluster is unreachable",
			objs: twoSecuredApplications(),
			change: func(c fakeCluster) {
				c.kube.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused")
				})
			},
			code: ExitIncomplete,
			want: "cannot reach the cluster at https://127.0.0.1:1: Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused\n" +
				"  fix: check --kubeconfig and --context, then 'kubectl cluster-info'",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClusterWith(t, tc.objs...)
			if tc.change != nil {
				tc.change(c)
			}
			r := runOn(t, c, append([]string{"unsecure", "-n", "chatqna", "--dry-run=client"}, tc.args...)...)
			want := result{err: "error: " + tc.want + "\n", code: exitOr(tc.code, ExitFailure)}
			if diff := cmp.Diff(want, r, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
