package istio

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// created sets when p was created, hours after a fixed time.
func created(p PeerAuthentication, hours int) PeerAuthentication {
	p.CreationTimestamp = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(hours) * time.Hour)
	return p
}

func pa(ns, name, mode string, selector map[string]string, ports map[string]string) PeerAuthentication {
	p := PeerAuthentication{Namespace: ns, Name: name}
	if mode != "" {
		p.MTLS = &MTLS{Mode: mode}
	}
	if selector != nil {
		p.Selector = &WorkloadSelector{MatchLabels: selector}
	}
	if ports != nil {
		p.PortLevelMTLS = map[string]MTLS{}
		for port, m := range ports {
			p.PortLevelMTLS[port] = MTLS{Mode: m}
		}
	}
	return p
}

func TestEffectiveMode(t *testing.T) {
	app := map[string]string{"app": "chatqna"}
	for _, tc := range []struct {
		name       string
		pas        []PeerAuthentication
		wantMode   string
		wantSource string
	}{
		{"nothing: Istio's default", nil, "PERMISSIVE", ""},
		{"mesh policy", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil)}, "STRICT", "istio-system/default"},
		{"namespace overrides mesh", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil), pa("chatqna", "default", "PERMISSIVE", nil, nil)}, "PERMISSIVE", "chatqna/default"},
		{"workload overrides namespace", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), pa("chatqna", "w", "PERMISSIVE", app, nil)}, "PERMISSIVE", "chatqna/w"},
		{"workload policy for other pods", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), pa("chatqna", "w", "PERMISSIVE", map[string]string{"app": "ui"}, nil)}, "STRICT", "chatqna/default"},
		{"unset mode inherits", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), pa("chatqna", "w", "", app, nil)}, "STRICT", "chatqna/default"},
		{"other namespace's policy", []PeerAuthentication{pa("codetrans", "default", "STRICT", nil, nil)}, "PERMISSIVE", ""},
		{"root-namespace selector policy ignored", []PeerAuthentication{pa("istio-system", "w", "STRICT", app, nil)}, "PERMISSIVE", ""},
		// Competing policies at one level: istiod takes the oldest, not
		// the first by name (getOldestPeerAuthn, convertedSelectorPeerAuthentications).
		{"oldest namespace policy wins", []PeerAuthentication{created(pa("chatqna", "default", "STRICT", nil, nil), 5), created(pa("chatqna", "zz-legacy", "PERMISSIVE", nil, nil), 1)}, "PERMISSIVE", "chatqna/zz-legacy"},
		{"oldest workload policy wins", []PeerAuthentication{created(pa("chatqna", "a", "PERMISSIVE", app, nil), 2), created(pa("chatqna", "b", "STRICT", app, nil), 1)}, "STRICT", "chatqna/b"},
		{"oldest mesh policy wins", []PeerAuthentication{created(pa("istio-system", "a", "PERMISSIVE", nil, nil), 2), created(pa("istio-system", "b", "STRICT", nil, nil), 1)}, "STRICT", "istio-system/b"},
		{"same second: by name", []PeerAuthentication{created(pa("chatqna", "b", "PERMISSIVE", nil, nil), 1), created(pa("chatqna", "a", "STRICT", nil, nil), 1)}, "STRICT", "chatqna/a"},
		// DISABLE is not ignored: it is not STRICT, so plaintext is accepted.
		{"DISABLE namespace policy overrides a STRICT mesh", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil), pa("chatqna", "default", "DISABLE", nil, nil)}, "DISABLE", "chatqna/default"},
		{"DISABLE workload policy", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), pa("chatqna", "w", "DISABLE", app, nil)}, "DISABLE", "chatqna/w"},
		{"UNSET mesh policy: PERMISSIVE", []PeerAuthentication{pa("istio-system", "default", "UNSET", nil, nil)}, "PERMISSIVE", ""},
		// A root-namespace policy is mesh-wide only without a selector
		// (fetchPeerAuthentications): "selector: {}" there applies to nothing.
		{"root-namespace selector: {} is not mesh-wide", []PeerAuthentication{pa("istio-system", "default", "STRICT", map[string]string{}, nil)}, "PERMISSIVE", ""},
		{"namespace selector: {} is namespace-wide", []PeerAuthentication{pa("chatqna", "default", "STRICT", map[string]string{}, nil)}, "STRICT", "chatqna/default"},
	} {
		got := EffectiveMode(tc.pas, "istio-system", "chatqna", app)
		if got.Mode != tc.wantMode || got.Source != tc.wantSource {
			t.Errorf("%s: got %s from %q, want %s from %q", tc.name, got.Mode, got.Source, tc.wantMode, tc.wantSource)
		}
	}
}

