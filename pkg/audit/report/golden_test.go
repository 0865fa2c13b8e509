package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// update rewrites the golden files from what the renderers write today:
// go test ./pkg/audit/report -run TestGolden -update.
var update = flag.Bool("update", false, "rewrite the golden files of the renderers")

// goldenDir holds what verify prints for the snapshots the tests build, in
// every output format: a change to the code that moves a byte shows here.
const goldenDir = "../testdata/golden"

// allInputs are every input of a snapshot.
var allInputs = []snapshot.Input{snapshot.InputNamespace, snapshot.InputPods, snapshot.InputIstiod, snapshot.InputMeshConfig, snapshot.InputDaemonSets, snapshot.InputCNIConfig,
	snapshot.InputPeerAuthentications, snapshot.InputDestinationRules, snapshot.InputGateways, snapshot.InputVirtualServices, snapshot.InputServices,
	snapshot.InputGatewayPods, snapshot.InputSecrets, snapshot.InputSecretAccess, snapshot.InputCertificates, snapshot.InputAuthorizationPolicies, snapshot.InputEndpointSlices, snapshot.InputRBAC}

// goldenSnapshots are the snapshots the tests build, and variants that
// give every verdict: secured, failing, incomplete.
func goldenSnapshots(t *testing.T) map[string]*snapshot.Snapshot {
	out := map[string]*snapshot.Snapshot{
		"healthy":            healthy(t),
		"gatewayapi":         healthyGatewayAPI(t),
		"gatewayapi-shared":  sharedGatewayAPI(t),
		"gatewayapi-granted": healthyGatewayAPI(t),
	}
	granted := out["gatewayapi-granted"]
	moveSecret(granted)
	granted.ReferenceGrants = append(granted.ReferenceGrants, certsGrant())
	moved := healthyGatewayAPI(t)
	moveSecret(moved)
	out["gatewayapi-ungranted"] = moved

	// Root-namespace STRICT with selector: {}, which is not mesh-wide.
	rootSelector := healthy(t)
	pa := strict("istio-system")
	pa.Selector = &istio.WorkloadSelector{}
	rootSelector.PeerAuthentications = []istio.PeerAuthentication{pa}
	out["root-selector-strict"] = rootSelector

	off := healthy(t)
	off.Probe, off.ProbeOff = nil, true
	out["probe-off"] = off
	noAddress := healthy(t)
	noAddress.Probe = nil
	out["probe-no-address"] = noAddress
	// No address: through a port-forward to a gateway pod, and without the
	// permission to port-forward.
	forwarded := healthy(t)
	forwarded.Probe.Via = "port-forward to istio-ingress/istio-ingress-abc"
	forwarded.Probe.Address, forwarded.Probe.HTTPAddress = "port 443 via "+forwarded.Probe.Via, "port 80 via "+forwarded.Probe.Via
	out["probe-port-forward"] = forwarded
	refused := healthy(t)
	refused.Probe = &snapshot.ProbeReport{Via: "port-forward to istio-ingress/istio-ingress-abc", Skipped: "you may not create pods/portforward in namespace istio-ingress"}
	out["probe-port-forward-refused"] = refused

	failing := healthy(t)
	failing.NamespaceLabels = map[string]string{}
	failing.Secrets = map[string]*snapshot.Secret{}
	failing.Probe.Hosts[0].Status, failing.Probe.Hosts[0].Body = 503, "no healthy upstream"
	out["failing"] = failing

	noIngress := healthy(t)
	noIngress.Gateways, noIngress.VirtualServices = nil, nil
	out["no-ingress"] = noIngress

	two := healthy(t)
	two.Gateways[0].Servers[0].TLS = &istio.ServerTLS{Mode: "SIMPLE", CredentialNames: []string{"opea-chatqna-tls", "opea-chatqna-ecdsa"}}
	out["credential-names-missing"] = two

	for _, in := range allInputs {
		s := healthy(t)
		s.Unread = map[snapshot.Input][]snapshot.Access{in: {{Verb: "list", Group: "example.io", Resource: "things", AllNamespaces: true},
			{Verb: "get", Resource: "secrets", Name: "tls", Namespace: "istio-ingress"}}}
		out["unread-"+string(in)] = s
	}
	return out
}

// namespaceResult is one namespace of an audit of many, as AuditAll makes
// it.
func namespaceResult(s *snapshot.Snapshot) audit.Result {
	return audit.Judge(s)
}

