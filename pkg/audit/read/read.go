// Package read takes the snapshots verify judges: Read for one namespace,
// ReadAll for every namespace holding an OPEA application (found by
// AppNamespaces), in a bounded number of API calls, with a cache of the
// gateway side's reads that namespaces share. A read the API server
// refuses is recorded in the snapshot, not an error.
package read

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Clients are what Read needs.
type Clients struct {
	Kube      clients.Kube
	Dynamic   dynamic.Interface
	Metadata  metadata.Interface
	Discovery discovery.DiscoveryInterface
}

// ReadOptions say what to audit.
type ReadOptions struct {
	// Namespace is the application namespace to audit; with
	// AllNamespaces, it is ignored.
	Namespace string
	// AllNamespaces audits every namespace that holds an OPEA application
	// (see AppNamespaces), narrowed by NamespaceSelector, a label selector
	// on namespaces.
	AllNamespaces     bool
	NamespaceSelector string
	EntryService      string
	EntryPort         int32
	MinValidity       time.Duration
	// AppServiceAccounts reads the service accounts of the application's
	// pods (one list of its pods, whole) even where secure's lockdown is
	// not: the reachability matrix's APP column calls as them.
	AppServiceAccounts bool
	// ExtraPrincipals each get a column of the reachability matrix.
	ExtraPrincipals []string
	// WarnExpiry is how long before the mesh root expires verify warns.
	WarnExpiry time.Duration
	// MeshIdentity names the cluster's mesh in Snapshot.Mesh and
	// Fleet.Mesh, for the fleet checks of verify --contexts: from the reads
	// of istiod and its mesh config the audit makes anyway, and the root
	// istiod publishes in its namespace (from the list of every
	// namespace's roots with AllNamespaces, else one more call).
	MeshIdentity bool
}

// UnreachableError means the API server did not answer: the audit cannot run.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "cannot reach the cluster: " + e.Err.Error() }

func (e *UnreachableError) Unwrap() error { return e.Err }

// NamespaceMissingError means the namespace to audit does not exist.
type NamespaceMissingError struct{ Namespace string }

func (e *NamespaceMissingError) Error() string {
	return fmt.Sprintf("namespace %q does not exist", e.Namespace)
}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// RunningPodsSelector is the field selector of the application's pods that
// are not completed (Succeeded or Failed), as istio-cni tells them apart
// (kube.CheckPodTerminal).
const RunningPodsSelector = "status.phase!=Succeeded,status.phase!=Failed"

// Read takes a snapshot of everything the checks of one namespace need. The
// number of API calls is fixed, plus a few per Gateway that routes to the
// application; it does not grow with pods, Services or namespaces.
//
// A read the API server refuses (403) does not stop it: the input is
// recorded in Snapshot.Unread with the refused request, and the checks
// that need it are reported Unknown. Any other error stops it.
func Read(ctx context.Context, c Clients, o ReadOptions) (*snapshot.Snapshot, error) {
	o.AllNamespaces = false
	r := &reader{c: c, o: o, cache: newReadCache()}
	if err := r.readCluster(ctx); err != nil {
		return nil, err
	}
	s, err := r.snapshotFor(ctx, o.Namespace)
	if err != nil {
		return nil, err
	}
	return s, r.readGatewaySides(ctx, []*snapshot.Snapshot{s})
}

// Fleet is ReadAll's answer: a snapshot per namespace holding an OPEA
// application, and the refused reads that looking for them needed (an
// application may then be missing from Snapshots).
type Fleet struct {
	Snapshots  []*snapshot.Snapshot
	Unsearched []snapshot.Access
	// Leftovers are secure's objects for namespaces that no longer exist.
	Leftovers []Leftover
	// Mesh names the cluster's mesh, with ReadOptions.MeshIdentity.
	Mesh snapshot.MeshIdentity
}

// ReadAll takes one snapshot per namespace holding an OPEA application, from
// one read of the cluster: every input is listed once across all namespaces,
// so the number of API calls does not grow with the namespaces either (only
// where a list across namespaces is refused are the namespaces read one by
// one), but for the credential Secrets, read by name (fetchSecrets). The
// snapshots are in the order of their namespaces' names. It also finds what
// secure left for namespaces since deleted (leftovers).
func ReadAll(ctx context.Context, c Clients, o ReadOptions) (*Fleet, error) {
	o.AllNamespaces = true
	r := &reader{c: c, o: o, cache: newReadCache()}
	if err := r.readCluster(ctx); err != nil {
		return nil, err
	}
	var selector labels.Selector
	if o.NamespaceSelector != "" {
		var err error
		if selector, err = labels.Parse(o.NamespaceSelector); err != nil {
			return nil, fmt.Errorf("invalid --selector %q: %w", o.NamespaceSelector, err)
		}
	}
	fleet := &Fleet{Unsearched: r.base.Unsearched(), Mesh: r.base.Mesh}
	var found []*snapshot.Snapshot
	for _, ns := range r.appNamespaces() {
		s, err := r.snapshotFor(ctx, ns)
		var missing *NamespaceMissingError
		if errors.As(err, &missing) {
			continue // deleted since it was found, or no namespace at all
		}
		if err != nil {
			return nil, err
		}
		if selector != nil && r.namespaceLabels == nil {
			// The selector could not be sent with a list of namespaces:
			// apply it here, to the labels read one namespace at a time.
			if denied := s.Unread[snapshot.InputNamespace]; len(denied) > 0 {
				fleet.Unsearched = append(fleet.Unsearched, denied...)
				continue
			}
			if !selector.Matches(labels.Set(s.NamespaceLabels)) {
				continue
			}
		}
		found = append(found, s)
	}
	// Every namespace's certificates are listed at once, across namespaces:
	// as many requests as listing one namespace's, and they show what
	// secure left for namespaces since deleted.
	if err := r.cache.prefetchCertManager(ctx, c.Dynamic, r.base.APIs.CertManager); err != nil {
		return nil, err
	}
	if err := r.readGatewaySides(ctx, found); err != nil {
		return nil, err
	}
	leftovers, err := r.leftovers(ctx)
	if err != nil {
		return nil, err
	}
	fleet.Leftovers = leftovers
	fleet.Snapshots = found
	fleet.Unsearched = snapshot.SortedAccesses(fleet.Unsearched)
	return fleet, nil
}

