package owned

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

const (
	app   = "chatqna"
	gwNS  = "istio-system"
	notBy = "not created by kubectl opea (no app.kubernetes.io/managed-by=kubectl-opea label)"
)

var allAPIs = discover.APIs{Networking: "v1", Security: "v1", CertManager: "v1"}

var authorizationPoliciesGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"}

// option changes an object under construction.
type option func(*unstructured.Unstructured)

func object(apiVersion, kind, namespace, name string, opts ...option) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	for _, o := range opts {
		o(u)
	}
	return u
}

func addLabels(u *unstructured.Unstructured, labels map[string]string) {
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range labels {
		l[k] = v
	}
	u.SetLabels(l)
}

func annotate(u *unstructured.Unstructured, key, value string) {
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	u.SetAnnotations(a)
}

// ours gives an object secure's labels for the application in appNS.
func ours(appNS string) option {
	return func(u *unstructured.Unstructured) { addLabels(u, ownership.Labels(appNS)) }
}

func label(key, value string) option {
	return func(u *unstructured.Unstructured) { addLabels(u, map[string]string{key: value}) }
}

func annotation(key, value string) option {
	return func(u *unstructured.Unstructured) { annotate(u, key, value) }
}

var adoptedObject = annotation(ownership.AdoptedAnnotation, "true")

// writtenFor annotates a Secret as cert-manager does for the Certificate it
// wrote it for.
func writtenFor(certificate string) option {
	return annotation(certmanager.CertificateNameAnnotation, certificate)
}

func secretName(name string) option {
	return func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, name, "spec", "secretName"); err != nil {
			panic(err)
		}
	}
}

// managedLabel records that manager, by operation op, owns the label key.
func managedLabel(manager string, op metav1.ManagedFieldsOperationType, key string) option {
	return func(u *unstructured.Unstructured) {
		u.SetManagedFields(append(u.GetManagedFields(), metav1.ManagedFieldsEntry{
			Manager:    manager,
			Operation:  op,
			APIVersion: u.GetAPIVersion(),
			FieldsType: "FieldsV1",
			FieldsV1:   metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:` + key + `":{}}}}`),
		}))
	}
}

const (
	applyOp  = metav1.ManagedFieldsOperationApply
	updateOp = metav1.ManagedFieldsOperationUpdate
)

func namespace(name string, opts ...option) *unstructured.Unstructured {
	return object("v1", "Namespace", "", name, opts...)
}

// ambient is the application namespace enrolled by secure's manager.
func ambient(manager string, op metav1.ManagedFieldsOperationType) option {
	return func(u *unstructured.Unstructured) {
		label(desired.DataplaneModeLabel, "ambient")(u)
		managedLabel(manager, op, desired.DataplaneModeLabel)(u)
	}
}

func virtualService(opts ...option) *unstructured.Unstructured {
	return object("networking.istio.io/v1", "VirtualService", app, "opea-ingress", opts...)
}

func gateway(opts ...option) *unstructured.Unstructured {
	return object("networking.istio.io/v1", "Gateway", app, "opea-ingress", opts...)
}

func peerAuthentication(opts ...option) *unstructured.Unstructured {
	return object("security.istio.io/v1", "PeerAuthentication", app, "default", opts...)
}

func certificate(namespace, name string, opts ...option) *unstructured.Unstructured {
	return object("cert-manager.io/v1", "Certificate", namespace, name, append([]option{secretName(name)}, opts...)...)
}

func issuer(namespace, name string, opts ...option) *unstructured.Unstructured {
	return object("cert-manager.io/v1", "Issuer", namespace, name, opts...)
}

func secret(namespace, name string, opts ...option) *unstructured.Unstructured {
	return object("v1", "Secret", namespace, name, opts...)
}