// Port-level exceptions take effect as istiod's ambient conversion makes them.
func TestEffectivePortExceptions(t *testing.T) {
	app := map[string]string{"app": "chatqna"}
	ns := pa("chatqna", "default", "STRICT", nil, nil)
	for _, tc := range []struct {
		name string
		pas  []PeerAuthentication
		want map[string]string
	}{
		{"STRICT workload, PERMISSIVE port", []PeerAuthentication{pa("chatqna", "w", "STRICT", app, map[string]string{"9090": "PERMISSIVE"})}, map[string]string{"9090": "PERMISSIVE"}},
		{"STRICT workload, DISABLE port", []PeerAuthentication{pa("chatqna", "w", "STRICT", app, map[string]string{"9090": "DISABLE"})}, map[string]string{"9090": "DISABLE"}},
		{"unset workload under STRICT namespace, PERMISSIVE port", []PeerAuthentication{ns, pa("chatqna", "w", "", app, map[string]string{"9090": "PERMISSIVE"})}, map[string]string{"9090": "PERMISSIVE"}},
		{"unset workload under STRICT namespace, only DISABLE ports: ignored", []PeerAuthentication{ns, pa("chatqna", "w", "", app, map[string]string{"9090": "DISABLE"})}, nil},
		{"unset workload, DISABLE beside PERMISSIVE", []PeerAuthentication{ns, pa("chatqna", "w", "", app, map[string]string{"9090": "DISABLE", "9091": "PERMISSIVE"})}, map[string]string{"9090": "DISABLE", "9091": "PERMISSIVE"}},
		{"STRICT ports only", []PeerAuthentication{pa("chatqna", "w", "STRICT", app, map[string]string{"9090": "STRICT"})}, nil},
	} {
		got := EffectiveMode(tc.pas, "istio-system", "chatqna", app)
		if diff := cmp.Diff(tc.want, got.PortModes); diff != "" {
			t.Errorf("%s: port exceptions (-want +got):\n%s", tc.name, diff)
		}
	}
}

// Where istiod's conversion for ztunnel departs from the modes, EffectiveMode
// follows the conversion: a workload policy with mode unset and a PERMISSIVE
// port makes istiod drop the STRICT policy, and its conversion yields no
// policy when it does not see a STRICT parent (a namespace policy with mode
// unset under a STRICT mesh, or a STRICT namespace policy written with
// "selector: {}"): the pod accepts plaintext on every port.
func TestEffectiveModeFollowsWhatIstiodAttaches(t *testing.T) {
	app := map[string]string{"app": "chatqna"}
	permissivePort := pa("chatqna", "w", "", app, map[string]string{"9090": "PERMISSIVE"})
	for _, tc := range []struct {
		name   string
		pas    []PeerAuthentication
		want   Effective
		noted  bool
		strict bool
	}{
		{"mesh STRICT, namespace unset, workload unset with a PERMISSIVE port", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil), pa("chatqna", "default", "", nil, nil), permissivePort},
			Effective{Mode: "PERMISSIVE", Source: "chatqna/w"}, true, false},
		{"namespace STRICT with selector: {}, workload unset with a PERMISSIVE port", []PeerAuthentication{pa("chatqna", "default", "STRICT", map[string]string{}, nil), permissivePort},
			Effective{Mode: "PERMISSIVE", Source: "chatqna/w"}, true, false},
		// The same exception under a parent the conversion sees as STRICT.
		{"mesh STRICT, no namespace policy", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil), permissivePort},
			Effective{Mode: "STRICT", Source: "istio-system/default", PortModes: map[string]string{"9090": "PERMISSIVE"}}, false, true},
		{"namespace STRICT", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil), permissivePort},
			Effective{Mode: "STRICT", Source: "chatqna/default", PortModes: map[string]string{"9090": "PERMISSIVE"}}, false, true},
	} {
		got := EffectiveMode(tc.pas, "istio-system", "chatqna", app)
		note := got.Note
		got.Note = ""
		if diff := cmp.Diff(tc.want, got); diff != "" || (note != "") != tc.noted {
			t.Errorf("%s: note %q, (-want +got):\n%s", tc.name, note, diff)
		}
		// What ztunnel is sent agrees.
		refused := plaintextRefused(ZtunnelPeerAuthentications(tc.pas, "istio-system", "chatqna", app), 80)
		if refused != tc.strict {
			t.Errorf("%s: ztunnel refuses plaintext on port 80: %v", tc.name, refused)
		}
	}
}

