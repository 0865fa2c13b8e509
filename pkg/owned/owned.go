// Package owned finds what `kubectl opea secure` created for an application:
// the objects carrying its labels (the Secrets cert-manager wrote for its
// Certificates among them), the objects it adopted and keeps, and the
// namespace label it applied. It also names what it must leave alone:
// objects with the same names that are not secure's.
package owned

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/apply"
	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// Note is an object left in place, and why.
type Note struct {
	Ref string
	Why string
}

// Found is what unsecure acts on.
type Found struct {
	// Remove lists secure's objects in the order they are deleted: routing
	// first, then mTLS, then the certificate chain, and its Secrets last, so
	// that cert-manager does not issue them again meanwhile.
	Remove []*unstructured.Unstructured
	// Keep are objects that existed before secure adopted them: they stay,
	// with the fields secure took over given back and its own released.
	Keep []*unstructured.Unstructured
	// Namespace is the application namespace when a field manager of secure
	// owns its ambient label, or secure recorded fields it took over there.
	Namespace *unstructured.Unstructured
	// Managers are the field managers secure applied with: the one asked
	// for, and those found owning secure's label on its objects (a secure
	// run with --field-manager).
	Managers []string
	// LeftAlone are objects with secure's names that secure did not create.
	LeftAlone []Note
	// NamespaceMissing: the application namespace does not exist.
	NamespaceMissing bool
	// NamespaceObject is the application namespace as read, nil when it
	// does not exist.
	NamespaceObject *unstructured.Unstructured
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

// finder reads, collecting every read it may not make instead of stopping
// at the first, so that all of them are reported at once.
type finder struct {
	dyn     dynamic.Interface
	o       Options
	f       *Found
	missing []string
}

// Find lists secure's objects for o.AppNamespace. Kinds whose API is not
// served (cert-manager uninstalled, say) cannot exist and are skipped.
func Find(ctx context.Context, dyn dynamic.Interface, o Options) (*Found, error) {
	r := &finder{dyn: dyn, o: o, f: &Found{Managers: []string{o.FieldManager}}}
	if o.GatewayNamespace != "" {
		_, err := dyn.Resource(namespacesGVR).Get(ctx, o.GatewayNamespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, problems.New(fmt.Sprintf("--gateway-namespace %s: namespace %q does not exist", o.GatewayNamespace, o.GatewayNamespace),
				"name the namespace of the ingress gateway pods, or leave --gateway-namespace out to search every namespace")
		case apierrors.IsForbidden(err):
			// A user with Roles only may not get namespaces: the lists in
			// it, which must succeed, are the check then.
		case err != nil:
			return nil, problems.New(fmt.Sprintf("could not check that --gateway-namespace %s exists: get namespaces %q: %v", o.GatewayNamespace, o.GatewayNamespace, err), retryFix)
		}
	}
	ns, err := dyn.Resource(namespacesGVR).Get(ctx, o.AppNamespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		r.f.NamespaceMissing = true
	case r.forbidden(err, "get namespaces "+quote(o.AppNamespace)):
	case err != nil:
		return nil, fmt.Errorf("reading namespace %s: %w", o.AppNamespace, err)
	}
	r.f.NamespaceObject = ns
	if err := r.appObjects(ctx); err != nil {
		return nil, err
	}
	// After the routes: while they go, the hosts still need a token.
	if err := r.authObjects(ctx, r.authNamespaces()); err != nil {
		return nil, err
	}
	if o.APIs.CertManager != "" {
		if err := r.certificates(ctx); err != nil {
			return nil, err
		}
	}
	if len(r.missing) > 0 {
		return nil, problems.New(
			"you lack permissions to read what unsecure must find: "+strings.Join(r.missing, "; "),
			"ask a cluster admin for them, or use --context/--as with an identity that has them; pass --gateway-namespace to search only the gateway pods' namespace")
	}
	r.findManagers()
	if r.f.NamespaceMissing && r.f.Nothing() {
		return nil, problems.New(fmt.Sprintf("namespace %q does not exist, and nothing of kubectl opea secure remains for it", o.AppNamespace),
			"check -n (kubectl get namespaces)")
	}
	elsewhere, err := certificatesElsewhere(ctx, dyn, o, r.f)
	if err != nil {
		return nil, err
	}
	if len(elsewhere) > 0 {
		return nil, problems.New(
			fmt.Sprintf("secure's certificates for namespace %s are in namespace %s, not in --gateway-namespace %s", o.AppNamespace, strings.Join(elsewhere, ", "), o.GatewayNamespace),
			fmt.Sprintf("kubectl opea unsecure -n %s --gateway-namespace %s (or leave --gateway-namespace out)", o.AppNamespace, elsewhere[0]))
	}
	if err := checkTakeoverRecords(append(slices.Clone(r.f.Keep), ns)); err != nil {
		return nil, err
	}
	if ns != nil && !o.KeepMTLS {
		takeovers := ns.GetAnnotations()[ownership.TakeoversAnnotation] != ""
		for _, m := range r.f.Managers {
			if (apply.Owns(ns, m, labelPath(desired.DataplaneModeLabel)) && r.f.mayRelease(ns, m)) || takeovers {
				r.f.Namespace = ns
			}
		}
	}
	return r.f, nil
}

// retryFix is the fix of a read that failed for another reason than
// permissions: a timeout, a server error.
const retryFix = "check that the API server answers (kubectl get --raw /readyz), then run the command again; nothing was deleted"

// checkTakeoverRecords refuses, before anything is removed, when the
// record of taken-over fields on an object unsecure keeps (nil: none) is
// not what secure writes: unsecure would give its values back.
func checkTakeoverRecords(kept []*unstructured.Unstructured) error {
	for _, obj := range kept {
		if obj == nil {
			continue
		}
		if _, err := apply.DecodeTakeovers(obj.GetAnnotations()[ownership.TakeoversAnnotation]); err != nil {
			return apply.BadTakeoversRecord(obj, err)
		}
	}
	return nil
}

// forbidden records a read the user may not make.
func (r *finder) forbidden(err error, what string) bool {
	if !apierrors.IsForbidden(err) {
		return false
	}
	r.missing = append(r.missing, what)
	return true
}

func (r *finder) ours(u *unstructured.Unstructured) bool {
	return ownership.Ours(u.GetLabels(), r.o.AppNamespace)
}

func adopted(u *unstructured.Unstructured) bool {
	return u.GetAnnotations()[ownership.AdoptedAnnotation] == "true"
}

// list lists gvr in namespace (empty: every namespace) with secure's labels,
// or every object when all is set.
func (r *finder) list(ctx context.Context, gvr schema.GroupVersionResource, namespace string, all bool) ([]unstructured.Unstructured, error) {
	opts := metav1.ListOptions{}
	if !all {
		opts.LabelSelector = ownership.Selector(r.o.AppNamespace)
	}
	list, err := r.dyn.Resource(gvr).Namespace(namespace).List(ctx, opts)
	where := "in namespace " + namespace
	if namespace == "" {
		where = "in every namespace"
	}
	if r.forbidden(err, "list "+resourceName(gvr)+" "+where) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s %s: %w", resourceName(gvr), where, err)
	}
	return list.Items, nil
}

