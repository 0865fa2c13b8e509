package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// The CRDs installed come straight from Go modules. Istio's version is the
// one the project's go.mod selects for istio.io/api (through
// istio.io/client-go); the other two are pinned here.
const (
	GatewayAPIModule  = "sigs.k8s.io/gateway-api@v1.6.3"
	CertManagerModule = "github.com/cert-manager/cert-manager@v1.21.2"
)

// crdSource is one file or folder of CRD manifests inside a module.
type crdSource struct {
	module string // module path, with @version unless the project go.mod selects it
	paths  []string
}

var crdSources = []crdSource{
	{module: "istio.io/api", paths: []string{"kubernetes/customresourcedefinitions.gen.yaml"}},
	{module: GatewayAPIModule, paths: []string{"config/crd/standard"}},
	{module: CertManagerModule, paths: []string{"deploy/crds"}},
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// moduleDir returns the module cache folder of module, downloading it through
// the Go module proxy if needed. It runs in the repository root so that a
// module named without a version resolves to the project's go.mod.
func moduleDir(ctx context.Context, module string) (string, error) {
	return moduleDirIn(ctx, RepoRoot(), module)
}

// moduleDirIn is moduleDir for the go.mod of the folder dir: a module named
// without a version resolves to the version that go.mod selects.
func moduleDirIn(ctx context.Context, dir, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", module, err, strings.TrimSpace(stderr.String()))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", module, info.Error)
	}
	return info.Dir, nil
}

// LoadCRDs reads every CustomResourceDefinition of the Istio, Gateway API and
// cert-manager modules. Other kinds in those files (a Gateway API
// ValidatingAdmissionPolicy, for one) are skipped.
func LoadCRDs(ctx context.Context) ([]*unstructured.Unstructured, error) {
	var crds []*unstructured.Unstructured
	for _, src := range crdSources {
		dir, err := moduleDir(ctx, src.module)
		if err != nil {
			return nil, err
		}
		for _, p := range src.paths {
			files, err := yamlFiles(filepath.Join(dir, p))
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				objs, err := readCRDFile(f)
				if err != nil {
					return nil, err
				}
				crds = append(crds, objs...)
			}
		}
	}
	return crds, nil
}

func yamlFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	return filepath.Glob(filepath.Join(path, "*.yaml"))
}

func readCRDFile(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := DecodeManifests(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			out = append(out, o)
		}
	}
	return out, nil
}

// InstallCRDs applies crds with server-side apply and waits until every one
// is Established and its resources are listed by discovery, so a client can
// use them as soon as this returns.
func InstallCRDs(ctx context.Context, cfg *rest.Config, crds []*unstructured.Unstructured) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client := dyn.Resource(crdGVR)
	for _, crd := range crds {
		if _, err := client.Apply(ctx, crd.GetName(), crd, metav1.ApplyOptions{FieldManager: "opea-local-control-plane", Force: true}); err != nil {
			return fmt.Errorf("applying CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, client, crd.GetName()); err != nil {
			return err
		}
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	return waitServed(ctx, disco, crds)
}

func waitEstablished(ctx context.Context, client dynamic.NamespaceableResourceInterface, name string) error {
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		crd, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			cond, _ := c.(map[string]interface{})
			if cond["type"] == "Established" && cond["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	}, "CRD "+name+" to be Established")
}

// waitServed waits until discovery lists each CRD's plural under every served
// version.
func waitServed(ctx context.Context, disco discovery.DiscoveryInterface, crds []*unstructured.Unstructured) error {
	want := map[string][]string{} // group/version -> plurals
	for _, crd := range crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			version, _ := v.(map[string]interface{})
			if served, _ := version["served"].(bool); served {
				gv := group + "/" + fmt.Sprint(version["name"])
				want[gv] = append(want[gv], plural)
			}
		}
	}
	for gv, plurals := range want {
		err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
			list, err := disco.ServerResourcesForGroupVersion(gv)
			if err != nil {
				return false, nil // not yet in discovery
			}
			have := map[string]bool{}
			for _, r := range list.APIResources {
				have[r.Name] = true
			}
			for _, p := range plurals {
				if !have[p] {
					return false, nil
				}
			}
			return true, nil
		}, gv+" to be served")
		if err != nil {
			return err
		}
	}
	return nil
}

// poll calls done every interval until it reports true, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, done func() (bool, error), what string) error {
	for {
		ok, err := done()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}
