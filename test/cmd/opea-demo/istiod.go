package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// istiodView prints what the running istiod renders for the demo's host:
// the ingress gateway's HTTPS filter chain, credential and route, the port
// 80 redirect, and the STRICT policy it sends ztunnel for the app's pods.
// With want false it waits until istiod renders none of it. istiod applies
// a change within moments; the wait is bounded.
func istiodView(ctx context.Context, cp *controlplane.ControlPlane, kube kubernetes.Interface, want bool) error {
	layout := fixtures.ChartGateway
	proxy, err := layout.Proxy(ctx, kube)
	if err != nil {
		return err
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		lines, served, gone, err := describeIstiod(ctx, cp, proxy, layout)
		if err != nil {
			return err
		}
		if (want && served) || (!want && gone) {
			fmt.Println(strings.Join(lines, "\n"))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("istiod did not converge in 30s:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describeIstiod says what istiod renders for host: whether it serves all
// of it, and whether none of it is left.
func describeIstiod(ctx context.Context, cp *controlplane.ControlPlane, proxy xds.Proxy, layout fixtures.GatewayLayout) (lines []string, served, gone bool, err error) {
	cfg, err := xds.Gateway(ctx, cp.Istio.XDS, proxy)
	if err != nil {
		return nil, false, false, err
	}
	ambient, err := xds.Ambient(ctx, cp.Istio.Debug)
	if err != nil {
		return nil, false, false, err
	}
	secrets := cfg.SecretFor(layout.HTTPSTarget, host)
	cluster := cfg.ClusterOn(layout.HTTPSTarget, host)
	redirect := cfg.RedirectsToHTTPS(layout.HTTPTarget, host)
	strict := ambient.StrictPolicies(appNamespace)
	if len(secrets) > 0 {
		lines = append(lines, fmt.Sprintf("istiod -> gateway %s: port %d, SNI %s, certificate %s, routed to %s",
			proxy.Namespace, layout.HTTPSTarget, host, strings.Join(secrets, ","), cluster))
	} else {
		lines = append(lines, fmt.Sprintf("istiod -> gateway %s: nothing for %s on port %d", proxy.Namespace, host, layout.HTTPSTarget))
	}
	if redirect {
		lines = append(lines, fmt.Sprintf("istiod -> gateway %s: port %d redirects %s to HTTPS", proxy.Namespace, layout.HTTPTarget, host))
	}
	if len(strict) > 0 {
		lines = append(lines, fmt.Sprintf("istiod -> ztunnel: every pod of %s under %s (STRICT mTLS)", appNamespace, strings.Join(strict, ",")))
	} else {
		lines = append(lines, fmt.Sprintf("istiod -> ztunnel: no STRICT policy on the pods of %s", appNamespace))
	}
	served = len(secrets) > 0 && cluster != "" && redirect && len(strict) > 0
	gone = len(secrets) == 0 && cluster == "" && !redirect && len(strict) == 0
	return lines, served, gone, nil
}
