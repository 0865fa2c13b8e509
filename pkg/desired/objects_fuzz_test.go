package desired

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// FuzzObjects renders the objects for fuzzed hosts (one per line), namespace
// and service names that pass the plugin's checks, in either mode (bit 6 of
// flags: the Gateway API), with the lockdown for even ports, and checks
// that every object is well formed and carries exactly the requested hosts.
func FuzzObjects(f *testing.F) {
	f.Add("chatqna.example.com", "chatqna", "istio-ingress", "chatqna-nginx", uint16(80), uint8(0))
	f.Add("*.intel.com\nchatqna.example.com", "chatqna", "istio-system", "chatqna-nginx", uint16(8888), uint8(0xff))
	f.Add("a.b", "a", "b", "c", uint16(1), uint8(1))
	f.Add("*.example.com", "codetrans", "codetrans", "codetrans-nginx", uint16(443), uint8(2))
	f.Add(strings.Repeat("h", 63)+".example.com", strings.Repeat("n", 63), strings.Repeat("g", 63), strings.Repeat("s", 63), uint16(65535), uint8(0x16))
	f.Add("x1.example.io\nx2.example.io\nx3.example.io", "0ns", "9-gw", "1-svc", uint16(8080), uint8(0x2d))
	f.Add("chatqna.example.com", "chatqna", "istio-ingress", "chatqna-nginx", uint16(80), uint8(0x41))
	f.Add("*.intel.com\nchatqna.example.com", "chatqna", "chatqna", "chatqna-nginx", uint16(8888), uint8(0xc5))
	f.Fuzz(func(t *testing.T, hostLines, appNamespace, gatewayNamespace, service string, port uint16, flags uint8) {
		// Names the plugin would reject are made valid, so that most
		// inputs reach Objects.
		hosts, err := ValidateHosts(strings.Split(hostLines, "\n"))
		if err != nil {
			if hosts, err = ValidateHosts(fuzzHosts(hostLines)); err != nil {
				return
			}
		}
		appNamespace, gatewayNamespace, service = fuzzLabel(appNamespace), fuzzLabel(gatewayNamespace), fuzzLabel(service)
		for _, name := range []string{appNamespace, gatewayNamespace, service} {
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				t.Fatalf("fuzzLabel made %q: %s", name, strings.Join(errs, "; "))
			}
		}
		versions := []string{"v1", "v1beta1"}
		p := Params{
			AppNamespace:      appNamespace,
			GatewayNamespace:  gatewayNamespace,
			GatewaySelector:   map[string]string{"istio": "ingressgateway"},
			Hosts:             hosts,
			Service:           service,
			ServicePort:       int32(port),
			HTTPSPort:         int32(port) + 1,
			HTTPPort:          int32(port) + 2,
			HTTPRedirect:      flags&1 != 0,
			Enroll:            flags&2 != 0,
			Certificates:      CertificateSource((flags >> 2) % 3),
			NetworkingVersion: versions[flags>>4&1],
			SecurityVersion:   versions[flags>>5&1],
		}
		switch p.Certificates {
		case ExistingIssuer:
			p.IssuerName, p.IssuerKind = "letsencrypt", "ClusterIssuer"
		case ExistingSecret:
			p.TLSSecret = "my-tls"
		}
		if flags&0x40 != 0 {
			// As secure plans it: everything in the application namespace.
			p.GatewayAPIVersion, p.GatewayClass = versions[flags>>7&1], "istio"
			p.GatewayNamespace, p.GatewaySelector, p.NetworkingVersion = appNamespace, nil, ""
			p.GatewayServiceType = []string{"", "ClusterIP", "NodePort", "LoadBalancer"}[port%4]
			if len(p.Hosts) > MaxGatewayAPIHosts {
				p.Hosts = p.Hosts[:MaxGatewayAPIHosts]
			}
		}
		if port%2 == 0 {
			p.Lockdown = &Lockdown{Version: versions[flags>>5&1], TrustDomain: "cluster.local",
				ServiceAccounts: []string{service, "default", service}, AllowPrincipals: []string{"cluster.local/ns/" + gatewayNamespace + "/sa/prometheus"},
				EntrySelector: map[string]string{"app": service}, EntryPorts: []int32{int32(port)}, GatewayPrincipal: "cluster.local/ns/" + gatewayNamespace + "/sa/gw"}
		}
		objs, err := Objects(p)
		if err != nil {
			t.Fatalf("Objects(%+v): %v", p, err)
		}
		checkObjects(t, p, objs)
	})
}

