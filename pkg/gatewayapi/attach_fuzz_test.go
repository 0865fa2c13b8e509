package gatewayapi

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FuzzAttach decodes a Gateway and an HTTPRoute as the API server could
// return them (any JSON the decoders take) and checks what attachment must
// keep whatever they hold: it never panics; a listener takes a route only
// through a parentRef that names its Gateway, its sectionName and port when
// set, and, without allowedRoutes, from the Gateway's own namespace; naming
// no section or no hostname never attaches less; and the Gateway's verdict
// (ParentDenial) attaches exactly when some listener does.
func FuzzAttach(f *testing.F) {
	f.Add(`{"metadata": {"namespace": "chatqna", "name": "gw"}, "spec": {"gatewayClassName": "istio", "listeners": [
		{"name": "https", "hostname": "chatqna.example.com", "port": 443, "protocol": "HTTPS"},
		{"name": "http", "hostname": "*.example.com", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}]}}`,
		`{"metadata": {"namespace": "chatqna", "name": "r"}, "spec": {"parentRefs": [{"name": "gw", "sectionName": "https"}, {"name": "gw", "port": 80}],
		"hostnames": ["chatqna.example.com"]}}`)
	f.Add(`{"metadata": {"namespace": "shared", "name": "gw"}, "spec": {"listeners": [
		{"name": "a", "hostname": "a.example.com", "port": 443, "protocol": "HTTPS", "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"team": "a"}}}}},
		{"name": "b", "port": 443, "protocol": "HTTPS", "allowedRoutes": {"kinds": [{"kind": "GRPCRoute"}]}}]}}`,
		`{"metadata": {"namespace": "app", "name": "r"}, "spec": {"parentRefs": [{"name": "gw", "namespace": "shared"}, {"name": "svc", "kind": "Service", "group": ""}],
		"hostnames": ["*.example.com", "b.example.org"]}}`)
	labels := func(ns string) (map[string]string, bool) {
		return map[string]string{"kubernetes.io/metadata.name": ns, "team": ns}, ns != "unknown"
	}
	f.Fuzz(func(t *testing.T, gatewayJSON, routeJSON string) {
		gu, ok := object("Gateway", gatewayJSON)
		if !ok {
			return
		}
		ru, ok := object("HTTPRoute", routeJSON)
		if !ok {
			return
		}
		gw, err := DecodeGateway(gu)
		if err != nil {
			return
		}
		r, err := DecodeHTTPRoute(ru)
		if err != nil {
			return
		}
		for _, ref := range r.ParentRefs {
			some := false
			for _, l := range gw.Listeners {
				d := Attach(r, ref, gw, l, labels)
				if !d.Attached() {
					if d.Reason == "" || d.Message == "" {
						t.Errorf("a denial without reason or message: %+v", d)
					}
					continue
				}
				some = true
				if !ref.IsGateway() || ref.Name != gw.Name || ref.GatewayNamespace(r.Namespace) != gw.Namespace {
					t.Errorf("listener %s of %s/%s took a parentRef to another object: %+v", l.Name, gw.Namespace, gw.Name, ref)
				}
				if (ref.SectionName != "" && ref.SectionName != l.Name) || (ref.Port != 0 && ref.Port != l.Port) {
					t.Errorf("listener %s (port %d) took parentRef %+v", l.Name, l.Port, ref)
				}
				if l.AllowedRoutes == nil && r.Namespace != gw.Namespace {
					t.Errorf("listener %s took a route of namespace %q without allowedRoutes (Gateway in %q)", l.Name, r.Namespace, gw.Namespace)
				}
				wider := ref
				wider.SectionName, wider.Port = "", 0
				if !Attach(r, wider, gw, l, labels).Attached() {
					t.Errorf("listener %s took %+v but not the same parentRef without section and port", l.Name, ref)
				}
				anyHost := r
				anyHost.Hostnames = nil
				if !Attach(anyHost, ref, gw, l, labels).Attached() {
					t.Errorf("listener %s took the route with hostnames %v but not without any", l.Name, r.Hostnames)
				}
			}
			if verdict := ParentDenial(r, ref, gw, labels); verdict.Attached() != some {
				t.Errorf("parentRef %+v: ParentDenial %+v, but some listener attaches: %v", ref, verdict, some)
			}
		}
	})
}

// object is the JSON object doc as the API returns an object of kind.
func object(kind, doc string) (*unstructured.Unstructured, bool) {
	var obj map[string]interface{}
	if json.Unmarshal([]byte(doc), &obj) != nil || obj == nil {
		return nil, false
	}
	obj["apiVersion"], obj["kind"] = Group+"/v1", kind
	return &unstructured.Unstructured{Object: obj}, true
}
