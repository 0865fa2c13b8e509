package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// The mesh side is read from istiod's debug endpoint /debug/ambientz on its
// --httpAddr port (pilot/pkg/xds/debug.go). It returns, as JSON, exactly the
// objects istiod sends ztunnel over the workload and authorization xDS
// types (istio.workload.Address and istio.security.Authorization): the
// Workload protos, the Service protos and the Authorization policies, in
// protobuf JSON (camelCase field names). Decoding that JSON avoids a
// dependency on istio.io/istio/pkg/workloadapi and a delta-xDS client, and
// needs no identity: the debug endpoints answer any client on localhost.
//
// How a PeerAuthentication shows there (pilot/pkg/serviceregistry/ambient,
// authorization.go and policies.go):
//   - as soon as any PeerAuthentication exists, istiod adds one static DENY
//     policy "istio_converted_static_strict" in the root namespace (usually
//     istio-system) that denies requests without a peer principal;
//   - each workload lists, in authorizationPolicies, the keys
//     "<namespace>/<name>" of the policies that apply to it. A workload whose
//     effective mode (mesh, then namespace, then selector PeerAuthentication)
//     is STRICT gets "<root>/istio_converted_static_strict"; a selector
//     PeerAuthentication with port-level exceptions instead gets its own
//     converted policy "<namespace>/converted_peer_authentication_<name>".

// Policy names istiod gives the authorization policies it converts from
// PeerAuthentications.
const (
	StaticStrictPolicy       = "istio_converted_static_strict"
	ConvertedPeerAuthnPrefix = "converted_peer_authentication_"
)

const (
	ambientzPath        = "/debug/ambientz"
	tunnelProtocolHBONE = "HBONE"
	// maxDebugBytes bounds what we read from a debug endpoint.
	maxDebugBytes = 64 << 20
)

// AmbientState is istiod's ambient index, as ztunnel would receive it.
type AmbientState struct {
	Workloads []Workload `json:"workloads"`
	// Policies are read as ZtunnelView reads them.
	Policies []ZPolicy `json:"policies"`
}

// Workload is one workload (a pod, a WorkloadEntry, ...).
type Workload struct {
	UID            string `json:"uid"`
	Name           string `json:"name"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	// TunnelProtocol is "HBONE" for a pod ztunnel captures (namespace
	// labelled istio.io/dataplane-mode=ambient and the pod annotated
	// ambient.istio.io/redirection=enabled by the CNI), "" (NONE) otherwise.
	TunnelProtocol string `json:"tunnelProtocol"`
	// AuthorizationPolicies are "<namespace>/<name>" keys of the policies
	// in Policies that apply to this workload.
	AuthorizationPolicies []string `json:"authorizationPolicies"`
}

// Ambient reports whether ztunnel would capture the workload.
func (w Workload) Ambient() bool { return w.TunnelProtocol == tunnelProtocolHBONE }

// Ambient fetches istiod's ambient index from its debug HTTP address
// (pilot-discovery --httpAddr, host:port).
func Ambient(ctx context.Context, debugAddr string) (*AmbientState, error) {
	var st AmbientState
	if err := fetchAmbientz(ctx, debugAddr, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// fetchAmbientz reads istiod's /debug/ambientz on its debug address into v.
func fetchAmbientz(ctx context.Context, debugAddr string, v any) error {
	url := "http://" + debugAddr + ambientzPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDebugBytes))
	if err != nil {
		return fmt.Errorf("xds: reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("xds: GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("xds: decoding %s: %w", url, err)
	}
	return nil
}

// WorkloadsIn returns the workloads of namespace.
func (s *AmbientState) WorkloadsIn(namespace string) []Workload {
	var out []Workload
	for _, w := range s.Workloads {
		if w.Namespace == namespace {
			out = append(out, w)
		}
	}
	return out
}

// Policy returns the policy with key "<namespace>/<name>", or nil.
func (s *AmbientState) Policy(key string) *ZPolicy {
	for i := range s.Policies {
		if s.Policies[i].Key() == key {
			return &s.Policies[i]
		}
	}
	return nil
}

// IsPeerAuthnPolicy tells whether key names a policy istiod converted from
// a PeerAuthentication.
func IsPeerAuthnPolicy(key string) bool {
	name := key[strings.LastIndex(key, "/")+1:]
	return name == StaticStrictPolicy || strings.HasPrefix(name, ConvertedPeerAuthnPrefix)
}

// StrictPolicies returns, sorted, the keys ("<namespace>/<name>") of the
// PeerAuthentication-derived policies that apply to every workload of
// namespace and that istiod actually sends, e.g.
// ["istio-system/istio_converted_static_strict"] under a STRICT namespace
// (or mesh) PeerAuthentication. A policy on some workloads only does not
// count: the namespace is not protected as a whole. nil when the namespace
// has no workloads (istiod only lists pods that have an IP) or none is
// covered.
func StrictPolicies(ctx context.Context, debugAddr, namespace string) ([]string, error) {
	st, err := Ambient(ctx, debugAddr)
	if err != nil {
		return nil, err
	}
	return st.StrictPolicies(namespace), nil
}

// StrictPolicies is the StrictPolicies function on a fetched state.
func (s *AmbientState) StrictPolicies(namespace string) []string {
	workloads := s.WorkloadsIn(namespace)
	if len(workloads) == 0 {
		return nil
	}
	count := map[string]int{}
	for _, w := range workloads {
		seen := map[string]bool{}
		for _, key := range w.AuthorizationPolicies {
			if IsPeerAuthnPolicy(key) && !seen[key] && s.Policy(key) != nil {
				seen[key] = true
				count[key]++
			}
		}
	}
	var out []string
	for key, n := range count {
		if n == len(workloads) {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}