// fuzzLabel makes s a DNS-1123 label: lower-case, other characters than
// letters, digits and '-' turned into '-', at most 63 characters, a letter
// or digit at either end.
func fuzzLabel(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			b[i] = '-'
		}
	}
	s = string(b)
	if len(s) > 63 {
		s = s[:63]
	}
	if s = strings.Trim(s, "-"); s == "" {
		return "x"
	}
	return s
}

// fuzzHosts makes each line a host: its labels made DNS labels (a leading
// "*" kept), with a domain added to a single label.
func fuzzHosts(lines string) []string {
	var out []string
	for _, line := range strings.Split(lines, "\n") {
		labels := strings.Split(line, ".")
		for i, l := range labels {
			if i > 0 || l != "*" {
				labels[i] = fuzzLabel(l)
			}
		}
		if len(labels) == 1 {
			labels = append(labels, "example")
		}
		out = append(out, strings.Join(labels, "."))
	}
	return out
}

func checkObjects(t *testing.T, p Params, objs []*unstructured.Unstructured) {
	t.Helper()
	names := ownership.NamesFor(p.AppNamespace)
	var want []string
	if p.Enroll {
		want = append(want, "Namespace /"+p.AppNamespace)
	}
	want = append(want, "PeerAuthentication "+p.AppNamespace+"/default")
	switch p.Certificates {
	case OwnCA:
		want = append(want,
			"Issuer "+p.GatewayNamespace+"/"+names.SelfSignedIssuer,
			"Certificate "+p.GatewayNamespace+"/"+names.CACertificate,
			"Issuer "+p.GatewayNamespace+"/"+names.CAIssuer,
			"Certificate "+p.GatewayNamespace+"/"+names.Certificate)
	case ExistingIssuer:
		want = append(want, "Certificate "+p.GatewayNamespace+"/"+names.Certificate)
	}
	if p.GatewayAPIVersion == "" {
		want = append(want, "Gateway "+p.AppNamespace+"/"+names.Gateway, "VirtualService "+p.AppNamespace+"/"+names.VirtualService)
	} else {
		want = append(want, "Gateway "+p.AppNamespace+"/"+names.Gateway, "HTTPRoute "+p.AppNamespace+"/"+names.HTTPRoute)
		if p.HTTPRedirect {
			want = append(want, "HTTPRoute "+p.AppNamespace+"/"+names.RedirectRoute)
		}
	}
	if p.Lockdown != nil && p.GatewayAPIVersion != "" {
		want = append(want, "AuthorizationPolicy "+p.AppNamespace+"/"+names.AllowGatewayClients)
	}
	if p.Lockdown != nil {
		want = append(want, "AuthorizationPolicy "+p.AppNamespace+"/"+names.AllowIngress,
			"AuthorizationPolicy "+p.AppNamespace+"/"+names.AllowApp, "AuthorizationPolicy "+p.AppNamespace+"/"+names.DenyByDefault)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("objects for %+v (-want +got):\n%s", p, diff)
	}

	labels := ownership.Labels(p.AppNamespace)
	for _, o := range objs {
		ref := o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
		if errs := validation.IsDNS1123Subdomain(o.GetName()); len(errs) > 0 {
			t.Errorf("%s: invalid name: %s", ref, strings.Join(errs, "; "))
		}
		if o.GetKind() == "Namespace" {
			// Only the ambient label is applied to the namespace.
			if diff := cmp.Diff(map[string]string{DataplaneModeLabel: "ambient"}, o.GetLabels()); diff != "" || o.GetNamespace() != "" {
				t.Errorf("%s: labels (-want +got):\n%s", ref, diff)
			}
			continue
		}
		if errs := validation.IsDNS1123Label(o.GetNamespace()); len(errs) > 0 {
			t.Errorf("%s: invalid namespace: %s", ref, strings.Join(errs, "; "))
		}
		for k, v := range labels {
			if o.GetLabels()[k] != v {
				t.Errorf("%s: label %s = %q, want %q", ref, k, o.GetLabels()[k], v)
			}
		}
		for k, v := range o.GetLabels() {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("%s: label %s=%q: %s", ref, k, v, strings.Join(errs, "; "))
			}
		}
		switch {
		case o.GetKind() == "Gateway" && p.GatewayAPIVersion != "":
			checkListeners(t, ref, p, nested(t, o, "spec", "listeners").([]interface{}))
		case o.GetKind() == "HTTPRoute":
			checkHosts(t, ref, p.Hosts, nested(t, o, "spec", "hostnames"))
			if got, want := len(nested(t, o, "spec", "parentRefs").([]interface{})), len(p.Hosts); got != want {
				t.Errorf("%s: %d parentRefs, want one per host, %d", ref, got, want)
			}
		case o.GetKind() == "Gateway":
			servers := nested(t, o, "spec", "servers").([]interface{})
			wantServers := 1
			if p.HTTPRedirect {
				wantServers = 2
			}
			if len(servers) != wantServers {
				t.Errorf("%s: %d servers, want %d", ref, len(servers), wantServers)
			}
			for i, s := range servers {
				checkHosts(t, fmt.Sprintf("%s server %d", ref, i), p.Hosts, s.(map[string]interface{})["hosts"])
			}
		case o.GetKind() == "VirtualService":
			checkHosts(t, ref, p.Hosts, nested(t, o, "spec", "hosts"))
		case o.GetKind() == "Certificate" && o.GetName() == names.Certificate:
			checkHosts(t, ref, p.Hosts, nested(t, o, "spec", "dnsNames"))
		case o.GetKind() == "AuthorizationPolicy" && o.GetName() == names.AllowApp:
			rule := nested(t, o, "spec", "rules").([]interface{})[0].(map[string]interface{})
			source := rule["from"].([]interface{})[0].(map[string]interface{})["source"].(map[string]interface{})
			want := map[string]bool{}
			for _, sa := range p.Lockdown.ServiceAccounts {
				want["cluster.local/ns/"+p.AppNamespace+"/sa/"+sa] = true
			}
			for _, extra := range p.Lockdown.AllowPrincipals {
				want[extra] = true
			}
			principals := slices.Sorted(maps.Keys(want))
			// checkHosts compares any list of strings, in order.
			checkHosts(t, ref+" principals", principals, source["principals"])
		}
	}
}

