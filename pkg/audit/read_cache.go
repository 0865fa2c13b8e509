package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// readCache holds the gateway side's reads of one audit: namespaces that
// share a gateway, its credentials' namespace or its ServiceAccount share
// the requests too. In an audit of all namespaces, cert-manager's objects
// are listed across namespaces up front, so that their number does not grow
// with the namespaces; credential Secrets are read by name, every one the
// Gateways name at once (fetchSecrets). Its other methods are called from
// one goroutine, after the shared inputs are read.
type readCache struct {
	// gatewayPods are the gateway pods by label selector.
	gatewayPods map[string]cachedPods
	// secrets are the credential Secrets read, by "namespace/name".
	secrets map[string]cachedSecret
	// secretAccess answers istiod's question per ServiceAccount
	// "namespace/name"; accessRefused when the review itself is.
	secretAccess  map[string]bool
	accessRefused bool
	// certManager are each namespace's Certificates and Issuers;
	// certManagerListed says every namespace's are there (absent: none).
	certManager       map[string]cachedCertManager
	certManagerListed bool
	clusterIssuers    *cachedCertManager
	// secureObjects are, when every namespace's Certificates and Issuers
	// are listed, those kubectl opea secure made, by the application
	// namespace they serve.
	secureObjects map[string]*Leftover
}

type cachedPods struct {
	pods    []snapshot.Object
	refused bool
}

type cachedSecret struct {
	secret  *snapshot.Secret // nil: not found, or refused
	refused bool
}

type cachedCertManager struct {
	certificates []snapshot.Certificate
	// issuerReady is keyed as Snapshot.IssuerReady.
	issuerReady map[string]bool
	refused     []snapshot.Access
}

func newReadCache() *readCache {
	return &readCache{
		gatewayPods:  map[string]cachedPods{},
		secrets:      map[string]cachedSecret{},
		secretAccess: map[string]bool{},
		certManager:  map[string]cachedCertManager{},
	}
}

// podsOf lists the pods selector matches in every namespace. Whole pods,
// not metadata: a named targetPort of the gateway Service resolves through
// their container ports.
func (c *readCache) podsOf(ctx context.Context, kube clients.Kube, selector string) (cachedPods, error) {
	if got, ok := c.gatewayPods[selector]; ok {
		return got, nil
	}
	pods, err := kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	var got cachedPods
	switch {
	case apierrors.IsForbidden(err):
		got.refused = true
	case err != nil:
		return got, err
	default:
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				got.pods = append(got.pods, gatewayPod(p))
			}
		}
	}
	c.gatewayPods[selector] = got
	return got, nil
}

func gatewayPod(p corev1.Pod) snapshot.Object {
	return snapshot.Object{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Annotations: p.Annotations,
		ContainerPorts: istio.ContainerPorts(p.Spec), ServiceAccount: p.Spec.ServiceAccountName}
}

func newSecret(sec *corev1.Secret) *snapshot.Secret {
	return &snapshot.Secret{Namespace: sec.Namespace, Name: sec.Name, Type: string(sec.Type), Data: sec.Data, Annotations: sec.Annotations}
}

// secretWorkers is how many Secrets fetchSecrets reads at once.
const secretWorkers = 8

// fetchSecrets reads the Secrets named "namespace/name", each once, several
// at once, into the cache. They are read by name, never listed: a list
// returns every Secret of its namespace (or of the cluster), private keys
// included, whether a Gateway names it or not, and needs the right to read
// them all, where a GET needs only the right to read the named one (RBAC
// resourceNames). Sent at once, the GETs take the time of one; their
// number grows by one per credential a Gateway names, the only input that
// grows with the applications, and no read of other Secrets buys it back.
func (c *readCache) fetchSecrets(ctx context.Context, kube clients.Kube, names []string) error {
	var todo []string
	seen := map[string]bool{}
	for _, k := range names {
		if _, done := c.secrets[k]; !done && !seen[k] {
			seen[k] = true
			todo = append(todo, k)
		}
	}
	got := make([]cachedSecret, len(todo))
	errs := make([]error, len(todo))
	tasks := make([]func(context.Context), len(todo))
	for i, k := range todo {
		ns, name, _ := strings.Cut(k, "/")
		tasks[i] = func(ctx context.Context) { got[i], errs[i] = getSecret(ctx, kube, ns, name) }
	}
	runBounded(ctx, secretWorkers, tasks)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, k := range todo {
		c.secrets[k] = got[i]
	}
	return nil
}

// secret reads Secret ns/name, unless it was read already.
func (c *readCache) secret(ctx context.Context, kube clients.Kube, ns, name string) (cachedSecret, error) {
	k := snapshot.Key(ns, name)
	if got, ok := c.secrets[k]; ok {
		return got, nil
	}
	got, err := getSecret(ctx, kube, ns, name)
	if err != nil {
		return got, err
	}
	c.secrets[k] = got
	return got, nil
}

// getSecret reads Secret ns/name: absent and refused are answers, not
// errors.
func getSecret(ctx context.Context, kube clients.Kube, ns, name string) (cachedSecret, error) {
	sec, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	var got cachedSecret
	switch {
	case apierrors.IsNotFound(err):
	case apierrors.IsForbidden(err):
		got.refused = true
	case err != nil:
		return got, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	default:
		got.secret = newSecret(sec)
	}
	return got, nil
}