// appKind is a kind of secure's objects in the application namespace, with
// the names secure gives them.
type appKind struct {
	gvr      schema.GroupVersionResource
	ourNames []string
}

// lockdownKind is the kind of the lockdown's AuthorizationPolicies, in
// version.
func lockdownKind(names ownership.Names, version string) appKind {
	return appKind{istio.AuthorizationPolicies(version),
		[]string{names.DenyByDefault, names.AllowApp, names.AllowIngress, names.AllowGatewayClients}}
}

// appObjects finds the routing, authorization and mTLS objects in the
// application namespace: Istio's Gateway and VirtualService, and the
// Gateway API's Gateway and HTTPRoutes when that API is served (when it is
// not, none can exist), the lockdown's AuthorizationPolicies and the
// PeerAuthentication. Objects with secure's names but not its labels are
// listed too, to say why they stay.
func (r *finder) appObjects(ctx context.Context) error {
	if r.f.NamespaceMissing {
		return nil
	}
	names := ownership.NamesFor(r.o.AppNamespace)
	var kinds []appKind
	if v := r.o.APIs.Networking; v != "" {
		kinds = append(kinds,
			appKind{istio.VirtualServices(v), []string{names.VirtualService}},
			appKind{istio.Gateways(v), []string{names.Gateway}})
	}
	// Routes before their Gateway. Istio removes what it deployed for the
	// Gateway (owned by it) once the Gateway is gone.
	if v := r.o.APIs.GatewayAPI; v != "" {
		kinds = append(kinds,
			appKind{gatewayapi.HTTPRoutes(v), []string{names.HTTPRoute, names.RedirectRoute}},
			appKind{gatewayapi.Gateways(v), []string{names.Gateway}})
	}
	// The lockdown is part of what --keep-mtls keeps: who may talk to the
	// application, not how clients reach it.
	if v := r.o.APIs.AuthorizationPolicies; v != "" && !r.o.KeepMTLS {
		kinds = append(kinds, lockdownKind(names, v))
	}
	if v := r.o.APIs.Security; v != "" && !r.o.KeepMTLS {
		kinds = append(kinds, appKind{istio.PeerAuthentications(v), []string{"default"}})
	}
	return r.collect(ctx, kinds)
}

