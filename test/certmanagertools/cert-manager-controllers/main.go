// Command cert-manager-controllers runs cert-manager's own controllers, the
// ones that issue and renew certificates from a self-signed or CA issuer,
// against one API server. cert-manager's controller binary lives in a Go
// module of its own that the module proxy does not serve; its controllers are
// packages of github.com/cert-manager/cert-manager, and this wires them the
// way that binary does (cmd/controller/app), leaving out ACME, Vault, Venafi,
// the ingress and Gateway shims, leader election and the metrics server:
//
//	cert-manager-controllers -kubeconfig admin.kubeconfig -cluster-resource-namespace cert-manager
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// The issuer types the issuers and clusterissuers controllers can check:
	// each registers itself with cert-manager's issuer factory.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// controllers are the ones run, by the names cert-manager registers them
// under (its --controllers flag takes the same names).
var controllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	trigger.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	issuing.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	approver.ControllerName,
	crselfsigned.CRControllerName,
	crca.CRControllerName,
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server to run against")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager", "where the Secrets ClusterIssuers refer to live")
	workers := flag.Int("workers", 5, "workers per controller")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "usage: cert-manager-controllers -kubeconfig FILE [-cluster-resource-namespace NS]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *kubeconfig, *clusterResourceNamespace, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, clusterResourceNamespace string, workers int) error {
	ctx = logf.NewContext(ctx, logf.Log)
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: clusterResourceNamespace},
		CertificateOptions: controller.CertificateOptions{
			// cert-manager's defaults wait an hour after a failed
			// CertificateRequest, doubling up to 32 hours. The local
			// control plane's fault tests cut connections on purpose, and
			// a request failed by one would then hold the certificate far
			// beyond any test: here the same doubling starts at a second.
			CertificateRequestMinimumBackoffDuration: time.Second,
			CertificateRequestMaximumBackoffDuration: 30 * time.Second,
		},
	})
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	var running []controller.Interface
	for _, name := range controllers {
		construct, ok := controller.Known()[name]
		if !ok {
			return fmt.Errorf("cert-manager registers no controller %q", name)
		}
		c, err := construct(factory)
		if err != nil {
			return fmt.Errorf("setting up controller %s: %w", name, err)
		}
		running = append(running, c)
	}
	// The controllers registered their informers above; start them all once.
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())

	errs := make(chan error, len(running))
	var wg sync.WaitGroup
	for i, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(workers, ctx); err != nil {
				errs <- fmt.Errorf("controller %s: %w", controllers[i], err)
			}
		}()
	}
	klog.Infof("running cert-manager controllers %v", controllers)
	wg.Wait()
	close(errs)
	return <-errs
}