func TestResolveGatewayRef(t *testing.T) {
	for _, tc := range []struct{ ref, ns, name string }{
		{"opea-gateway", "chatqna", "opea-gateway"},
		{"istio-ingress/opea-gateway", "istio-ingress", "opea-gateway"},
		// As istiod's resolveGatewayName: "./name" and the legacy FQDN forms.
		{"./opea-gateway", "chatqna", "opea-gateway"},
		{"opea-gateway.istio-ingress.svc.cluster.local", "istio-ingress", "opea-gateway"},
		{"opea-gateway.istio-ingress", "istio-ingress", "opea-gateway"},
	} {
		ns, name, ok := ResolveGatewayRef("chatqna", tc.ref)
		if !ok || ns != tc.ns || name != tc.name {
			t.Errorf("ResolveGatewayRef(%q) = %s/%s %v, want %s/%s", tc.ref, ns, name, ok, tc.ns, tc.name)
		}
	}
	if _, _, ok := ResolveGatewayRef("chatqna", "mesh"); ok {
		t.Error("mesh resolved to a Gateway")
	}
}

func TestGatewayHostBinds(t *testing.T) {
	for _, tc := range []struct {
		gwHost, vsHost, vsNamespace string
		want                        bool
	}{
		{"chatqna.example.com", "chatqna.example.com", "chatqna", true},
		{"chatqna/chatqna.example.com", "chatqna.example.com", "chatqna", true},
		{"codetrans/chatqna.example.com", "chatqna.example.com", "chatqna", false},
		{"./chatqna.example.com", "chatqna.example.com", "gw-ns", true},
		{"./chatqna.example.com", "chatqna.example.com", "chatqna", false},
		{"*/chatqna.example.com", "chatqna.example.com", "chatqna", true},
		{"chatqna/*", "anything.example.com", "chatqna", true},
		{"*", "chatqna.example.com", "chatqna", true},
	} {
		if got := GatewayHostBinds(tc.gwHost, "gw-ns", tc.vsHost, tc.vsNamespace); got != tc.want {
			t.Errorf("GatewayHostBinds(%q, gw-ns, %q, %s) = %v", tc.gwHost, tc.vsHost, tc.vsNamespace, got)
		}
	}
}

