package istio

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// fuzzPolicies decodes PeerAuthentications from data, 5 bytes each: the
// namespace, the name, the mode, the selector and the creation time, and
// port-level modes. Names are unique per namespace, as in a cluster.
func fuzzPolicies(data []byte) []PeerAuthentication {
	namespaces := []string{"istio-system", "chatqna", "other"}
	modes := []string{"", "UNSET", "STRICT", "PERMISSIVE", "DISABLE"}
	selectors := []map[string]string{nil, {}, {"app": "chatqna"}, {"app": "ui"}, {"app": "chatqna", "version": "v1"}, {"version": "v1"}, {"app": ""}}
	seen := map[string]bool{}
	var out []PeerAuthentication
	for ; len(data) >= 5; data = data[5:] {
		p := PeerAuthentication{
			Namespace:         namespaces[int(data[0])%len(namespaces)],
			Name:              fmt.Sprintf("pa-%d", data[1]%8),
			CreationTimestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(data[3]>>4) * time.Second),
		}
		if seen[p.Namespace+"/"+p.Name] {
			continue
		}
		seen[p.Namespace+"/"+p.Name] = true
		if m := int(data[2]) % (len(modes) + 1); m < len(modes) {
			p.MTLS = &MTLS{Mode: modes[m]}
		}
		if s := selectors[int(data[3]&0xf)%len(selectors)]; s != nil {
			p.Selector = &WorkloadSelector{MatchLabels: s}
		}
		for i, port := range []string{"8080", "9090"} {
			if m := int(data[4]>>(4*i)) & 0xf; m < len(modes) {
				if p.PortLevelMTLS == nil {
					p.PortLevelMTLS = map[string]MTLS{}
				}
				p.PortLevelMTLS[port] = MTLS{Mode: modes[m]}
			}
		}
		out = append(out, p)
	}
	return out
}

// FuzzEffectiveMode checks EffectiveMode on PeerAuthentications decoded
// from fuzz bytes, for a pod in chatqna (or, with root set, in the root
// namespace itself) against the rules of its doc comment.
func FuzzEffectiveMode(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{1, 0, 2, 0, 0xff}, uint8(0))                            // namespace STRICT
	f.Add([]byte{0, 0, 2, 0, 0xff, 1, 0, 3, 0, 0xff}, uint8(0))          // STRICT mesh, PERMISSIVE namespace
	f.Add([]byte{1, 0, 2, 0x10, 0xff, 1, 1, 3, 0x02, 0x30}, uint8(1))    // STRICT namespace, PERMISSIVE workload with ports
	f.Add([]byte{1, 0, 2, 0x10, 0xff, 1, 1, 5, 0x02, 0x43}, uint8(2))    // unset workload, DISABLE beside PERMISSIVE
	f.Add([]byte{1, 0, 3, 0x20, 0xff, 1, 1, 2, 0x10, 0xff}, uint8(0))    // two namespace policies: the older wins
	f.Add([]byte{0, 0, 2, 0x02, 0xff, 2, 0, 4, 0x00, 0xff}, uint8(0x80)) // root-namespace selector, other namespace
	f.Fuzz(func(t *testing.T, data []byte, pod uint8) {
		const root = "istio-system"
		namespace := "chatqna"
		if pod&0x80 != 0 {
			namespace = root
		}
		podLabels := []map[string]string{nil, {"app": "chatqna"}, {"app": "chatqna", "version": "v1"}, {"app": "ui"}, {"app": ""}}[int(pod&0x7f)%5]
		pas := fuzzPolicies(data)
		eff := EffectiveMode(pas, root, namespace, podLabels)

		checkEffective(t, pas, namespace, podLabels, eff)

		// The order of the policies does not matter.
		reversed := slices.Clone(pas)
		slices.Reverse(reversed)
		if got := EffectiveMode(reversed, root, namespace, podLabels); !reflect.DeepEqual(got, eff) {
			t.Errorf("reversed policies: %+v, in order: %+v", got, eff)
		}

		// Policies that do not apply change nothing: a workload policy that
		// selects other pods, policies of another namespace, and selector
		// policies of the root namespace for a pod elsewhere.
		for _, extra := range []PeerAuthentication{
			{Namespace: namespace, Name: "other-pods", Selector: &WorkloadSelector{MatchLabels: map[string]string{"fuzz.opea.dev/absent": "x"}}, MTLS: &MTLS{Mode: "DISABLE"}, PortLevelMTLS: map[string]MTLS{"8080": {Mode: "PERMISSIVE"}}},
			{Namespace: namespace, Name: "other-pods-strict", Selector: &WorkloadSelector{MatchLabels: map[string]string{"app": "chatqna", "fuzz.opea.dev/absent": ""}}, MTLS: &MTLS{Mode: "STRICT"}},
			{Namespace: "elsewhere", Name: "default", MTLS: &MTLS{Mode: "DISABLE"}},
			{Namespace: "elsewhere", Name: "w", Selector: &WorkloadSelector{MatchLabels: podLabels}, MTLS: &MTLS{Mode: "STRICT"}},
			{Namespace: root, Name: "root-selector", Selector: &WorkloadSelector{MatchLabels: map[string]string{"app": "chatqna"}}, MTLS: &MTLS{Mode: "PERMISSIVE"}},
		} {
			if extra.Namespace == root && namespace == root {
				continue
			}
			more := append(slices.Clone(pas), extra)
			if got := EffectiveMode(more, root, namespace, podLabels); !reflect.DeepEqual(got, eff) {
				t.Errorf("with %s/%s added: %+v, without: %+v", extra.Namespace, extra.Name, got, eff)
			}
		}

		// A single namespace-wide STRICT policy, no workload policies and
		// no other namespace-wide policy of the namespace: STRICT for every
		// pod, whatever the mesh policy says.
		var others []PeerAuthentication
		for _, p := range pas {
			if p.Namespace != namespace {
				others = append(others, p)
			}
		}
		strict := PeerAuthentication{Namespace: namespace, Name: "opea-strict", MTLS: &MTLS{Mode: "STRICT"}}
		for _, labels := range []map[string]string{podLabels, nil, {"app": "anything"}} {
			got := EffectiveMode(append(slices.Clone(others), strict), root, namespace, labels)
			if got.Mode != "STRICT" || got.Source != namespace+"/opea-strict" || got.PortModes != nil {
				t.Errorf("with only %s/opea-strict in the namespace, pod %v: %+v", namespace, labels, got)
			}
		}

		// A STRICT workload policy without port exceptions that is the only
		// one selecting the pod makes it STRICT, whatever else holds.
		if namespace != root {
			var rest []PeerAuthentication
			for _, p := range pas {
				if len(p.MatchLabels()) == 0 || p.Namespace != namespace {
					rest = append(rest, p)
				}
			}
			w := PeerAuthentication{Namespace: namespace, Name: "w-strict", Selector: &WorkloadSelector{MatchLabels: map[string]string{"fuzz.opea.dev/pod": "1"}}, MTLS: &MTLS{Mode: "STRICT"}}
			labels := map[string]string{"fuzz.opea.dev/pod": "1"}
			for k, v := range podLabels {
				labels[k] = v
			}
			got := EffectiveMode(append(rest, w), root, namespace, labels)
			if got.Mode != "STRICT" || got.Source != namespace+"/w-strict" || got.PortModes != nil {
				t.Errorf("with a STRICT workload policy: %+v", got)
			}
		}
	})
}