// reader reads the inputs of one audit: those shared by every namespace into
// base, once; in an audit of all namespaces, the namespaced ones (namespace
// labels, pods, EndpointSlices, Roles and RoleBindings) across all
// namespaces too.
type reader struct {
	c     Clients
	o     ReadOptions
	base  *snapshot.Snapshot
	cache *readCache

	// Read across all namespaces, by namespace; nil when not read that way
	// (one namespace, or the list was refused): snapshotFor then reads the
	// namespace's own.
	namespaceLabels map[string]map[string]string
	pods            map[string][]snapshot.Object
	roles           map[string][]rbacv1.Role
	roleBindings    map[string][]rbacv1.RoleBinding
	endpointSlices  map[string][]snapshot.EndpointSlice
	meshRoots       map[string]snapshot.MeshRoot
	networkPolicies map[string][]networkingv1.NetworkPolicy
	serviceAccounts map[string][]string
}

// readCluster reads the inputs every namespace shares. The lists are
// independent of each other: they are sent concurrently.
func (r *reader) readCluster(ctx context.Context) error {
	s := &snapshot.Snapshot{
		Namespace:    r.o.Namespace,
		EntryService: r.o.EntryService,
		EntryPort:    r.o.EntryPort,
		MinValidity:  r.o.MinValidity,
		WarnExpiry:   r.o.WarnExpiry,
		// The flag's values, not the caller's slice.
		ExtraPrincipals: append([]string(nil), r.o.ExtraPrincipals...),
		Now:             time.Now(),
		RootNamespace:   istio.DefaultRootNamespace,
		TrustDomain:     istio.DefaultTrustDomain,
	}
	s.Guard()
	r.base = s
	version, err := r.c.Discovery.ServerVersion()
	if err != nil {
		return &UnreachableError{Err: err}
	}
	s.ServerVersion = version.GitVersion
	if s.APIs, err = discover.ServedAPIs(r.c.Discovery); err != nil {
		return err
	}
	if !r.o.AllNamespaces {
		// Before the rest, which is wasted on a namespace that does not exist.
		if err := r.readNamespace(ctx, s, r.o.Namespace); err != nil {
			return err
		}
	}
	c := r.c
	reads := []func() error{
		func() error { return readIstioInfrastructure(ctx, c.Kube, s) },
		func() error { return readIstioConfig(ctx, c.Dynamic, s) },
		func() error { return readGatewayAPI(ctx, c.Dynamic, s) },
		func() error { return readServices(ctx, c.Kube, s) },
		func() error { return readClusterRBAC(ctx, c.Kube, s) },
	}
	if r.o.AllNamespaces {
		reads = append(reads, r.listNamespaces(ctx), r.listPods(ctx), r.listRoles(ctx), r.listEndpointSlices(ctx), r.listMeshRoots(ctx), r.listPitfallInputs(ctx))
	}
	if err := concurrently(reads); err != nil {
		return err
	}
	if r.o.MeshIdentity {
		// After the reads it is made of.
		return r.readMeshIdentity(ctx)
	}
	return nil
}

// concurrently runs reads at once and returns their errors, joined.
func concurrently(reads []func() error) error {
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, read := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = read()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// snapshotFor is the snapshot of namespace ns: the shared inputs, and the
// namespace's own, from the lists across namespaces when there are, else
// read for ns alone.
func (r *reader) snapshotFor(ctx context.Context, ns string) (*snapshot.Snapshot, error) {
	s := r.base.ForNamespace(ns)
	if r.o.AllNamespaces {
		if r.namespaceLabels != nil {
			labels, ok := r.namespaceLabels[ns]
			if !ok {
				return nil, &NamespaceMissingError{Namespace: ns}
			}
			s.NamespaceLabels = labels
		} else if err := r.readNamespace(ctx, s, ns); err != nil {
			return nil, err
		}
	}
	if r.pods != nil {
		s.Pods = r.pods[ns]
	} else if err := readPods(ctx, r.c, s); err != nil {
		return nil, err
	}
	endpoints := r.endpointSlices[ns]
	if r.endpointSlices == nil {
		var err error
		if endpoints, err = readEndpointSlices(ctx, r.c.Kube, s); err != nil {
			return nil, err
		}
	}
	s.ResolveNamedPorts(endpoints)
	if s.LockedDown() || r.o.AppServiceAccounts {
		if err := readAppServiceAccounts(ctx, r.c, s); err != nil {
			return nil, err
		}
	}
	if r.roles != nil {
		s.Roles, s.RoleBindings = r.roles[ns], r.roleBindings[ns]
	} else if err := readNamespaceRBAC(ctx, r.c.Kube, s); err != nil {
		return nil, err
	}
	if err := r.readMeshRoot(ctx, s); err != nil {
		return nil, err
	}
	if err := r.readAmbientPitfalls(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}
