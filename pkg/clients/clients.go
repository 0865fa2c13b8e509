// Package clients turns the standard kubeconfig flags into the API clients
// that kubectl-opea's commands use. Commands depend on the Getter interface
// only, so a test can hand them fake clientsets or clients for a real API
// server.
package clients

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Getter hands a command every client it may need. Istio's objects are
// read with the dynamic client into the model of package istio: its typed
// clientset would be most of the binary for the few fields the checks read. It extends
// genericclioptions.RESTClientGetter, which already provides the REST config,
// the discovery client, the REST mapper and the kubeconfig loader (for the
// namespace named by -n or the current context).
type Getter interface {
	genericclioptions.RESTClientGetter
	Kubernetes() (Kube, error)
	Dynamic() (dynamic.Interface, error)
	// Metadata lists objects as metadata only: labels and annotations of
	// many pods without their specs.
	Metadata() (metadata.Interface, error)
}

// KubeconfigProblem explains an error reading the kubeconfig: a missing
// file, an unknown context, cluster or user.
func KubeconfigProblem(err error) error {
	return &ClusterError{What: "reading the kubeconfig: " + err.Error(),
		Fix: "check --kubeconfig (or $KUBECONFIG) names an existing file and --context, --cluster and --user exist in it: kubectl config get-contexts", Err: err}
}

// namesAServer refuses a kubeconfig that names no API server: client-go
// would then try http://localhost:8080, and the user read of a cluster that
// cannot be reached rather than of a kubeconfig file that does not exist.
func namesAServer(loader clientcmd.ClientConfig, cfg *rest.Config) error {
	if cfg.Host != clientcmd.ClusterDefaults.Server {
		return nil
	}
	if raw, err := loader.RawConfig(); err == nil && len(raw.Clusters) > 0 {
		return nil // a kubeconfig may name that address itself
	}
	var missing, empty []string
	for _, file := range loader.ConfigAccess().GetLoadingPrecedence() {
		if _, err := os.Stat(file); err != nil {
			missing = append(missing, file)
		} else {
			empty = append(empty, file)
		}
	}
	what := "no kubeconfig found"
	switch {
	case len(empty) > 0 && len(missing) > 0:
		what = "no kubeconfig: " + exist(missing, "does not exist", "do not exist") + " and " + exist(empty, "names no cluster", "name no cluster")
	case len(missing) > 0:
		what = "no kubeconfig: " + exist(missing, "does not exist", "do not exist")
	case len(empty) > 0:
		what = "no cluster in the kubeconfig: " + exist(empty, "names no cluster", "name no cluster")
	}
	return &ClusterError{What: what, Fix: "pass --kubeconfig with the path of your cluster's kubeconfig (or set KUBECONFIG), or --server"}
}

// exist joins files with the verb that fits their number.
func exist(files []string, one, several string) string {
	if len(files) == 1 {
		return files[0] + " " + one
	}
	return strings.Join(files, ", ") + " " + several
}

// New returns a Getter that builds its clients lazily from the REST config of
// g, typically the root command's *genericclioptions.ConfigFlags. Building is
// lazy so that `--help`, `version` and flag errors never read a kubeconfig.
func New(g genericclioptions.RESTClientGetter) Getter {
	return &lazyGetter{RESTClientGetter: g}
}

type lazyGetter struct {
	genericclioptions.RESTClientGetter

	once     sync.Once
	err      error
	kube     Kube
	dynamic  dynamic.Interface
	metadata metadata.Interface
}

func (g *lazyGetter) build() error {
	g.once.Do(func() {
		var cfg *rest.Config
		cfg, g.err = g.ToRESTConfig()
		if g.err != nil {
			g.err = KubeconfigProblem(g.err)
			return
		}
		if g.err = namesAServer(g.ToRawKubeConfigLoader(), cfg); g.err != nil {
			return
		}
		if g.kube, g.err = NewKube(cfg); g.err != nil {
			g.err = fmt.Errorf("building the Kubernetes client: %w", g.err)
			return
		}
		if g.dynamic, g.err = dynamic.NewForConfig(cfg); g.err != nil {
			g.err = fmt.Errorf("building the dynamic client: %w", g.err)
			return
		}
		if g.metadata, g.err = metadata.NewForConfig(cfg); g.err != nil {
			g.err = fmt.Errorf("building the metadata client: %w", g.err)
		}
	})
	return g.err
}

func (g *lazyGetter) Kubernetes() (Kube, error) {
	if err := g.build(); err != nil {
		return nil, err
	}
	return g.kube, nil
}

func (g *lazyGetter) Dynamic() (dynamic.Interface, error) {
	if err := g.build(); err != nil {
		return nil, err
	}
	return g.dynamic, nil
}

func (g *lazyGetter) Metadata() (metadata.Interface, error) {
	if err := g.build(); err != nil {
		return nil, err
	}
	return g.metadata, nil
}

// Fixed is a Getter whose clients are supplied rather than built. Tests use it
// to run a command against fake clientsets; the embedded RESTClientGetter
// still answers namespace and kubeconfig questions. New tests use
// clientstest.Cluster.Getter, its replacement out of production code; Fixed
// goes once verify's command tests use that too.
type Fixed struct {
	genericclioptions.RESTClientGetter
	KubernetesClient Kube
	DynamicClient    dynamic.Interface
	MetadataClient   metadata.Interface
}

func (f *Fixed) Kubernetes() (Kube, error) {
	if f.KubernetesClient == nil {
		return nil, fmt.Errorf("no Kubernetes client configured")
	}
	return f.KubernetesClient, nil
}

func (f *Fixed) Dynamic() (dynamic.Interface, error) {
	if f.DynamicClient == nil {
		return nil, fmt.Errorf("no dynamic client configured")
	}
	return f.DynamicClient, nil
}

func (f *Fixed) Metadata() (metadata.Interface, error) {
	if f.MetadataClient == nil {
		return nil, fmt.Errorf("no metadata client configured")
	}
	return f.MetadataClient, nil
}