// chain is what secure creates in namespace ns for its own CA, each object
// with extra options by name.
func chain(ns string, extra map[string][]option) []*unstructured.Unstructured {
	with := func(name string) []option { return append([]option{ours(app)}, extra[name]...) }
	return []*unstructured.Unstructured{
		issuer(ns, "opea-chatqna-selfsigned", with("issuer/opea-chatqna-selfsigned")...),
		certificate(ns, "opea-chatqna-ca", with("certificate/opea-chatqna-ca")...),
		issuer(ns, "opea-chatqna-ca", with("issuer/opea-chatqna-ca")...),
		certificate(ns, "opea-chatqna-tls", with("certificate/opea-chatqna-tls")...),
		secret(ns, "opea-chatqna-ca", append(with("secret/opea-chatqna-ca"), writtenFor("opea-chatqna-ca"))...),
		secret(ns, "opea-chatqna-tls", append(with("secret/opea-chatqna-tls"), writtenFor("opea-chatqna-tls"))...),
	}
}

// routing is what secure creates in the application namespace.
func routing(extra map[string][]option) []*unstructured.Unstructured {
	with := func(name string) []option { return append([]option{ours(app)}, extra[name]...) }
	return []*unstructured.Unstructured{
		gateway(with("gateway")...),
		virtualService(with("virtualservice")...),
		peerAuthentication(with("peerauthentication")...),
	}
}

// neighbours are objects Find must never touch: another application's, and
// ones nobody labelled.
func neighbours() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		namespace("rag", ambient(ownership.ManagedByValue, applyOp)),
		object("networking.istio.io/v1", "Gateway", "rag", "opea-ingress", ours("rag")),
		certificate(gwNS, "opea-rag-tls", ours("rag")),
		secret(gwNS, "opea-rag-tls", ours("rag"), writtenFor("opea-rag-tls")),
		secret(gwNS, "istio-ca-root-cert"),
		object("networking.istio.io/v1", "Gateway", app, "team-gateway"),
	}
}

func objects(groups ...[]*unstructured.Unstructured) []*unstructured.Unstructured {
	return slices.Concat(groups...)
}

func one(objs ...*unstructured.Unstructured) []*unstructured.Unstructured { return objs }

// ref names an object in a Found: its kind, name and namespace.
func ref(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return apply.Ref(u)
	}
	return apply.Ref(u) + " in " + u.GetNamespace()
}

func refs(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, u := range objs {
		out = append(out, ref(u))
	}
	return out
}

func name(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	return u.GetName()
}

// result is a Found by names, to compare.
type result struct {
	Remove           []string
	Keep             []string
	Namespace        string
	NamespaceObject  string
	Managers         []string
	LeftAlone        []Note
	NamespaceMissing bool
}

func summarize(f *Found) result {
	return result{
		Remove:           refs(f.Remove),
		Keep:             refs(f.Keep),
		Namespace:        name(f.Namespace),
		NamespaceObject:  name(f.NamespaceObject),
		Managers:         f.Managers,
		LeftAlone:        f.LeftAlone,
		NamespaceMissing: f.NamespaceMissing,
	}
}

// forbid makes the fake refuse verb on resource.
type forbid struct{ verb, resource string }

