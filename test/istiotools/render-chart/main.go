// Command render-chart renders one of the Helm charts embedded in Istio
// (istio.io/istio/manifests) with Istio's own renderer, the one istioctl
// uses, and prints the manifests as one YAML stream. istioctl renders only
// the components of an IstioOperator; this renders the charts users install
// with helm directly, such as the `gateway` chart OPEA's guide uses:
//
//	render-chart -chart gateway -release istio-ingress -namespace istio-ingress
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"istio.io/istio/operator/pkg/helm"
	"istio.io/istio/operator/pkg/values"
)

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	chart := flag.String("chart", "", "chart folder under manifests/charts, e.g. gateway")
	release := flag.String("release", "", "Helm release name")
	namespace := flag.String("namespace", "", "release namespace")
	var sets setFlags
	flag.Var(&sets, "set", "a chart value, path=value (repeatable)")
	flag.Parse()
	if *chart == "" || *release == "" || *namespace == "" {
		fmt.Fprintln(os.Stderr, "usage: render-chart -chart NAME -release NAME -namespace NS [-set path=value ...]")
		os.Exit(2)
	}
	vals := values.Map{}
	paths := []string{}
	for _, s := range sets {
		paths = append(paths, "spec.values."+s)
	}
	if err := vals.SetPaths(paths...); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	manifests, _, err := helm.Render(*release, *namespace, *chart, vals, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	for _, m := range manifests {
		fmt.Printf("---\n%s\n", strings.TrimSpace(m.Content))
	}
}
