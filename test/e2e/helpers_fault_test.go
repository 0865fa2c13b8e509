package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// pluginRun is one run of the kubectl-opea binary.
type pluginRun struct {
	stdout, stderr string
	code           int
	took           time.Duration
	killed         bool // still running at the deadline
}

func (r pluginRun) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%sstderr:\n%s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// pluginRunLimit ends a run that outlives every timeout it was given.
const pluginRunLimit = 60 * time.Second

// runPlugin runs the kubectl-opea binary with args, as a user would, with
// no KUBECONFIG of the environment. It is safe from several goroutines: it
// reports problems in the result, never through t.
func runPlugin(bin string, args ...string) pluginRun {
	ctx, cancel := context.WithTimeout(context.Background(), pluginRunLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := pluginRun{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start), killed: ctx.Err() != nil}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		r.code, r.stderr = -1, r.stderr+"\nrunning kubectl-opea: "+err.Error()
	}
	return r
}

// pluginBinary is the kubectl-opea that pluginPath built.
func pluginBinary(t testing.TB) string {
	t.Helper()
	return filepath.Join(pluginPath(t), "kubectl-opea")
}

// writeKubeconfigVia writes an admin kubeconfig whose server is
// https://address: the API server's certificate is valid for 127.0.0.1, so a
// proxy on loopback is reached with TLS verified end to end.
func writeKubeconfigVia(t testing.TB, path, address string) string {
	t.Helper()
	if err := writeKubeconfigTo(path, address); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKubeconfigTo is writeKubeconfigVia for a worker goroutine: it
// returns the error instead of failing the test.
func writeKubeconfigTo(path, address string) error {
	if err := cluster.WriteKubeconfig(path, controlplane.AdminUser); err != nil {
		return err
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return err
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + address
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// apiServerAddress is the host:port of the local API server.
func apiServerAddress() string {
	return strings.TrimPrefix(cluster.Host, "https://")
}

// stateDumper reads the whole content of namespaces, as a user would judge
// what is there: every object of every listable namespaced resource, with
// kind, name, labels, annotations, owner references and content (spec, data,
// ...), without what the server or a controller keeps (status, uid,
// resourceVersion, managedFields, timestamps). Secrets that
// cert-manager wrote keep their keys, not their values, which are fresh
// key material at each issuance.
type stateDumper struct {
	dyn dynamic.Interface
	// resources are the listable namespaced resources; all adds the
	// cluster-scoped ones.
	resources, all []schema.GroupVersionResource
}

func newStateDumper(t testing.TB) *stateDumper {
	t.Helper()
	disco, err := discovery.NewDiscoveryClientForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	lists, err := disco.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	// Listing every resource lists the deprecated v1 Endpoints too: keep
	// the warnings out of the test log.
	cfg := cluster.AdminConfig()
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS = -1 // a dump is a burst of requests: no client-side throttling
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &stateDumper{dyn: dyn}
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, r := range l.APIResources {
			// CertificateRequests are cert-manager's record of each
			// issuance, one per Certificate revision, removed with their
			// Certificate by the garbage collector: not the state a run
			// of the plugin leaves.
			if !slices.Contains(r.Verbs, "list") || r.Name == "events" || r.Name == "certificaterequests" || strings.Contains(r.Name, "/") {
				continue
			}
			d.all = append(d.all, gv.WithResource(r.Name))
			if r.Namespaced {
				d.resources = append(d.resources, gv.WithResource(r.Name))
			}
		}
	}
	return d
}

// stateDump maps "resource.group namespace/name" to the object as the dump
// keeps it.
type stateDump map[string]map[string]interface{}

// dump reads appNs and the gateway namespace. Objects in the gateway
// namespace that belong to the applications in others (other namespaces a
// test secures at the same time) are left out: they are the state of
// another case. Each resource is listed once for the whole cluster, which
// costs the API server a third of listing it in the two namespaces.
func (d *stateDumper) dump(appNs string, others ...string) (stateDump, error) {
	ctx := context.Background()
	out := stateDump{}
	var mu sync.Mutex
	add := func(resource string, u *unstructured.Unstructured) {
		switch {
		case nextPrivateKey(u):
			return
		case u.GetNamespace() == appNs:
		case u.GetNamespace() == gatewayNamespace && !belongsToOther(u, others):
		default:
			return
		}
		mu.Lock()
		out[resource+" "+u.GetNamespace()+"/"+u.GetName()] = normaliseForDump(u)
		mu.Unlock()
	}
	nsObj, err := d.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, appNs, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	out["namespaces /"+appNs] = normaliseForDump(nsObj)

	err = d.listAll(d.resources, metav1.ListOptions{}, add)
	return out, err
}

// nextPrivateKey reports whether u is the Secret in which cert-manager's
// key manager keeps the private key of an issuance under way, deleted once
// the certificate is issued: cert-manager's working state, not the state a
// run of the plugin leaves.
func nextPrivateKey(u *unstructured.Unstructured) bool {
	return u.GetKind() == "Secret" && u.GetLabels()["cert-manager.io/next-private-key"] == "true"
}

// listAll lists each of resources in every namespace, six at a time, and
// hands each object to add with the resource's name ("resource.group").
func (d *stateDumper) listAll(resources []schema.GroupVersionResource, opts metav1.ListOptions, add func(resource string, u *unstructured.Unstructured)) error {
	var mu sync.Mutex
	var errs []error
	jobs := make(chan schema.GroupVersionResource)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for gvr := range jobs {
				list, err := d.dyn.Resource(gvr).List(context.Background(), opts)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("listing %s: %w", gvr, err))
					mu.Unlock()
					continue
				}
				name := gvr.Resource
				if gvr.Group != "" {
					name += "." + gvr.Group
				}
				for i := range list.Items {
					add(name, &list.Items[i])
				}
			}
		}()
	}
	for _, gvr := range resources {
		jobs <- gvr
	}
	close(jobs)
	wg.Wait()
	return errors.Join(errs...)
}