// newClient is the dynamic client of a fake cluster holding objs, refusing
// what forbidden names.
func newClient(t *testing.T, objs []*unstructured.Unstructured, forbidden []forbid) *dynamicfake.FakeDynamicClient {
	t.Helper()
	cluster := clientstest.New(t)
	for _, o := range objs {
		if err := cluster.Add(o.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	client := cluster.Dynamic
	for _, f := range forbidden {
		client.PrependReactor(f.verb, f.resource, func(action k8stesting.Action) (bool, runtime.Object, error) {
			gr := action.GetResource().GroupResource()
			return true, nil, apierrors.NewForbidden(gr, "", errors.New("RBAC: access denied"))
		})
	}
	return client
}

const (
	vsRef         = "virtualservice.networking.istio.io/opea-ingress in chatqna"
	gwRef         = "gateway.networking.istio.io/opea-ingress in chatqna"
	paRef         = "peerauthentication.security.istio.io/default in chatqna"
	caCertRef     = "certificate.cert-manager.io/opea-chatqna-ca in istio-system"
	tlsCertRef    = "certificate.cert-manager.io/opea-chatqna-tls in istio-system"
	caIssuerRef   = "issuer.cert-manager.io/opea-chatqna-ca in istio-system"
	selfIssuerRef = "issuer.cert-manager.io/opea-chatqna-selfsigned in istio-system"
	caSecretRef   = "secret/opea-chatqna-ca in istio-system"
	tlsSecretRef  = "secret/opea-chatqna-tls in istio-system"
)

var secureManager = []string{ownership.ManagedByValue}

func TestFind(t *testing.T) {
	enrolled := namespace(app, ambient(ownership.ManagedByValue, applyOp))
	plain := namespace(app)
	gateways := namespace(gwNS)
	gitopsOwnsLabel := map[string][]option{"certificate/opea-chatqna-tls": {managedLabel("gitops", applyOp, ownership.ManagedByLabel)}}

	tests := []struct {
		name      string
		objs      []*unstructured.Unstructured
		gatewayNS string
		keepMTLS  bool
		apis      *discover.APIs
		forbidden []forbid
		want      result
		// wantErr is the What of the Problem Find returns, when it fails.
		wantErr string
		wantFix string
	}{
		{
			name: "everything secure created is removed, routing first and Secrets last",
			objs: objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil), neighbours()),
			want: result{
				Remove:          []string{vsRef, gwRef, paRef, caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name:      "with --gateway-namespace, the same, searched there only",
			objs:      objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil), neighbours()),
			gatewayNS: gwNS,
			want: result{
				Remove:          []string{vsRef, gwRef, paRef, caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "certificates in two gateway namespaces are all found, by namespace then name",
			objs: objects(one(enrolled, gateways, namespace("ingress")), chain(gwNS, nil), chain("ingress", nil)),
			want: result{
				Remove: []string{
					"certificate.cert-manager.io/opea-chatqna-ca in ingress",
					"certificate.cert-manager.io/opea-chatqna-tls in ingress",
					caCertRef, tlsCertRef,
					"issuer.cert-manager.io/opea-chatqna-ca in ingress",
					"issuer.cert-manager.io/opea-chatqna-selfsigned in ingress",
					caIssuerRef, selfIssuerRef,
					"secret/opea-chatqna-ca in ingress",
					"secret/opea-chatqna-tls in ingress",
					caSecretRef, tlsSecretRef,
				},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "adopted objects are kept, and so is the Secret of an adopted Certificate",
			objs: objects(one(enrolled, gateways),
				routing(map[string][]option{"gateway": {adoptedObject}, "peerauthentication": {adoptedObject}}),
				chain(gwNS, map[string][]option{"issuer/opea-chatqna-ca": {adoptedObject}, "certificate/opea-chatqna-tls": {adoptedObject}})),
			want: result{
				Remove:          []string{vsRef, caCertRef, selfIssuerRef, caSecretRef},
				Keep:            []string{gwRef, paRef, tlsCertRef, caIssuerRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "adopted is only opea.dev/adopted=true",
			objs: objects(one(plain, gateways),
				routing(map[string][]option{"gateway": {annotation(ownership.AdoptedAnnotation, "false")}})),
			want: result{
				Remove:          []string{vsRef, gwRef, paRef},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "labelled Secrets whose Certificate is gone are removed, with one that names none",
			objs: objects(one(plain, gateways),
				one(secret(gwNS, "opea-chatqna-tls", ours(app), writtenFor("opea-chatqna-tls")),
					secret(gwNS, "opea-chatqna-ca", ours(app)))),
			want: result{
				Remove:          []string{caSecretRef, tlsSecretRef},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "a labelled Secret whose Certificate exists but is no longer secure's stays",
			objs: objects(one(plain, gateways),
				one(certificate(gwNS, "opea-chatqna-tls"),
					secret(gwNS, "opea-chatqna-tls", ours(app), writtenFor("opea-chatqna-tls")))),
			want: result{
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "an unlabelled Secret cert-manager wrote for secure's Certificate is removed",
			objs: objects(one(plain, gateways),
				one(certificate(gwNS, "opea-chatqna-tls", ours(app)),
					secret(gwNS, "opea-chatqna-tls", writtenFor("opea-chatqna-tls")))),
			want: result{
				Remove:          []string{tlsCertRef, tlsSecretRef},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "an unlabelled Secret a Certificate names but cert-manager did not write for it is left alone",
			objs: objects(one(plain, gateways),
				one(certificate(gwNS, "opea-chatqna-tls", ours(app)),
					certificate(gwNS, "opea-chatqna-ca", ours(app)),
					secret(gwNS, "opea-chatqna-tls", writtenFor("someone-elses")),
					secret(gwNS, "opea-chatqna-ca"))),
			want: result{
				Remove: []string{caCertRef, tlsCertRef},
				LeftAlone: []Note{
					{"secret/opea-chatqna-ca in namespace istio-system", "not written by cert-manager for certificate opea-chatqna-ca"},
					{"secret/opea-chatqna-tls in namespace istio-system", "not written by cert-manager for certificate opea-chatqna-tls"},
				},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "objects with secure's names but not its labels are left alone, saying why",
			objs: objects(one(plain, gateways,
				gateway(), virtualService(label(ownership.ManagedByLabel, "helm")), peerAuthentication(label(ownership.AppNamespaceLabel, app)),
				certificate(gwNS, "opea-chatqna-tls"), secret(gwNS, "opea-chatqna-tls", writtenFor("opea-chatqna-tls"))), neighbours()),
			want: result{
				LeftAlone: []Note{
					{"virtualservice.networking.istio.io/opea-ingress", notBy},
					{"gateway.networking.istio.io/opea-ingress", notBy},
					{"peerauthentication.security.istio.io/default", notBy},
				},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "objects labelled for another application are left alone",
			objs: objects(one(plain, gateways, gateway(ours("rag")))),
			want: result{
				LeftAlone:       []Note{{"gateway.networking.istio.io/opea-ingress", `created by kubectl opea for namespace "rag", not chatqna`}},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "another field manager applying secure's label is one of secure's managers, and its namespace label is secure's",
			objs: objects(one(namespace(app, ambient("gitops", applyOp)), gateways), chain(gwNS, gitopsOwnsLabel)),
			want: result{
				Remove:          []string{caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        []string{ownership.ManagedByValue, "gitops"},
			},
		},
		{
			// A tool applying secure's output that manages the namespace
			// too: releasing as it would remove its other labels.
			name: "another field manager that owns more than secure's label on the namespace does not release it",
			objs: objects(one(namespace(app, ambient("gitops", applyOp), label("team", "a"), managedLabel("gitops", applyOp, "team")), gateways), chain(gwNS, gitopsOwnsLabel)),
			want: result{
				Remove:          []string{caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				NamespaceObject: app,
				Managers:        []string{ownership.ManagedByValue, "gitops"},
			},
		},
		{
			name: "a kept object's appliers count too",
			objs: objects(one(namespace(app, ambient("gitops", applyOp)), gateways),
				routing(map[string][]option{"gateway": {adoptedObject, managedLabel("gitops", applyOp, ownership.ManagedByLabel)}})),
			want: result{
				Remove:          []string{vsRef, paRef},
				Keep:            []string{gwRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        []string{ownership.ManagedByValue, "gitops"},
			},
		},
		{
			name: "a namespace label set by an update, not an apply, is not secure's",
			objs: objects(one(namespace(app, ambient("kubectl-label", updateOp)), gateways), chain(gwNS, gitopsOwnsLabel)),
			want: result{
				Remove:          []string{caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				NamespaceObject: app,
				Managers:        []string{ownership.ManagedByValue, "gitops"},
			},
		},
		{
			name: "a namespace label applied by a manager none of secure's objects shows is not secure's",
			objs: objects(one(namespace(app, ambient("gitops", applyOp)), gateways), chain(gwNS, nil)),
			want: result{
				Remove:          []string{caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "an update of secure's label does not make a manager secure's",
			objs: objects(one(namespace(app, ambient("gitops", applyOp)), gateways),
				chain(gwNS, map[string][]option{"certificate/opea-chatqna-tls": {managedLabel("gitops", updateOp, ownership.ManagedByLabel)}})),
			want: result{
				Remove:          []string{caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "a namespace where secure recorded fields it took over is secure's to give back",
			objs: objects(one(namespace(app, ambient("kubectl-label", updateOp),
				annotation(ownership.TakeoversAnnotation, `[{"path":["metadata","labels","istio.io/dataplane-mode"],"manager":"kubectl-label","value":"none"}]`)), gateways)),
			want: result{
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "a take-over record edited to give a field back as secure is refused before anything is removed",
			objs: objects(one(namespace(app, ambient("kubectl-label", updateOp),
				annotation(ownership.TakeoversAnnotation, `[{"path":["metadata","name"],"manager":"kubectl-label","value":"other"}]`)), gateways)),
			wantErr: "namespace/chatqna: annotation opea.dev/taken-over is not what kubectl opea secure records: entry 1: path metadata.name is no field an apply takes over",
			wantFix: "restore it as secure wrote it, or remove it (kubectl annotate namespace/chatqna opea.dev/taken-over-) if the fields it recorded need not be given back",
		},
		{
			name: "an adopted object's take-over record naming a manager the API server refuses",
			objs: objects(one(enrolled, gateways), one(peerAuthentication(ours(app), adoptedObject,
				annotation(ownership.TakeoversAnnotation, `[{"path":["spec","mtls","mode"],"manager":"","value":"PERMISSIVE"}]`)))),
			wantErr: `peerauthentication.security.istio.io/default: annotation opea.dev/taken-over is not what kubectl opea secure records: entry 1: manager "" is empty`,
		},
		{
			name:     "--keep-mtls leaves out the PeerAuthentication and the namespace",
			objs:     objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil)),
			keepMTLS: true,
			want: result{
				Remove:          []string{vsRef, gwRef, caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "kinds whose API is not served are not looked for",
			objs: objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil)),
			apis: &discover.APIs{Security: "v1"},
			want: result{
				Remove:          []string{paRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name:    "the application namespace missing, with nothing left",
			objs:    objects(one(gateways), neighbours()),
			wantErr: `namespace "chatqna" does not exist, and nothing of kubectl opea secure remains for it`,
			wantFix: "check -n (kubectl get namespaces)",
		},
		{
			name: "the application namespace missing, with certificates left in the gateway namespace",
			objs: objects(one(gateways), chain(gwNS, nil), neighbours()),
			want: result{
				Remove:           []string{caCertRef, tlsCertRef, caIssuerRef, selfIssuerRef, caSecretRef, tlsSecretRef},
				Managers:         secureManager,
				NamespaceMissing: true,
			},
		},
		{
			name:      "--gateway-namespace names a namespace that does not exist",
			objs:      objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil)),
			gatewayNS: "ingress",
			wantErr:   `--gateway-namespace ingress: namespace "ingress" does not exist`,
		},
		{
			name:      "--gateway-namespace names a namespace without secure's certificates, which another has",
			objs:      objects(one(enrolled, gateways, namespace("ingress")), routing(nil), chain(gwNS, nil), neighbours()),
			gatewayNS: "ingress",
			wantErr:   "secure's certificates for namespace chatqna are in namespace istio-system, not in --gateway-namespace ingress",
			wantFix:   "kubectl opea unsecure -n chatqna --gateway-namespace istio-system (or leave --gateway-namespace out)",
		},
		{
			name: "--gateway-namespace names a namespace without secure's certificates, which two others have",
			objs: objects(one(enrolled, gateways, namespace("ingress"), namespace("edge")),
				routing(nil), chain(gwNS, nil), chain("edge", nil)),
			gatewayNS: "ingress",
			wantErr:   "secure's certificates for namespace chatqna are in namespace edge, istio-system, not in --gateway-namespace ingress",
			wantFix:   "kubectl opea unsecure -n chatqna --gateway-namespace edge (or leave --gateway-namespace out)",
		},
		{
			name:      "--gateway-namespace naming the application namespace, the certificates being elsewhere",
			objs:      objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil)),
			gatewayNS: app,
			wantErr:   "secure's certificates for namespace chatqna are in namespace istio-system, not in --gateway-namespace chatqna",
			wantFix:   "kubectl opea unsecure -n chatqna --gateway-namespace istio-system (or leave --gateway-namespace out)",
		},
		{
			name:      "--gateway-namespace without certificates is fine when none are anywhere",
			objs:      objects(one(enrolled, gateways, namespace("ingress")), routing(nil), neighbours()),
			gatewayNS: "ingress",
			want: result{
				Remove:          []string{vsRef, gwRef, paRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name:      "every forbidden list is reported, not the first only",
			objs:      objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil)),
			forbidden: []forbid{{"list", "virtualservices"}, {"list", "certificates"}, {"list", "secrets"}},
			wantErr: "you lack permissions to read what unsecure must find: " +
				"list virtualservices.networking.istio.io in namespace chatqna; " +
				"list certificates.cert-manager.io in every namespace; " +
				"list secrets in every namespace",
		},
		{
			name:      "forbidden lists in the gateway namespace name it",
			objs:      objects(one(enrolled, gateways), routing(nil), chain(gwNS, nil)),
			gatewayNS: gwNS,
			forbidden: []forbid{{"list", "issuers"}, {"list", "secrets"}},
			wantErr: "you lack permissions to read what unsecure must find: " +
				"list issuers.cert-manager.io in namespace istio-system; " +
				"list secrets in namespace istio-system",
		},
		{
			name: "every forbidden get is reported",
			objs: objects(one(enrolled, gateways),
				one(certificate(gwNS, "opea-chatqna-tls", ours(app)),
					secret(gwNS, "opea-chatqna-tls"),
					secret(gwNS, "opea-chatqna-old", ours(app), writtenFor("opea-chatqna-old")))),
			forbidden: []forbid{{"get", "namespaces"}, {"get", "certificates"}, {"get", "secrets"}},
			wantErr: "you lack permissions to read what unsecure must find: " +
				`get namespaces "chatqna"; ` +
				`get certificates.cert-manager.io "opea-chatqna-old" in namespace istio-system; ` +
				`get secrets "opea-chatqna-tls" in namespace istio-system`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t, tc.objs, tc.forbidden)
			apis := allAPIs
			if tc.apis != nil {
				apis = *tc.apis
			}
			found, err := Find(context.Background(), client, Options{
				AppNamespace:     app,
				GatewayNamespace: tc.gatewayNS,
				KeepMTLS:         tc.keepMTLS,
				FieldManager:     ownership.ManagedByValue,
				APIs:             apis,
			})
			for _, a := range client.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" {
					t.Errorf("Find is a read path, yet it did %s %s", v, a.GetResource().Resource)
				}
			}
			if tc.wantErr != "" {
				var p *problems.Problem
				if !errors.As(err, &p) {
					t.Fatalf("Find: got %v, %v; want the problem %q", found, err, tc.wantErr)
				}
				if p.What != tc.wantErr {
					t.Errorf("Find's problem:\n got %q\nwant %q", p.What, tc.wantErr)
				}
				if tc.wantFix != "" && p.Fix != tc.wantFix {
					t.Errorf("Find's fix:\n got %q\nwant %q", p.Fix, tc.wantFix)
				}
				return
			}
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if diff := cmp.Diff(tc.want, summarize(found)); diff != "" {
				t.Errorf("Find (-want +got):\n%s", diff)
			}
		})
	}
}

// A read that fails otherwise than by a refusal stops Find with the error.
func TestFindStopsOnOtherErrors(t *testing.T) {
	client := newClient(t, objects(one(namespace(app), namespace(gwNS)), chain(gwNS, nil)), nil)
	client.PrependReactor("list", "issuers", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	_, err := Find(context.Background(), client, Options{AppNamespace: app, FieldManager: ownership.ManagedByValue, APIs: allAPIs})
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("Find: got %v, want the server's error", err)
	}
	const want = "listing issuers.cert-manager.io in every namespace: etcd is down"
	if err.Error() != want {
		t.Errorf("Find:\n got %q\nwant %q", err.Error(), want)
	}
}

// The check that the certificates are not in another namespace than
// --gateway-namespace fails closed: a list that fails, refused or not, is
// not "nowhere else". Nor is a failed read of the gateway namespace "it
// exists".
func TestFindRefusesWhatItCannotCheck(t *testing.T) {
	everywhere := func(fail error) k8stesting.ReactionFunc {
		return func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetNamespace() != "" {
				return false, nil, nil
			}
			return true, nil, fail
		}
	}
	for _, tc := range []struct {
		name         string
		verb, res    string
		reaction     k8stesting.ReactionFunc
		wantWhat     string
		wantFixStart string
	}{
		{name: "listing certificates everywhere refused", verb: "list", res: "certificates",
			reaction:     everywhere(apierrors.NewForbidden(schema.GroupResource{Group: "cert-manager.io", Resource: "certificates"}, "", errors.New("RBAC"))),
			wantWhat:     "could not check whether secure's certificates for namespace chatqna are in another namespace than --gateway-namespace ingress, which holds none: you may not list certificates.cert-manager.io in every namespace",
			wantFixStart: "ask a cluster admin for list on certificates.cert-manager.io in every namespace"},
		{name: "listing issuers everywhere fails", verb: "list", res: "issuers",
			reaction:     everywhere(apierrors.NewServiceUnavailable("etcd is down")),
			wantWhat:     "could not check whether secure's certificates for namespace chatqna are in another namespace than --gateway-namespace ingress: list issuers.cert-manager.io in every namespace: etcd is down",
			wantFixStart: "check that the API server answers"},
		{name: "reading the gateway namespace fails", verb: "get", res: "namespaces",
			reaction: func(a k8stesting.Action) (bool, runtime.Object, error) {
				if a.(k8stesting.GetAction).GetName() != "ingress" {
					return false, nil, nil
				}
				return true, nil, apierrors.NewInternalError(errors.New("injected"))
			},
			wantWhat:     `could not check that --gateway-namespace ingress exists: get namespaces "ingress": Internal error occurred: injected`,
			wantFixStart: "check that the API server answers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t, objects(one(namespace(app), namespace(gwNS), namespace("ingress")), chain(gwNS, nil)), nil)
			client.PrependReactor(tc.verb, tc.res, tc.reaction)
			_, err := Find(context.Background(), client, Options{AppNamespace: app, GatewayNamespace: "ingress", FieldManager: ownership.ManagedByValue, APIs: allAPIs})
			var p *problems.Problem
			if !errors.As(err, &p) {
				t.Fatalf("Find: got %v, want a problem", err)
			}
			if p.What != tc.wantWhat || !strings.HasPrefix(p.Fix, tc.wantFixStart) {
				t.Errorf("Find's problem:\n got %q\n fix %q\nwant %q\n fix %q...", p.What, p.Fix, tc.wantWhat, tc.wantFixStart)
			}
		})
	}
}