// checkListeners checks that a Gateway API Gateway has one HTTPS listener
// per host and, with the redirect, one HTTP listener per host, with names
// valid as section names and unique.
func checkListeners(t *testing.T, ref string, p Params, listeners []interface{}) {
	t.Helper()
	var https, http []interface{}
	seen := map[string]bool{}
	for _, l := range listeners {
		m := l.(map[string]interface{})
		name, _ := m["name"].(string)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || seen[name] {
			t.Errorf("%s: listener name %q invalid or repeated", ref, name)
		}
		seen[name] = true
		switch m["protocol"] {
		case "HTTPS":
			https = append(https, m["hostname"])
		case "HTTP":
			http = append(http, m["hostname"])
		}
	}
	checkHosts(t, ref+" HTTPS listeners", p.Hosts, https)
	if p.HTTPRedirect {
		checkHosts(t, ref+" HTTP listeners", p.Hosts, http)
	} else if len(http) > 0 {
		t.Errorf("%s: HTTP listeners %v without the redirect", ref, http)
	}
}

func nested(t *testing.T, o *unstructured.Unstructured, path ...string) interface{} {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if !ok || err != nil {
		t.Fatalf("%s/%s has no %s", o.GetKind(), o.GetName(), strings.Join(path, "."))
	}
	return v
}

// checkHosts checks that list is exactly the hosts, as strings, in order.
func checkHosts(t *testing.T, what string, hosts []string, list interface{}) {
	t.Helper()
	items, ok := list.([]interface{})
	if !ok {
		t.Errorf("%s: hosts %#v are not a list", what, list)
		return
	}
	var got []string
	for _, h := range items {
		s, ok := h.(string)
		if !ok {
			t.Errorf("%s: host %#v is not a string", what, h)
		}
		got = append(got, s)
	}
	if diff := cmp.Diff(hosts, got); diff != "" {
		t.Errorf("%s: hosts (-want +got):\n%s", what, diff)
	}
}