// collect sorts the objects of kinds in the application namespace into
// those to remove, to keep and to leave alone.
func (r *finder) collect(ctx context.Context, kinds []appKind) error {
	for _, k := range kinds {
		items, err := r.list(ctx, k.gvr, r.o.AppNamespace, true)
		if err != nil {
			return err
		}
		if k.gvr.Resource == "authorizationpolicies" {
			sortLockdown(items, k.ourNames)
		}
		for i := range items {
			u := &items[i]
			switch {
			case r.ours(u) && adopted(u):
				r.f.Keep = append(r.f.Keep, u)
			case r.ours(u):
				r.f.Remove = append(r.f.Remove, u)
			case slices.Contains(k.ourNames, u.GetName()) && ownership.Managed(u.GetLabels()):
				r.f.LeftAlone = append(r.f.LeftAlone, Note{apply.Ref(u), "created by kubectl opea for namespace " + quote(u.GetLabels()[ownership.AppNamespaceLabel]) + ", not " + r.o.AppNamespace})
			case slices.Contains(k.ourNames, u.GetName()):
				r.f.LeftAlone = append(r.f.LeftAlone, Note{apply.Ref(u), "not created by kubectl opea (no " + ownership.ManagedByLabel + "=" + ownership.ManagedByValue + " label)"})
			}
		}
	}
	return nil
}

// sortLockdown puts the lockdown's policies in the order of names
// (allow-nothing, the application's, the gateway's): the reverse of the
// order secure applies them, so that while they go the ingress gateway is
// never refused. Others keep their order, after them.
func sortLockdown(items []unstructured.Unstructured, names []string) {
	rank := func(u unstructured.Unstructured) int {
		if i := slices.Index(names, u.GetName()); i >= 0 {
			return i
		}
		return len(names)
	}
	slices.SortStableFunc(items, func(a, b unstructured.Unstructured) int { return rank(a) - rank(b) })
}

