package istio

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSanitizeHosts(t *testing.T) {
	for _, tc := range []struct {
		hosts, want []string
	}{
		{[]string{"a.example.com", "./b.example.com", "*/c.example.com", "other/d.example.com"}, []string{"a.example.com", "gw-ns/b.example.com", "c.example.com", "other/d.example.com"}},
		{[]string{"a.example.com", "*/*"}, []string{"*"}},
	} {
		if diff := cmp.Diff(tc.want, SanitizeHosts(tc.hosts, "gw-ns")); diff != "" {
			t.Errorf("SanitizeHosts(%v) (-want +got):\n%s", tc.hosts, diff)
		}
	}
}

func TestDroppedServers(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tls := &ServerTLS{Mode: "SIMPLE", CredentialName: "c"}
	gw := func(name string, age int, servers ...Server) Gateway {
		return Gateway{Namespace: "ns", Name: name, CreationTimestamp: t0.Add(time.Duration(age) * time.Minute), Servers: servers}
	}
	srv := func(port int32, bind string, t *ServerTLS, hosts ...string) Server {
		return Server{Port: Port{Number: port, Protocol: "HTTPS"}, Bind: bind, Hosts: hosts, TLS: t}
	}
	redirect := &ServerTLS{HTTPSRedirect: true}
	identity := func(n int32) int32 { return n }
	for _, tc := range []struct {
		name     string
		gateways []Gateway
		want     []string // dropped "gateway:port:host<-keeper"
	}{
		{"the younger Gateway loses, whatever the list order", []Gateway{gw("b", 2, srv(443, "", tls, "a.com")), gw("a", 1, srv(443, "", tls, "a.com"))}, []string{"b:443:a.com<-a"}},
		{"same age: by name", []Gateway{gw("b", 1, srv(443, "", tls, "a.com")), gw("a", 1, srv(443, "", tls, "a.com"))}, []string{"b:443:a.com<-a"}},
		{"one duplicate drops the whole server", []Gateway{gw("a", 1, srv(443, "", tls, "a.com")), gw("b", 2, srv(443, "", tls, "b.com", "a.com"))}, []string{"b:443:a.com<-a"}},
		{"wildcards overlap: no conflict", []Gateway{gw("a", 1, srv(443, "", tls, "*.com")), gw("b", 2, srv(443, "", tls, "a.com"))}, nil},
		{"other bind", []Gateway{gw("a", 1, srv(443, "", tls, "a.com")), gw("b", 2, srv(443, "10.0.0.1", tls, "a.com"))}, nil},
		{"plain HTTP without tls", []Gateway{gw("a", 1, srv(80, "", nil, "a.com")), gw("b", 2, srv(80, "", nil, "a.com"))}, nil},
		{"HTTP with httpsRedirect has tls settings", []Gateway{gw("a", 1, srv(80, "", redirect, "a.com")), gw("b", 2, srv(80, "", redirect, "a.com"))}, []string{"b:80:a.com<-a"}},
	} {
		var got []string
		for _, d := range DroppedServers(tc.gateways, identity) {
			got = append(got, d.Gateway.Name+":"+strconv.Itoa(int(d.Port))+":"+d.Host+"<-"+d.Keeper.Name)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
