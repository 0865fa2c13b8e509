// Package owned finds what `kubectl opea secure` created for an application:
// the objects carrying its labels, the Secrets cert-manager wrote for its
// Certificates, and the namespace label it applied. It also names what it
// must leave alone: objects with the same names that are not secure's.
package owned

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
)

// Note is an object left in place, and why.
type Note struct {
	Ref string
	Why string
}

// Found is what unsecure acts on.
type Found struct {
	// Remove lists secure's objects in the order they are deleted: routing
	// first, then mTLS, then the certificate chain and its Secrets.
	Remove []*unstructured.Unstructured
	// Namespace is the application namespace when secure's field manager
	// owns its ambient label; releasing it removes the label unless another
	// manager set it too.
	Namespace *unstructured.Unstructured
	// Kept are secure's objects that existed before it and stay.
	Kept []Note
	// LeftAlone are objects with secure's names that secure did not create.
	LeftAlone []Note
}

// Options say what to look for.
type Options struct {
	AppNamespace string
	// GatewayNamespace limits the search for certificates; empty: every namespace.
	GatewayNamespace string
	// KeepMTLS keeps the PeerAuthentication and the namespace label.
	KeepMTLS     bool
	FieldManager string
	APIs         discover.APIs
}

var (
	secretsGVR    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// Find lists secure's objects for o.AppNamespace. Kinds whose API is not
// served (cert-manager uninstalled, say) cannot exist and are skipped.
func Find(ctx context.Context, dyn dynamic.Interface, o Options) (*Found, error) {
	f := &Found{}
	names := desired.NamesFor(o.AppNamespace)
	ours := func(u *unstructured.Unstructured) bool {
		l := u.GetLabels()
		return l[desired.ManagedByLabel] == desired.ManagedByValue && l[desired.AppNamespaceLabel] == o.AppNamespace
	}

	ns, err := dyn.Resource(namespacesGVR).Get(ctx, o.AppNamespace, metav1.GetOptions{})
	nsExists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}

	type appKind struct {
		gvr      schema.GroupVersionResource
		ourName  string
		isPolicy bool
	}
	var appKinds []appKind
	if o.APIs.Networking != "" {
		appKinds = append(appKinds,
			appKind{gvr: schema.GroupVersionResource{Group: "networking.istio.io", Version: o.APIs.Networking, Resource: "virtualservices"}, ourName: names.VirtualService},
			appKind{gvr: schema.GroupVersionResource{Group: "networking.istio.io", Version: o.APIs.Networking, Resource: "gateways"}, ourName: names.Gateway})
	}
	if o.APIs.Security != "" && !o.KeepMTLS {
		appKinds = append(appKinds, appKind{gvr: schema.GroupVersionResource{Group: "security.istio.io", Version: o.APIs.Security, Resource: "peerauthentications"}, ourName: "default", isPolicy: true})
	}
	for _, k := range appKinds {
		if !nsExists {
			break
		}
		list, err := dyn.Resource(k.gvr).Namespace(o.AppNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing %s in %s: %w", k.gvr.Resource, o.AppNamespace, err)
		}
		for i := range list.Items {
			u := &list.Items[i]
			switch {
			case ours(u) && u.GetAnnotations()[desired.AdoptedAnnotation] == "true":
				f.Kept = append(f.Kept, Note{apply.Ref(u), "it existed before kubectl opea secure took it over"})
			case ours(u):
				f.Remove = append(f.Remove, u)
			case u.GetName() == k.ourName:
				f.LeftAlone = append(f.LeftAlone, Note{apply.Ref(u), "not created by kubectl opea (no " + desired.ManagedByLabel + "=" + desired.ManagedByValue + " label)"})
			}
		}
	}

	if o.APIs.CertManager != "" {
		if err := f.findCertificates(ctx, dyn, o, names, ours); err != nil {
			return nil, err
		}
	}

	if nsExists && !o.KeepMTLS {
		if owned, _ := apply.OwnsLabel(ns, o.FieldManager, desired.DataplaneModeLabel); owned {
			f.Namespace = ns
		}
	}
	return f, nil
}

func (f *Found) findCertificates(ctx context.Context, dyn dynamic.Interface, o Options, names desired.Names, ours func(*unstructured.Unstructured) bool) error {
	selector := metav1.ListOptions{LabelSelector: desired.Selector(o.AppNamespace)}
	certGVR := schema.GroupVersionResource{Group: "cert-manager.io", Version: o.APIs.CertManager, Resource: "certificates"}
	issuerGVR := schema.GroupVersionResource{Group: "cert-manager.io", Version: o.APIs.CertManager, Resource: "issuers"}
	certs, err := dyn.Resource(certGVR).Namespace(o.GatewayNamespace).List(ctx, selector)
	if err != nil {
		return listError("Certificates", o.GatewayNamespace, err)
	}
	issuers, err := dyn.Resource(issuerGVR).Namespace(o.GatewayNamespace).List(ctx, selector)
	if err != nil {
		return listError("Issuers", o.GatewayNamespace, err)
	}
	var secrets []*unstructured.Unstructured
	for i := range certs.Items {
		cert := &certs.Items[i]
		if !ours(cert) {
			continue
		}
		f.Remove = append(f.Remove, cert)
		secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
		if secretName == "" {
			continue
		}
		secret, err := dyn.Resource(secretsGVR).Namespace(cert.GetNamespace()).Get(ctx, secretName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading Secret %s/%s: %w", cert.GetNamespace(), secretName, err)
		}
		// Only the Secret cert-manager wrote for this Certificate.
		if secret.GetAnnotations()["cert-manager.io/certificate-name"] == cert.GetName() {
			secrets = append(secrets, secret)
		} else {
			f.LeftAlone = append(f.LeftAlone, Note{"secret/" + secretName + " in namespace " + cert.GetNamespace(),
				"not written by cert-manager for certificate " + cert.GetName()})
		}
	}
	for i := range issuers.Items {
		if ours(&issuers.Items[i]) {
			f.Remove = append(f.Remove, &issuers.Items[i])
		}
	}
	f.Remove = append(f.Remove, secrets...)
	return nil
}

func listError(what, namespace string, err error) error {
	if apierrors.IsForbidden(err) && namespace == "" {
		return fmt.Errorf("listing %s in every namespace: %w\n  fix: pass --gateway-namespace with the namespace of the ingress gateway pods", what, err)
	}
	return fmt.Errorf("listing %s: %w", what, err)
}
