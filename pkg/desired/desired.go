// Package desired builds the objects `kubectl opea secure` wants in the
// cluster, from the templates in manifests/ and the facts discovered about
// the cluster, named and labelled as pkg/ownership says. It only builds
// them: what the cluster holds already (adoption, fields taken over) is the
// concern of secure's Apply step.
package desired

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/manifests"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// DataplaneModeLabel enrols a namespace or pod in Istio's ambient mode.
const DataplaneModeLabel = istio.DataplaneModeLabel

// CertificateSource says where the gateway's certificate comes from.
type CertificateSource int

const (
	// OwnCA: a private CA chain made with cert-manager (the default).
	OwnCA CertificateSource = iota
	// ExistingIssuer: cert-manager with an Issuer or ClusterIssuer the user has.
	ExistingIssuer
	// ExistingSecret: a Secret the user has, of any type with a pair Istio
	// reads (cert/key or tls.crt/tls.key); no cert-manager.
	ExistingSecret
)

// Params are everything the templates need.
type Params struct {
	AppNamespace      string
	GatewayNamespace  string
	GatewaySelector   map[string]string
	Hosts             []string
	Service           string
	ServicePort       int32
	HTTPSPort         int32
	HTTPPort          int32
	HTTPRedirect      bool
	Enroll            bool
	Certificates      CertificateSource
	IssuerName        string // ExistingIssuer
	IssuerKind        string // ExistingIssuer: Issuer or ClusterIssuer
	TLSSecret         string // ExistingSecret
	NetworkingVersion string // v1 or v1beta1
	SecurityVersion   string // v1 or v1beta1
	// GatewayAPIVersion (v1 or v1beta1) selects the Kubernetes Gateway API:
	// a Gateway of GatewayClass and HTTPRoutes in the application namespace,
	// for which Istio deploys a gateway there; the certificate is then in
	// the application namespace too (GatewayNamespace = AppNamespace).
	// Empty: an Istio Gateway and VirtualService for the ingress gateway
	// pods found by GatewaySelector.
	GatewayAPIVersion string
	GatewayClass      string
	// GatewayServiceType is the type of the Service Istio deploys for the
	// Gateway API Gateway; empty: Istio's default, LoadBalancer.
	GatewayServiceType string
	// Lockdown, when set, adds the AuthorizationPolicies that admit only
	// the application's own workloads and the ingress gateway.
	Lockdown *Lockdown
	// Auth, when set, adds the policies of secure --auth on the ingress
	// gateway.
	Auth *Auth
}

// Lockdown is what secure --lockdown's AuthorizationPolicies admit. Only
// L4 attributes (principals, ports): ztunnel enforces nothing else, and
// drops an ALLOW rule with HTTP attributes, which then admits nobody.
type Lockdown struct {
	// Version is the security.istio.io version serving AuthorizationPolicy.
	Version     string
	TrustDomain string
	// ServiceAccounts are those the application's pods run as: each is
	// admitted to every workload of the namespace.
	ServiceAccounts []string
	// AllowPrincipals are other callers admitted, as full principals.
	AllowPrincipals []string
	// Waypoints are the principals of the waypoints the namespace's
	// Services use: every call through one reaches the pods from it.
	Waypoints []string
	// EntrySelector selects the entry workload (the entry Service's
	// selector), which GatewayPrincipal may reach on EntryPorts: the pod
	// ports the entry Service port targets, where ztunnel sees the traffic.
	EntrySelector    map[string]string
	EntryPorts       []int32
	GatewayPrincipal string
}

// AppPrincipals are the principals the AllowApp policy admits: the
// application's service accounts', the extra callers' and the waypoints',
// sorted, each once.
func (l Lockdown) AppPrincipals(appNamespace string) []string {
	var out []string
	for _, sa := range l.ServiceAccounts {
		out = append(out, istio.Principal(l.TrustDomain, appNamespace, sa))
	}
	out = append(out, l.AllowPrincipals...)
	out = append(out, l.Waypoints...)
	sort.Strings(out)
	return slices.Compact(out)
}

// MaxGatewayAPIHosts is the most hosts the Gateway API mode takes: an
// HTTPRoute holds at most 16 hostnames.
const MaxGatewayAPIHosts = 16

// Listener is one listener of secure's Gateway API Gateway.
type Listener struct {
	Name     string
	Hostname string
}

// Listeners are the listeners of secure's Gateway API Gateway for hosts,
// one per host because a listener has a single hostname: https, https-2,
// ... on port 443 and http, http-2, ... on port 80, in the order of hosts.
// The same hosts always get the same names.
func Listeners(hosts []string) (https, http []Listener) {
	for i, h := range hosts {
		suffix := ""
		if i > 0 {
			suffix = fmt.Sprintf("-%d", i+1)
		}
		https = append(https, Listener{Name: "https" + suffix, Hostname: h})
		http = append(http, Listener{Name: "http" + suffix, Hostname: h})
	}
	return https, http
}

// templateData is what a template sees.
type templateData struct {
	Params
	Names      ownership.Names
	Labels     map[string]string
	IssuerName string
	IssuerKind string
	// HTTPSListeners and HTTPListeners are the Gateway API Gateway's;
	// HTTPListeners is empty without HTTPRedirect.
	HTTPSListeners []Listener
	HTTPListeners  []Listener
	// AppPrincipals, EntryPorts and AllowPrincipals are the lockdown's, as
	// the policies hold them.
	AppPrincipals   []string
	EntryPorts      []string
	AllowPrincipals string
	// AuthHosts, AuthPrincipals, AuthClaims and AuthRecord are secure
	// --auth's, as its policies hold them.
	AuthHosts      []string
	AuthPrincipals string
	AuthClaims     []Claim
	AuthRecord     string
}