// prefetchCertManager lists the Certificates and Issuers of every
// namespace, when cert-manager is served, noting those secure made. Either
// refused, each namespace's are listed alone.
func (c *readCache) prefetchCertManager(ctx context.Context, dyn dynamic.Interface, served string) error {
	if served == "" {
		return nil
	}
	certs, err := dyn.Resource(certmanager.Certificates).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing certificates: %w", err)
	}
	issuers, err := dyn.Resource(certmanager.Issuers).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing issuers: %w", err)
	}
	for i := range certs.Items {
		u := &certs.Items[i]
		got := c.certManager[u.GetNamespace()]
		got.certificates = append(got.certificates, certificateOf(u))
		c.certManager[u.GetNamespace()] = got
		c.noteSecureObject(u)
	}
	for i := range issuers.Items {
		u := &issuers.Items[i]
		c.noteSecureObject(u)
		got := c.certManager[u.GetNamespace()]
		if got.issuerReady == nil {
			got.issuerReady = map[string]bool{}
		}
		got.issuerReady["Issuer/"+snapshot.Key(u.GetNamespace(), u.GetName())], _ = certmanager.Ready(u)
		c.certManager[u.GetNamespace()] = got
	}
	c.certManagerListed = true
	return nil
}

func certificateOf(u *unstructured.Unstructured) snapshot.Certificate {
	ready, message := certmanager.Ready(u)
	cert := snapshot.Certificate{Namespace: u.GetNamespace(), Name: u.GetName(), Ready: ready, Message: message}
	cert.SecretName, _, _ = unstructured.NestedString(u.Object, "spec", "secretName")
	cert.IssuerName, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "name")
	cert.IssuerKind, _, _ = unstructured.NestedString(u.Object, "spec", "issuerRef", "kind")
	return cert
}

// certManagerIn reads the Certificates and Issuers of namespace ns; "" is
// the ClusterIssuers.
func (c *readCache) certManagerIn(ctx context.Context, dyn dynamic.Interface, ns string) (cachedCertManager, error) {
	if ns == "" && c.clusterIssuers != nil {
		return *c.clusterIssuers, nil
	}
	if got, ok := c.certManager[ns]; ns != "" && (ok || c.certManagerListed) {
		return got, nil
	}
	list := func(which, where string) (*unstructured.UnstructuredList, *snapshot.Access, error) {
		gvr := certmanager.Issuers
		switch which {
		case "certificates":
			gvr = certmanager.Certificates
		case "clusterissuers":
			gvr = certmanager.ClusterIssuers
		}
		l, err := dyn.Resource(gvr).Namespace(where).List(ctx, metav1.ListOptions{})
		if apierrors.IsForbidden(err) {
			return &unstructured.UnstructuredList{}, &snapshot.Access{Verb: "list", Group: gvr.Group, Resource: gvr.Resource, Namespace: where}, nil
		}
		if err != nil {
			in := ""
			if where != "" {
				in = " in " + where
			}
			return nil, nil, fmt.Errorf("listing %s%s: %w", gvr.Resource, in, err)
		}
		return l, nil, nil
	}
	got := cachedCertManager{issuerReady: map[string]bool{}}
	note := func(a *snapshot.Access) {
		if a != nil {
			got.refused = append(got.refused, *a)
		}
	}
	if ns == "" {
		issuers, refused, err := list("clusterissuers", "")
		if err != nil {
			return got, err
		}
		note(refused)
		for i := range issuers.Items {
			got.issuerReady["ClusterIssuer/"+issuers.Items[i].GetName()], _ = certmanager.Ready(&issuers.Items[i])
		}
		c.clusterIssuers = &got
		return got, nil
	}
	certs, refused, err := list("certificates", ns)
	if err != nil {
		return got, err
	}
	note(refused)
	for i := range certs.Items {
		got.certificates = append(got.certificates, certificateOf(&certs.Items[i]))
	}
	issuers, refused, err := list("issuers", ns)
	if err != nil {
		return got, err
	}
	note(refused)
	for i := range issuers.Items {
		got.issuerReady["Issuer/"+snapshot.Key(ns, issuers.Items[i].GetName())], _ = certmanager.Ready(&issuers.Items[i])
	}
	c.certManager[ns] = got
	return got, nil
}

// readCertManager puts into s the Certificates and Issuers of namespaces,
// and the ClusterIssuers.
func (c *readCache) readCertManager(ctx context.Context, dyn dynamic.Interface, namespaces []string, s *snapshot.Snapshot) error {
	for _, ns := range append(namespaces, "") {
		got, err := c.certManagerIn(ctx, dyn, ns)
		if err != nil {
			return err
		}
		s.Certificates = append(s.Certificates, got.certificates...)
		for k, ready := range got.issuerReady {
			s.IssuerReady[k] = ready
		}
		for _, a := range got.refused {
			s.Deny(snapshot.InputCertificates, a)
		}
	}
	return nil
}