func TestHostMatching(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"*", "chatqna.example.com", true},
		{"*.intel.com", "chatqna.intel.com", true},
		{"chatqna.intel.com", "*.intel.com", true},
		{"*.intel.com", "*.intel.com", true},
		{"*.intel.com", "intel.com", false},
		{"a.example.com", "b.example.com", false},
		{"chatqna/a.example.com", "A.example.com", true},
	} {
		if got := HostMatches(tc.a, tc.b); got != tc.want {
			t.Errorf("HostMatches(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCertificateCovers(t *testing.T) {
	for _, tc := range []struct {
		sans []string
		host string
		want bool
	}{
		{[]string{"chatqna.example.com"}, "chatqna.example.com", true},
		{[]string{"*.example.com"}, "chatqna.example.com", true},
		{[]string{"*.example.com"}, "a.b.example.com", false},
		{[]string{"*.example.com"}, "*.example.com", true},
		{[]string{"chatqna.example.com"}, "*.example.com", false},
		{[]string{"other.example.com"}, "chatqna.example.com", false},
	} {
		if got := CertificateCovers(tc.sans, nil, tc.host); got != tc.want {
			t.Errorf("CertificateCovers(%v, %q) = %v", tc.sans, tc.host, got)
		}
	}
}

func TestExampleHost(t *testing.T) {
	for host, want := range map[string]string{"*.intel.com": "chatqna.intel.com", "a.example.com": "a.example.com", "*": "*"} {
		if got := ExampleHost(host, "chatqna"); got != want {
			t.Errorf("ExampleHost(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestSidecarInjection(t *testing.T) {
	for _, tc := range []struct {
		labels     map[string]string
		key, value string
		on         bool
	}{
		{labels: map[string]string{"istio-injection": "enabled"}, key: "istio-injection", value: "enabled", on: true},
		{labels: map[string]string{"istio-injection": "disabled"}},
		{labels: map[string]string{"istio.io/rev": "canary"}, key: "istio.io/rev", value: "canary", on: true},
		{labels: map[string]string{"istio.io/dataplane-mode": "ambient"}},
	} {
		key, value, on := SidecarInjection(tc.labels)
		if key != tc.key || value != tc.value || on != tc.on {
			t.Errorf("SidecarInjection(%v) = %q %q %v", tc.labels, key, value, on)
		}
	}
}

func TestMeshWideMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		pas  []PeerAuthentication
		want string
	}{
		{"none", nil, ""},
		{"no selector", []PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil)}, "STRICT"},
		{"selector: {} is not mesh-wide", []PeerAuthentication{pa("istio-system", "default", "STRICT", map[string]string{}, nil)}, ""},
		{"the oldest", []PeerAuthentication{created(pa("istio-system", "a", "STRICT", nil, nil), 2), created(pa("istio-system", "b", "PERMISSIVE", nil, nil), 1)}, "PERMISSIVE"},
		{"another namespace's", []PeerAuthentication{pa("chatqna", "default", "STRICT", nil, nil)}, ""},
	} {
		if got := MeshWideMode(tc.pas, "istio-system"); got != tc.want {
			t.Errorf("%s: MeshWideMode = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// StrictObstacles agrees with EffectiveMode: an obstacle is reported
// exactly when, with ours in place, a pod would not be STRICT.
func TestStrictObstacles(t *testing.T) {
	app := map[string]string{"app": "chatqna"}
	ours := created(pa("chatqna", "default", "STRICT", nil, nil), 10)
	meshStrict := pa("istio-system", "default", "STRICT", nil, nil)
	for _, tc := range []struct {
		name string
		pas  []PeerAuthentication
		want []string
	}{
		{"nothing else", nil, nil},
		{"an older PERMISSIVE namespace policy", []PeerAuthentication{created(pa("chatqna", "legacy", "PERMISSIVE", nil, nil), 1)}, []string{"legacy"}},
		{"a newer PERMISSIVE namespace policy", []PeerAuthentication{created(pa("chatqna", "later", "PERMISSIVE", nil, nil), 20)}, nil},
		{"an older unset namespace policy, no mesh-wide policy", []PeerAuthentication{created(pa("chatqna", "legacy", "", nil, nil), 1)}, []string{"legacy"}},
		// istiod inherits the mesh-wide mode for an unset namespace policy.
		{"an older unset namespace policy under a mesh-wide STRICT", []PeerAuthentication{meshStrict, created(pa("chatqna", "legacy", "", nil, nil), 1)}, nil},
		{"an older unset namespace policy under a root selector: {} STRICT", []PeerAuthentication{pa("istio-system", "default", "STRICT", map[string]string{}, nil), created(pa("chatqna", "legacy", "", nil, nil), 1)}, []string{"legacy"}},
		{"a PERMISSIVE workload policy", []PeerAuthentication{pa("chatqna", "w", "PERMISSIVE", app, nil)}, []string{"w"}},
		{"a workload policy opening a port", []PeerAuthentication{pa("chatqna", "w", "", app, map[string]string{"9090": "PERMISSIVE"})}, []string{"w"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ob := range StrictObstacles(tc.pas, ours, MeshWideMode(tc.pas, "istio-system")) {
				got = append(got, ob.Policy.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("obstacles (-want +got):\n%s", diff)
			}
			strict := EffectiveMode(append(tc.pas, ours), "istio-system", "chatqna", app)
			if (strict.Mode == "STRICT" && len(strict.PortModes) == 0) != (len(got) == 0) {
				t.Errorf("obstacles %v, but EffectiveMode says %s %v", got, strict.Mode, strict.PortModes)
			}
		})
	}
}