// FindLockdown finds secure's lockdown AuthorizationPolicies for
// o.AppNamespace, in o.APIs.AuthorizationPolicies's version, for secure
// --lockdown=false: those secure made are removed, those it adopted are
// kept with its fields released, as unsecure does.
func FindLockdown(ctx context.Context, dyn dynamic.Interface, o Options) (*Found, error) {
	var kinds []appKind
	lockdown := lockdownKind(ownership.NamesFor(o.AppNamespace), "")
	if v := o.APIs.AuthorizationPolicies; v != "" {
		kinds = append(kinds, lockdownKind(ownership.NamesFor(o.AppNamespace), v))
	}
	f, err := findKinds(ctx, dyn, o, "--lockdown=false", kinds)
	if err != nil {
		return nil, err
	}
	// Only the lockdown's: secure --auth with the Gateway API keeps its
	// policy in the application namespace too.
	other := func(u *unstructured.Unstructured) bool { return !slices.Contains(lockdown.ourNames, u.GetName()) }
	f.Remove = slices.DeleteFunc(f.Remove, other)
	f.Keep = slices.DeleteFunc(f.Keep, other)
	return f, nil
}

// FindRedirectRoute finds secure's Gateway API redirect HTTPRoute for
// o.AppNamespace, for a secure --gateway-api --http-redirect=false: the
// Gateway then has no HTTP listener, and the route would be left
// attached to none.
func FindRedirectRoute(ctx context.Context, dyn dynamic.Interface, o Options) (*Found, error) {
	var kinds []appKind
	name := ownership.NamesFor(o.AppNamespace).RedirectRoute
	if v := o.APIs.GatewayAPI; v != "" {
		kinds = append(kinds, appKind{gatewayapi.HTTPRoutes(v), []string{name}})
	}
	f, err := findKinds(ctx, dyn, o, "--http-redirect=false", kinds)
	if err != nil {
		return nil, err
	}
	// The route to the application is secure's too, and stays.
	other := func(u *unstructured.Unstructured) bool { return u.GetName() != name }
	f.Remove = slices.DeleteFunc(f.Remove, other)
	f.Keep = slices.DeleteFunc(f.Keep, other)
	return f, nil
}

// findKinds finds secure's objects of kinds in the application namespace,
// for the flag of secure (what) that no longer wants them.
func findKinds(ctx context.Context, dyn dynamic.Interface, o Options, what string, kinds []appKind) (*Found, error) {
	r := &finder{dyn: dyn, o: o, f: &Found{Managers: []string{o.FieldManager}}}
	if len(kinds) > 0 {
		if err := r.collect(ctx, kinds); err != nil {
			return nil, err
		}
	}
	return r.done(what)
}

// done refuses when a read was forbidden, naming them all; else it adds
// the field managers found and returns what r found, for the flag of
// secure (what) that looked.
func (r *finder) done(what string) (*Found, error) {
	if len(r.missing) > 0 {
		return nil, problems.New(
			"you lack permissions to read what "+what+" must find: "+strings.Join(r.missing, "; "),
			"ask a cluster admin for them, or use --context/--as with an identity that has them")
	}
	r.findManagers()
	return r.f, nil
}

// Merge adds what other found to f: other's objects are removed first.
func (f *Found) Merge(other *Found) {
	f.Remove = append(slices.Clone(other.Remove), f.Remove...)
	f.Keep = append(f.Keep, other.Keep...)
	f.LeftAlone = append(f.LeftAlone, other.LeftAlone...)
	for _, m := range other.Managers {
		if !slices.Contains(f.Managers, m) {
			f.Managers = append(f.Managers, m)
		}
	}
}

// certificates finds secure's cert-manager objects and the Secrets written
// for them, in the gateway namespace. Secrets are found by the labels
// cert-manager copies from the Certificate, so that they are found after
// their Certificate is gone (an interrupted unsecure); a Secret a
// Certificate names is found through it too.
func (r *finder) certificates(ctx context.Context) error {
	gwns := r.o.GatewayNamespace
	certs, err := r.list(ctx, certmanager.Certificates, gwns, false)
	if err != nil {
		return err
	}
	issuers, err := r.list(ctx, certmanager.Issuers, gwns, false)
	if err != nil {
		return err
	}
	labelled, err := r.list(ctx, secretsGVR, gwns, false)
	if err != nil {
		return err
	}

	removeCerts, keptCerts := r.sortOurs(certs)
	r.f.Remove = append(r.f.Remove, removeCerts...)
	removeIssuers, _ := r.sortOurs(issuers)
	r.f.Remove = append(r.f.Remove, removeIssuers...)

	secrets, seen, err := r.labelledSecrets(ctx, labelled, removeCerts, keptCerts)
	if err != nil {
		return err
	}
	earlier, err := r.unlabelledSecrets(ctx, removeCerts, seen)
	if err != nil {
		return err
	}
	secrets = append(secrets, earlier...)
	sort.Slice(secrets, func(i, j int) bool {
		return secrets[i].GetNamespace()+"/"+secrets[i].GetName() < secrets[j].GetNamespace()+"/"+secrets[j].GetName()
	})
	r.f.Remove = append(r.f.Remove, secrets...)
	return nil
}