// Objects renders the objects for p in the order they are applied: the
// namespace label, mTLS, the certificate chain, then the Gateway and the
// VirtualService or HTTPRoutes that depend on it, the policies of --auth on
// the gateway, and last the lockdown's AuthorizationPolicies, once the
// ingress they admit is in place.
func Objects(p Params) ([]*unstructured.Unstructured, error) {
	if p.AppNamespace == "" || p.GatewayNamespace == "" || len(p.Hosts) == 0 || p.Service == "" {
		return nil, errors.New("desired: application namespace, gateway namespace, hosts and service are required")
	}
	if p.GatewayAPIVersion != "" {
		// A Gateway's certificateRefs name Secrets in its own namespace.
		if p.GatewayNamespace != p.AppNamespace || p.GatewayClass == "" {
			return nil, errors.New("desired: the Gateway API mode needs a gateway class, and the gateway namespace to be the application namespace")
		}
		if len(p.Hosts) > MaxGatewayAPIHosts {
			return nil, fmt.Errorf("desired: the Gateway API mode takes at most %d hosts", MaxGatewayAPIHosts)
		}
	}
	data := templateData{Params: p, Names: ownership.NamesFor(p.AppNamespace), Labels: ownership.Labels(p.AppNamespace)}
	var files []string
	if p.Enroll {
		files = append(files, "namespace.yaml")
	}
	files = append(files, "peerauthentication.yaml")
	switch p.Certificates {
	case OwnCA:
		data.IssuerName, data.IssuerKind = data.Names.CAIssuer, "Issuer"
		files = append(files, "ca.yaml", "certificate.yaml")
	case ExistingIssuer:
		data.IssuerName, data.IssuerKind = p.IssuerName, p.IssuerKind
		files = append(files, "certificate.yaml")
	case ExistingSecret:
		data.Names.TLSSecret = p.TLSSecret
	}
	if p.GatewayAPIVersion != "" {
		data.HTTPSListeners, data.HTTPListeners = Listeners(p.Hosts)
		if !p.HTTPRedirect {
			data.HTTPListeners = nil
		}
		files = append(files, "gatewayapi-gateway.yaml", "gatewayapi-httproutes.yaml")
	} else {
		files = append(files, "gateway.yaml", "virtualservice.yaml")
	}
	if a := p.Auth; a != nil {
		if err := authData(&data, p); err != nil {
			return nil, err
		}
		files = append(files, "auth.yaml")
	}
	if l := p.Lockdown; l != nil {
		if l.Version == "" || l.TrustDomain == "" || len(l.EntrySelector) == 0 || len(l.EntryPorts) == 0 || l.GatewayPrincipal == "" {
			return nil, errors.New("desired: the lockdown needs a version, a trust domain, the entry workload's selector and ports, and the gateway's principal")
		}
		if len(l.ServiceAccounts) == 0 {
			return nil, errors.New("desired: the lockdown needs the application's service accounts")
		}
		data.AppPrincipals = l.AppPrincipals(p.AppNamespace)
		for _, port := range l.EntryPorts {
			data.EntryPorts = append(data.EntryPorts, strconv.Itoa(int(port)))
		}
		data.AllowPrincipals = strings.Join(l.AllowPrincipals, ",")
		files = append(files, "authorizationpolicies.yaml")
	}

	var objs []*unstructured.Unstructured
	for _, f := range files {
		rendered, err := render(f, data)
		if err != nil {
			return nil, err
		}
		more, err := Decode(rendered)
		if err != nil {
			return nil, fmt.Errorf("manifests/%s: %w", f, err)
		}
		objs = append(objs, more...)
	}
	return objs, nil
}

// authData fills in what the --auth template needs, refusing settings the
// flags would refuse.
func authData(data *templateData, p Params) error {
	a := p.Auth
	if errs := a.Settings.Validate(); len(errs) > 0 {
		return fmt.Errorf("desired: --auth: %s", strings.Join(errs, "; "))
	}
	if err := AuthHostsProblem(p.Hosts); err != nil {
		return fmt.Errorf("desired: %w", err)
	}
	if a.PolicyVersion == "" || a.Namespace == "" || (a.Settings.Mode == AuthJWT && a.RequestAuthnVersion == "") {
		return errors.New("desired: --auth needs the served security.istio.io versions and the namespace of its policies")
	}
	if p.GatewayAPIVersion == "" && len(a.Selector) == 0 {
		return errors.New("desired: --auth on a classic gateway needs the gateway pods' selector")
	}
	if p.GatewayAPIVersion != "" && a.Namespace != p.AppNamespace {
		return errors.New("desired: --auth with the Gateway API puts its policies next to the Gateway, in the application namespace")
	}
	data.AuthHosts = AuthHosts(p.Hosts)
	// Only the issuer's tokens: another RequestAuthentication on a shared
	// gateway validates tokens of other issuers, which must not pass here.
	if a.Settings.Mode == AuthJWT {
		data.AuthPrincipals = a.Settings.Issuer + "/*"
		data.AuthClaims = a.Settings.ParsedClaims()
	}
	data.AuthRecord = a.Settings.Record()
	return nil
}

// templates are parsed on first use, not at start-up: most runs of the
// plugin (verify, --help) render none.
var templates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		// json quotes any value; JSON is valid YAML, so no value can break the
		// document's structure.
		"json": func(v interface{}) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Option("missingkey=error").ParseFS(manifests.FS, "*.yaml"))
})

func render(name string, data templateData) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates().ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("rendering manifests/%s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// Decode reads a stream of YAML or JSON documents into objects, skipping
// empty documents. Integers stay int64, as the API machinery expects.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		jsonDoc, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(bytes.TrimSpace(jsonDoc)) == "null" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(jsonDoc); err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
}