// goldenFleets are audits of many namespaces built from goldenSnapshots:
// one of each verdict, with what the search could not read and what secure
// left behind; one that found nothing but was refused reads; one that
// found nothing at all.
func goldenFleets(t *testing.T) map[string]*audit.FleetResult {
	snaps := goldenSnapshots(t)
	var results []audit.Result
	for _, c := range []struct{ ns, snapshot string }{
		{"a", "healthy"}, {"b", "failing"}, {"c", "unread-pods"}, {"d", "unread-rbac"}, {"e", "gatewayapi"},
	} {
		// Named apart in the table; each judged as the tests built it.
		r := namespaceResult(snaps[c.snapshot])
		r.Namespace = c.ns
		results = append(results, r)
	}
	unsearched := []snapshot.Access{{Verb: "list", Resource: "services", AllNamespaces: true}}
	leftovers := []read.Leftover{{Namespace: "gone", Objects: []string{"certificate.cert-manager.io/opea-gone-tls in istio-ingress", "issuer.cert-manager.io/opea-gone-ca in istio-ingress"},
		Secrets: []string{"istio-ingress/opea-gone-tls"}, Fix: "kubectl opea unsecure -n gone"}}
	secured := namespaceResult(snaps["gatewayapi-shared"])
	return map[string]*audit.FleetResult{
		"fleet":            {Namespaces: results, Unsearched: unsearched, Leftovers: leftovers},
		"fleet-secured":    {Namespaces: []audit.Result{secured}},
		"fleet-unsearched": {Unsearched: unsearched, Leftovers: leftovers},
		"fleet-empty":      {},
	}
}

// TestGoldenReports renders every golden snapshot as verify prints it: the
// table (with and without a terminal's glyphs and colours), -o short, -o
// json and -o yaml.
func TestGoldenReports(t *testing.T) {
	for name, s := range goldenSnapshots(t) {
		outcomes, forbidden := check.Run(s), s.Forbidden()
		golden(t, name+".table", func(w *bytes.Buffer) error {
			return Table(w, &audit.Result{Namespace: s.Namespace, Outcomes: outcomes, Forbidden: forbidden}, Style{}, false)
		})
		golden(t, name+".short", func(w *bytes.Buffer) error {
			return Table(w, &audit.Result{Namespace: s.Namespace, Outcomes: outcomes, Forbidden: forbidden}, Style{}, true)
		})
		golden(t, name+".terminal", func(w *bytes.Buffer) error {
			return Table(w, &audit.Result{Namespace: s.Namespace, Outcomes: outcomes, Forbidden: forbidden}, Style{Glyphs: true, Colour: true}, false)
		})
		// The documents and the matrix are the judged namespace's, its
		// reachability matrix with them.
		judged := audit.Judge(s)
		golden(t, name+".json", func(w *bytes.Buffer) error { return JSON(w, New(&judged)) })
		golden(t, name+".yaml", func(w *bytes.Buffer) error { return YAML(w, New(&judged)) })
		golden(t, name+".reachability", func(w *bytes.Buffer) error { return ReachabilityTable(w, &judged) })
	}
}

// TestGoldenFleetReports renders every golden audit of many namespaces as
// verify -A prints it.
func TestGoldenFleetReports(t *testing.T) {
	for name, f := range goldenFleets(t) {
		golden(t, name+".table", func(w *bytes.Buffer) error { return FleetTable(w, f, Style{}) })
		golden(t, name+".terminal", func(w *bytes.Buffer) error { return FleetTable(w, f, Style{Glyphs: true, Colour: true}) })
		golden(t, name+".short", func(w *bytes.Buffer) error { return FleetShort(w, f) })
		golden(t, name+".json", func(w *bytes.Buffer) error { return JSON(w, NewFleet("", f)) })
		golden(t, name+".yaml", func(w *bytes.Buffer) error { return YAML(w, NewFleet("team=rag", f)) })
	}
}

// TestGoldenNotRun renders the documents of an audit that could not run,
// as verify -o json and -o yaml print them.
func TestGoldenNotRun(t *testing.T) {
	const why = `namespace "chatqna" does not exist`
	golden(t, "not-run.json", func(w *bytes.Buffer) error {
		return JSON(w, NotRun("chatqna", errors.New(why)))
	})
	golden(t, "not-run.yaml", func(w *bytes.Buffer) error {
		return YAML(w, NotRun("chatqna", errors.New(why)))
	})
	golden(t, "fleet-not-run.json", func(w *bytes.Buffer) error {
		return JSON(w, FleetNotRun("team=rag", errors.New("cannot reach the cluster")))
	})
}

// golden compares what render writes with the golden file name, or
// rewrites the file with -update.
func golden(t *testing.T, name string, render func(*bytes.Buffer) error) {
	t.Helper()
	var got bytes.Buffer
	if err := render(&got); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (go test -run TestGolden -update writes it)", name, err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s differs from its golden file:\n--- want\n%s\n--- got\n%s", name, want, got.Bytes())
	}
}
