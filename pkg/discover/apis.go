package discover

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/discover/served"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// APIs records which versions of the APIs kubectl-opea writes are served:
// served.APIs, in a package of its own that needs no client, so that what
// is judged of a cluster can name it without the means to ask.
type APIs = served.APIs

// apiNeed is one API kubectl-opea uses.
type apiNeed struct {
	group     string
	versions  []string
	resources []string
	set       func(*APIs, string)
}

// apiNeeds lists, per group, the versions tried in order of preference and the
// resources that must all be served in the chosen version.
var apiNeeds = []apiNeed{
	{"networking.istio.io", []string{"v1", "v1beta1"}, []string{"gateways", "virtualservices"}, func(a *APIs, v string) { a.Networking = v }},
	{"security.istio.io", []string{"v1", "v1beta1"}, []string{"peerauthentications"}, func(a *APIs, v string) { a.Security = v }},
	{"security.istio.io", []string{"v1", "v1beta1"}, []string{"authorizationpolicies"}, func(a *APIs, v string) { a.AuthorizationPolicies = v }},
	{"security.istio.io", []string{"v1", "v1beta1"}, []string{"requestauthentications"}, func(a *APIs, v string) { a.RequestAuthentications = v }},
	{certmanager.Group, []string{certmanager.Version}, []string{"issuers", "certificates"}, func(a *APIs, v string) { a.CertManager = v }},
	{gatewayapi.Group, gatewayapi.Versions, []string{"gatewayclasses", "gateways", "httproutes"}, func(a *APIs, v string) { a.GatewayAPI = v }},
}

// ServedAPIs asks discovery (one aggregated request on current servers)
// which versions of the Istio, cert-manager and Gateway APIs are served.
func ServedAPIs(disco discovery.DiscoveryInterface) (APIs, error) {
	_, lists, err := disco.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return APIs{}, fmt.Errorf("reading the served APIs: %w", err)
	}
	// A group whose discovery failed may be served all the same: taking it
	// for absent would pass every check that its objects do not exist.
	if failed := failedNeededGroups(err); len(failed) > 0 {
		return APIs{}, fmt.Errorf("could not check which versions of %s the API server serves: %w", strings.Join(failed, ", "), err)
	}
	served := map[schema.GroupVersion]map[string]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		served[gv] = map[string]bool{}
		for _, r := range l.APIResources {
			served[gv][r.Name] = true
		}
	}
	var apis APIs
	for _, need := range apiNeeds {
	versions:
		for _, v := range need.versions {
			resources := served[schema.GroupVersion{Group: need.group, Version: v}]
			for _, r := range need.resources {
				if !resources[r] {
					continue versions
				}
			}
			need.set(&apis, v)
			break
		}
	}
	return apis, nil
}

// failedNeededGroups are the groups of apiNeeds whose discovery failed, as
// err (from ServerGroupsAndResources) reports them, sorted.
func failedNeededGroups(err error) []string {
	var failed *discovery.ErrGroupDiscoveryFailed
	if !errors.As(err, &failed) {
		return nil
	}
	var out []string
	for gv := range failed.Groups {
		needed := slices.ContainsFunc(apiNeeds, func(n apiNeed) bool { return n.group == gv.Group })
		if needed && !slices.Contains(out, gv.Group) {
			out = append(out, gv.Group)
		}
	}
	sort.Strings(out)
	return out
}
