package istio

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// SelectsPod reports whether gw applies to a gateway pod with podLabels: its
// selector is a subset of them, or it has none and so applies to every
// gateway (PushContext.mergeGateways).
func SelectsPod(gw Gateway, podLabels map[string]string) bool {
	return len(gw.Selector) == 0 || labels.SelectorFromSet(gw.Selector).Matches(labels.Set(podLabels))
}

// SanitizeHosts rewrites a server's hosts as istiod does before comparing
// them (sanitizeServerHostNamespace): "./h" becomes "<gateway namespace>/h",
// "*/h" becomes "h", and "*/*" makes the hosts just "*".
func SanitizeHosts(hosts []string, gatewayNamespace string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		ns, host, found := strings.Cut(h, "/")
		switch {
		case !found:
			out = append(out, h)
		case ns == ".":
			out = append(out, gatewayNamespace+"/"+host)
		case ns == "*" && host == "*":
			return []string{"*"}
		case ns == "*":
			out = append(out, host)
		default:
			out = append(out, h)
		}
	}
	return out
}

// DroppedServer is a Gateway server istiod leaves out of a gateway pod's
// configuration because an earlier server already claimed one of its hosts
// on the same port.
type DroppedServer struct {
	Gateway Gateway
	Server  Server
	// Port is the port the pod would have listened on.
	Port int32
	// Host is the first duplicated host, as istiod compares it.
	Host string
	// Keeper is the Gateway whose server claimed Host first.
	Keeper Gateway
}

// MergeOrder sorts Gateways as istiod merges them: oldest first, then by
// name and namespace (sortConfigByCreationTime).
func MergeOrder(gateways []Gateway) []Gateway {
	out := append([]Gateway(nil), gateways...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
			return a.CreationTimestamp.Before(b.CreationTimestamp)
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Namespace < b.Namespace
	})
	return out
}

// DroppedServers replays how istiod merges the Gateways that apply to one
// gateway pod (mergeGateways and CheckDuplicates in pilot/pkg/model/gateway.go):
// in MergeOrder, every server with tls settings (HTTPS, TLS, and HTTP with
// httpsRedirect) claims its hosts on the port it resolves to, and a later
// one that repeats any of those exact host strings with the same bind is
// dropped whole. Overlapping wildcards are no conflict (SNI tells them
// apart), nor are plain HTTP servers (they merge). resolve maps a server port
// number to the pod's listener port (ResolveServerPort).
func DroppedServers(gateways []Gateway, resolve func(int32) int32) []DroppedServer {
	type claim struct {
		bind  string
		owner Gateway
	}
	known := map[int32]map[string]claim{}
	var dropped []DroppedServer
	for _, gw := range MergeOrder(gateways) {
		for _, srv := range gw.Servers {
			if srv.TLS == nil {
				continue
			}
			port := resolve(srv.Port.Number)
			if known[port] == nil {
				known[port] = map[string]claim{}
			}
			hosts := SanitizeHosts(srv.Hosts, gw.Namespace)
			dup := ""
			var keeper Gateway
			for _, h := range hosts {
				if c, ok := known[port][h]; ok && c.bind == srv.Bind && dup == "" {
					dup, keeper = h, c.owner
				}
			}
			if dup != "" {
				dropped = append(dropped, DroppedServer{Gateway: gw, Server: srv, Port: port, Host: dup, Keeper: keeper})
				continue
			}
			for _, h := range hosts {
				known[port][h] = claim{srv.Bind, gw}
			}
		}
	}
	return dropped
}