// sortOurs picks secure's objects out of items: those to remove, and those
// it keeps because they were adopted (added to r.f.Keep, and returned by
// namespace/name).
func (r *finder) sortOurs(items []unstructured.Unstructured) (remove []*unstructured.Unstructured, kept map[string]bool) {
	kept = map[string]bool{}
	for i := range items {
		obj := &items[i]
		switch {
		case !r.ours(obj):
		case adopted(obj):
			r.f.Keep = append(r.f.Keep, obj)
			kept[obj.GetNamespace()+"/"+obj.GetName()] = true
		default:
			remove = append(remove, obj)
		}
	}
	return remove, kept
}

// labelledSecrets are the Secrets among labelled, which carry secure's
// labels, that go with the Certificates removed: a Secret of an adopted
// Certificate stays with it. seen holds every labelled Secret by
// namespace/name.
func (r *finder) labelledSecrets(ctx context.Context, labelled []unstructured.Unstructured, removeCerts []*unstructured.Unstructured, keptCerts map[string]bool) (secrets []*unstructured.Unstructured, seen map[string]bool, err error) {
	removing := map[string]bool{}
	for _, cert := range removeCerts {
		removing[cert.GetNamespace()+"/"+cert.GetName()] = true
	}
	seen = map[string]bool{}
	for i := range labelled {
		s := &labelled[i]
		seen[s.GetNamespace()+"/"+s.GetName()] = true
		certName := s.GetAnnotations()[certmanager.CertificateNameAnnotation]
		owner := s.GetNamespace() + "/" + certName
		switch {
		case !r.ours(s):
			continue
		case certName == "" || removing[owner]:
		case keptCerts[owner]:
			continue // the Secret of an adopted Certificate stays with it
		default:
			// Its Certificate is gone, or no longer secure's (an adopted one
			// whose labels an earlier unsecure released): the Secret goes only
			// in the first case.
			_, err := r.dyn.Resource(certmanager.Certificates).Namespace(s.GetNamespace()).Get(ctx, certName, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case r.forbidden(err, fmt.Sprintf("get certificates.cert-manager.io %q in namespace %s", certName, s.GetNamespace())):
				continue
			case err != nil:
				return nil, nil, fmt.Errorf("reading Certificate %s: %w", owner, err)
			default:
				continue
			}
		}
		secrets = append(secrets, s)
	}
	return secrets, seen, nil
}

// unlabelledSecrets are the Secrets of the Certificates removed that were
// issued before Certificates labelled them (not in seen): each only if
// cert-manager wrote it for that Certificate.
func (r *finder) unlabelledSecrets(ctx context.Context, removeCerts []*unstructured.Unstructured, seen map[string]bool) ([]*unstructured.Unstructured, error) {
	var secrets []*unstructured.Unstructured
	for _, cert := range removeCerts {
		secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
		if secretName == "" || seen[cert.GetNamespace()+"/"+secretName] {
			continue
		}
		secret, err := r.dyn.Resource(secretsGVR).Namespace(cert.GetNamespace()).Get(ctx, secretName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case r.forbidden(err, fmt.Sprintf("get secrets %q in namespace %s", secretName, cert.GetNamespace())):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading Secret %s/%s: %w", cert.GetNamespace(), secretName, err)
		}
		// Only the Secret cert-manager wrote for this Certificate.
		if secret.GetAnnotations()[certmanager.CertificateNameAnnotation] == cert.GetName() {
			secrets = append(secrets, secret)
		} else {
			r.f.LeftAlone = append(r.f.LeftAlone, Note{"secret/" + secretName + " in namespace " + cert.GetNamespace(),
				"not written by cert-manager for certificate " + cert.GetName()})
		}
	}
	return secrets, nil
}

