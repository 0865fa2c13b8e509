package plugin

import (
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/opea-project/kubectl-opea/pkg/clients"
)

// ContextClients hands the clients of one kube context of the
// kubeconfig(s) the flags name, with every other kubeconfig flag as given;
// each request of theirs ends within timeout.
type ContextClients func(name string, timeout time.Duration) clients.Getter

// contextClients builds ContextClients from the root command's kubeconfig
// flags and the way it turns flags into clients.
func contextClients(root *genericclioptions.ConfigFlags, newClients ClientsFunc) ContextClients {
	return func(name string, timeout time.Duration) clients.Getter {
		return newClients(withContext(root, name, timeout))
	}
}

// withContext is a copy of f that names context name: the same
// kubeconfig(s), the same -n, --as and other flags, and their
// WrapConfigFn, whose request timeout is bounded by timeout. Each context
// gets its own copy, so that its discovery and REST mapper are its own.
func withContext(f *genericclioptions.ConfigFlags, name string, timeout time.Duration) *genericclioptions.ConfigFlags {
	out := genericclioptions.NewConfigFlags(true)
	out.CacheDir, out.KubeConfig = f.CacheDir, f.KubeConfig
	out.ClusterName, out.AuthInfoName = f.ClusterName, f.AuthInfoName
	out.Context = &name
	out.Namespace, out.APIServer, out.TLSServerName, out.Insecure = f.Namespace, f.APIServer, f.TLSServerName, f.Insecure
	out.CertFile, out.KeyFile, out.CAFile, out.BearerToken = f.CertFile, f.KeyFile, f.CAFile, f.BearerToken
	out.Impersonate, out.ImpersonateUID, out.ImpersonateGroup, out.ImpersonateUserExtra = f.Impersonate, f.ImpersonateUID, f.ImpersonateGroup, f.ImpersonateUserExtra
	out.Username, out.Password, out.Timeout = f.Username, f.Password, f.Timeout
	out.DisableCompression, out.ProxyURL = f.DisableCompression, f.ProxyURL
	wrap := f.WrapConfigFn
	out.WrapConfigFn = func(cfg *rest.Config) *rest.Config {
		if wrap != nil {
			cfg = wrap(cfg)
		}
		if cfg.Timeout == 0 || cfg.Timeout > timeout {
			cfg.Timeout = timeout
		}
		return cfg
	}
	return out
}