// checkEffective checks what EffectiveMode returns against the policies.
func checkEffective(t *testing.T, pas []PeerAuthentication, namespace string, podLabels map[string]string, eff Effective) {
	t.Helper()
	switch eff.Mode {
	case "STRICT", "PERMISSIVE", "DISABLE":
	default:
		t.Fatalf("mode %q", eff.Mode)
	}
	if eff.Source == "" {
		if eff.Mode != "PERMISSIVE" || eff.PortModes != nil {
			t.Errorf("no source, but %+v", eff)
		}
		// Istio's default: the oldest namespace-wide policy of the root
		// namespace and that of the pod's set no mode (younger ones do not
		// count). For a pod of another namespace, a root-namespace policy
		// is mesh-wide only without any selector: istiod applies
		// "selector: {}" there to nothing.
		for _, ns := range []string{"istio-system", namespace} {
			var oldest *PeerAuthentication
			for i, p := range pas {
				wide := len(p.MatchLabels()) == 0
				if ns == "istio-system" && namespace != "istio-system" {
					wide = p.Selector == nil
				}
				if wide && p.Namespace == ns && (oldest == nil || Older(p, *oldest)) {
					oldest = &pas[i]
				}
			}
			if oldest != nil && oldest.Mode() != "" {
				t.Errorf("no source, but %s/%s, the oldest namespace-wide policy of %s, sets %s", oldest.Namespace, oldest.Name, ns, oldest.Mode())
			}
		}
		return
	}
	var src *PeerAuthentication
	for i := range pas {
		if pas[i].Namespace+"/"+pas[i].Name == eff.Source {
			src = &pas[i]
		}
	}
	if src == nil {
		t.Fatalf("source %s is none of the policies", eff.Source)
	}
	switch {
	case eff.Note != "":
		// istiod's conversion attached nothing: the source is the workload
		// policy, mode unset, whose PERMISSIVE port dropped the STRICT.
		if eff.Mode != "PERMISSIVE" || eff.PortModes != nil || src.Mode() != "" || len(src.MatchLabels()) == 0 || !anyPortMode(*src, "PERMISSIVE") {
			t.Errorf("noted %q, but %+v from %+v", eff.Note, eff, *src)
		}
	case src.Mode() != eff.Mode:
		t.Errorf("source %s has mode %q, the effective mode is %q", eff.Source, src.Mode(), eff.Mode)
	}
	if src.Namespace != namespace && src.Namespace != "istio-system" {
		t.Errorf("source %s is in neither the pod's nor the root namespace", eff.Source)
	}
	if sel := src.MatchLabels(); len(sel) > 0 {
		if src.Namespace != namespace || namespace == "istio-system" {
			t.Errorf("source %s is a selector policy outside the pod's namespace, or in the root namespace", eff.Source)
		}
		if !selects(sel, podLabels) {
			t.Errorf("source %s selects %v, the pod has %v", eff.Source, sel, podLabels)
		}
	}
	if eff.PortModes != nil {
		// The exceptions are those of a workload policy selecting the pod.
		found := false
		for _, p := range pas {
			sel := p.MatchLabels()
			if len(sel) == 0 || p.Namespace != namespace || namespace == "istio-system" {
				continue
			}
			has := true
			for port, m := range eff.PortModes {
				has = has && p.PortLevelMTLS[port].Mode == m
			}
			found = found || selects(sel, podLabels) && has
		}
		if !found {
			t.Errorf("port exceptions %v of no workload policy of the pod", eff.PortModes)
		}
	}
	if eff.PortModes != nil {
		if eff.Mode != "STRICT" || len(eff.PortModes) == 0 {
			t.Errorf("port exceptions %v under %s", eff.PortModes, eff.Mode)
		}
		for port, m := range eff.PortModes {
			if m != "PERMISSIVE" && m != "DISABLE" {
				t.Errorf("port %s exception %q", port, m)
			}
		}
	}
}

// selects reports whether every label of the selector sel is on the pod.
func selects(sel, podLabels map[string]string) bool {
	for k, v := range sel {
		if got, ok := podLabels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