// findManagers adds the field managers whose apply owns secure's label on
// the objects found: secure ran with --field-manager.
func (r *finder) findManagers() {
	path := labelPath(ownership.ManagedByLabel)
	for _, obj := range slices.Concat(r.f.Remove, r.f.Keep) {
		for _, m := range apply.Appliers(obj, path) {
			if !slices.Contains(r.f.Managers, m) {
				r.f.Managers = append(r.f.Managers, m)
			}
		}
	}
}

func labelPath(key string) []string { return []string{"metadata", "labels", key} }

// namespaceFields are all that secure applies to the namespace.
var namespaceFields = [][]string{labelPath(desired.DataplaneModeLabel), {"metadata", "annotations", ownership.TakeoversAnnotation}}

// mayRelease says whether unsecure may release obj's fields as manager m:
// releasing removes every field m alone owns there. That is right for the
// field manager asked for; for one found applying secure's labels (a secure
// run with --field-manager, or a tool applying secure's output), only where
// all it owns is secure's: on the namespace, secure's label and annotation
// alone; on another object, the object it applied with secure's labels.
func (f *Found) mayRelease(obj *unstructured.Unstructured, m string) bool {
	if m == f.Managers[0] {
		return true
	}
	if obj.GetKind() == "Namespace" {
		return apply.OwnsOnly(obj, m, namespaceFields)
	}
	return apply.Owns(obj, m, labelPath(ownership.ManagedByLabel))
}

// certificatesElsewhere lists the namespaces other than the gateway
// namespace asked for that hold secure's cert-manager objects for the
// application, when that namespace holds none: the user most likely named
// the wrong one, and unsecure would leave the certificates and their keys
// behind. It needs to list in every namespace; a list that fails is an
// error, not "nowhere else".
func certificatesElsewhere(ctx context.Context, dyn dynamic.Interface, o Options, found *Found) ([]string, error) {
	if o.GatewayNamespace == "" || o.APIs.CertManager == "" {
		return nil, nil
	}
	for _, obj := range slices.Concat(found.Remove, found.Keep) {
		// Only cert-manager's kinds and their Secrets say where secure put
		// the certificates: the app namespace holds routing and mTLS too.
		isCertificateKind := obj.GroupVersionKind().Group == certmanager.Group || obj.GetKind() == "Secret"
		if isCertificateKind && obj.GetNamespace() == o.GatewayNamespace {
			return nil, nil
		}
	}
	var out []string
	for _, gvr := range []schema.GroupVersionResource{certmanager.Certificates, certmanager.Issuers} {
		list, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: ownership.Selector(o.AppNamespace)})
		switch {
		case apierrors.IsForbidden(err):
			return nil, problems.New(
				fmt.Sprintf("could not check whether secure's certificates for namespace %s are in another namespace than --gateway-namespace %s, which holds none: you may not list %s in every namespace", o.AppNamespace, o.GatewayNamespace, resourceName(gvr)),
				fmt.Sprintf("ask a cluster admin for list on %s in every namespace, or use --context/--as with an identity that may; nothing was deleted", resourceName(gvr)))
		case err != nil:
			return nil, problems.New(fmt.Sprintf("could not check whether secure's certificates for namespace %s are in another namespace than --gateway-namespace %s: list %s in every namespace: %v", o.AppNamespace, o.GatewayNamespace, resourceName(gvr), err), retryFix)
		}
		for _, item := range list.Items {
			if ns := item.GetNamespace(); ns != o.GatewayNamespace && !slices.Contains(out, ns) {
				out = append(out, ns)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func resourceName(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource
	}
	return gvr.Resource + "." + gvr.Group
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