// snapshot is dump together with a map of every object of the cluster,
// namespaced or not, that carries secure's label
// app.kubernetes.io/managed-by=kubectl-opea, to its resourceVersion: what
// a run must not have changed. Namespaced resources are listed whole once
// for both; cluster-scoped ones (CRDs are large) by the label only.
func (d *stateDumper) snapshot(appNs string) (stateDump, map[string]string, error) {
	ctx := context.Background()
	out := stateDump{}
	labelled := map[string]string{}
	var mu sync.Mutex
	nsObj, err := d.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, appNs, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	out["namespaces /"+appNs] = normaliseForDump(nsObj)
	add := func(resource string, u *unstructured.Unstructured) {
		key := resource + " " + u.GetNamespace() + "/" + u.GetName()
		mu.Lock()
		defer mu.Unlock()
		if u.GetLabels()[ownership.ManagedByLabel] == ownership.ManagedByValue {
			labelled[key] = u.GetResourceVersion()
		}
		if ns := u.GetNamespace(); ns != "" && (ns == appNs || ns == gatewayNamespace) {
			out[key] = normaliseForDump(u)
		}
	}
	var clusterScoped []schema.GroupVersionResource
	for _, gvr := range d.all {
		if !slices.Contains(d.resources, gvr) {
			clusterScoped = append(clusterScoped, gvr)
		}
	}
	err = errors.Join(
		d.listAll(d.resources, metav1.ListOptions{}, add),
		d.listAll(clusterScoped, metav1.ListOptions{LabelSelector: ownership.ManagedByLabel + "=" + ownership.ManagedByValue}, add))
	return out, labelled, err
}

// belongsToOther reports whether an object of the gateway namespace is one
// secure made, or cert-manager wrote, for one of the namespaces others.
func belongsToOther(u *unstructured.Unstructured, others []string) bool {
	for _, o := range others {
		if u.GetLabels()[ownership.AppNamespaceLabel] == o || strings.HasPrefix(u.GetName(), "opea-"+o+"-") {
			return true
		}
	}
	return false
}

// normaliseForDump keeps what a dump compares.
func normaliseForDump(u *unstructured.Unstructured) map[string]interface{} {
	obj := map[string]interface{}{"kind": u.GetKind()}
	for k, v := range u.Object {
		switch k {
		case "metadata", "status", "apiVersion", "kind":
			continue
		}
		obj[k] = v
	}
	meta := map[string]interface{}{"name": u.GetName(), "namespace": u.GetNamespace()}
	if l := u.GetLabels(); len(l) > 0 {
		meta["labels"] = l
	}
	if a := u.GetAnnotations(); len(a) > 0 {
		meta["annotations"] = a
	}
	if f := u.GetFinalizers(); len(f) > 0 {
		meta["finalizers"] = f
	}
	var owners []string
	for _, o := range u.GetOwnerReferences() {
		owners = append(owners, o.Kind+"/"+o.Name)
	}
	if len(owners) > 0 {
		meta["ownerReferences"] = owners
	}
	obj["metadata"] = meta
	if u.GetKind() == "Secret" && u.GetAnnotations()["cert-manager.io/certificate-name"] != "" {
		keys := map[string]interface{}{}
		data, _ := obj["data"].(map[string]interface{})
		for k := range data {
			keys[k] = "(issued)"
		}
		obj["data"] = keys
	}
	return obj
}

// keys lists the dump's objects, sorted.
func (s stateDump) keys() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// missingFrom lists the objects of s that other lacks.
func (s stateDump) missingFrom(other stateDump) []string {
	var out []string
	for _, k := range s.keys() {
		if _, ok := other[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// settleIssuance waits for cert-manager to issue what secure asked for appNs:
// until then its controllers write the status of secure's Certificates and
// Issuers, and the Secrets appear.
func settleIssuance(t testing.TB, appNs string) {
	t.Helper()
	if err := waitSecureIssuance(context.Background(), adminKube(t), adminDynamic(t), appNs); err != nil {
		t.Fatal(err)
	}
}

// waitSecureIssuance waits for cert-manager's controllers to issue the two
// Certificates secure makes for appNs: the CA's and the gateway's.
func waitSecureIssuance(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, appNs string) error {
	names := ownership.NamesFor(appNs)
	for _, cert := range []string{names.CACertificate, names.Certificate} {
		if _, err := fixtures.WaitCertificateIssued(ctx, kube, dyn, gatewayNamespace, cert); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfigWithToken writes the admin's kubeconfig with another
// bearer token: one the API server rejects (401).
func writeKubeconfigWithToken(t testing.TB, path, token string) string {
	t.Helper()
	if err := cluster.WriteKubeconfig(path, controlplane.AdminUser); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range cfg.AuthInfos {
		user.Token = token
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
