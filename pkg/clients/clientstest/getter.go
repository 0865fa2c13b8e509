package clientstest

import (
	"errors"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/opea-project/kubectl-opea/pkg/clients"
)

// Getter hands out the cluster's clients, as clients.New does a real
// cluster's. flags, typically the root command's ConfigFlags, still answer
// the kubeconfig questions (the namespace of -n or of the context); nil
// stands for an empty kubeconfig. Discovery is the cluster's, cached as
// kubectl's flags cache it, and the REST mapper reads it.
//
// Its signature is plugin.ClientsFunc's: pass c.Getter to a command.
func (c *Cluster) Getter(flags genericclioptions.RESTClientGetter) clients.Getter {
	if flags == nil {
		flags = emptyKubeconfig{}
	}
	return &getter{RESTClientGetter: flags, c: c}
}

type getter struct {
	genericclioptions.RESTClientGetter
	c *Cluster
}

func (g *getter) Kubernetes() (clients.Kube, error) {
	if g.c.Kube == nil {
		return nil, errors.New("no Kubernetes client in the fake cluster")
	}
	return g.c.Kube, nil
}

func (g *getter) Dynamic() (dynamic.Interface, error) {
	if g.c.Dynamic == nil {
		return nil, errors.New("no dynamic client in the fake cluster")
	}
	return g.c.Dynamic, nil
}

func (g *getter) Metadata() (metadata.Interface, error) {
	if g.c.Metadata == nil {
		return nil, errors.New("no metadata client in the fake cluster")
	}
	return g.c.Metadata, nil
}

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return cachedDiscovery{g.c.Discovery()}, nil
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	return restmapper.NewDeferredDiscoveryRESTMapper(cachedDiscovery{g.c.Discovery()}), nil
}

// cachedDiscovery is the fake discovery client as kubectl's flags hand it
// out, cached; it is always fresh, as it reads the fake's list each time.
type cachedDiscovery struct{ *fakediscovery.FakeDiscovery }

func (cachedDiscovery) Fresh() bool { return true }
func (cachedDiscovery) Invalidate() {}

// emptyKubeconfig is a kubeconfig that names nothing: namespace "default",
// no REST config.
type emptyKubeconfig struct{}

func (emptyKubeconfig) loader() clientcmd.ClientConfig {
	overrides := &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: "default"}}
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), overrides)
}

func (e emptyKubeconfig) ToRESTConfig() (*rest.Config, error) { return e.loader().ClientConfig() }
func (e emptyKubeconfig) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return e.loader()
}
func (emptyKubeconfig) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return nil, errors.New("an empty kubeconfig names no cluster")
}
func (emptyKubeconfig) ToRESTMapper() (meta.RESTMapper, error) {
	return nil, errors.New("an empty kubeconfig names no cluster")
}
