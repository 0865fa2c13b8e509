package check

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// CategoryFleet holds the checks that compare kube contexts with one
// another (verify --contexts), reported once for the whole fleet.
const CategoryFleet = "Fleet"

// ContextMesh is the mesh identity read in one kube context.
type ContextMesh struct {
	Context string
	snapshot.MeshIdentity
}

// FleetCheck is one row of the fleet catalogue: a pure function of what
// every context's mesh identity is.
type FleetCheck struct {
	ID          string
	Description string
	Run         func([]ContextMesh) Result
}

// FleetCatalogue is every check verify --contexts runs across the contexts,
// each with an anchor in docs/checks.md.
var FleetCatalogue = []FleetCheck{
	{ID: "fleet.trust-root", Description: "contexts of one mesh share its root certificate and trust domain", Run: checkTrustRoot},
}

// RunFleet runs the fleet catalogue over the contexts' mesh identities.
func RunFleet(meshes []ContextMesh) []Outcome {
	out := make([]Outcome, 0, len(FleetCatalogue))
	for _, c := range FleetCatalogue {
		out = append(out, Outcome{Check: Check{ID: c.ID, Category: CategoryFleet, Description: c.Description}, Result: c.Run(meshes)})
	}
	return out
}

const trustRootHint = "give every cluster of the mesh the same root CA (https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/) and trust domain; clusters meant to be separate meshes should set their own meshConfig.defaultConfig.meshId (Helm: global.meshID)"

// checkTrustRoot compares the contexts that share a mesh: the same mesh ID,
// or, where none is set, the same trust domain (Istio's multicluster
// installs set global.meshID alike in every cluster of one mesh). Within a
// mesh, workloads of one cluster trust those of another only if both roots
// and trust domains agree. Contexts without istiod are in no mesh.
func checkTrustRoot(meshes []ContextMesh) Result {
	var unread []string
	for _, m := range meshes {
		if len(m.Unread) > 0 {
			unread = append(unread, fmt.Sprintf("in %s you may not %s", m.Context, snapshot.AccessList(m.Unread)))
		}
	}
	if len(unread) > 0 {
		return Result{Status: Unknown, Message: "could not compare the meshes' roots: " + strings.Join(unread, "; ")}
	}
	groups := map[string][]ContextMesh{}
	for _, m := range meshes {
		if m.Istiod {
			groups[meshKey(m.MeshIdentity)] = append(groups[meshKey(m.MeshIdentity)], m)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var findings, agreements []string
	for _, k := range keys {
		g := groups[k]
		if len(g) < 2 {
			continue
		}
		if differences := meshDifferences(g); len(differences) > 0 {
			findings = append(findings, fmt.Sprintf("mesh %s: %s", k, strings.Join(differences, "; ")))
			continue
		}
		agreements = append(agreements, fmt.Sprintf("mesh %s (%s): trust domain %s, root SHA-256 %s", k, contextNames(g), g[0].TrustDomain, rootFingerprint(g[0].RootCert)))
	}
	switch {
	case len(findings) > 0:
		return warn(trustRootHint, "%s", strings.Join(findings, "\n    "))
	case len(agreements) == 0:
		return skip("no two contexts share a mesh (the same meshId, or the same trust domain where none is set)")
	}
	return pass("%s", strings.Join(agreements, "; "))
}

// meshKey names a context's mesh: its mesh ID, else its trust domain.
func meshKey(id snapshot.MeshIdentity) string {
	if id.MeshID != "" {
		return id.MeshID
	}
	return id.TrustDomain
}

// meshDifferences says how the contexts of one mesh disagree: a missing
// root, different trust domains (possible only under one mesh ID), or
// different roots, each with every context's value.
func meshDifferences(g []ContextMesh) []string {
	var out []string
	var missing []string
	for _, m := range g {
		if m.RootCert == "" {
			missing = append(missing, fmt.Sprintf("%s has no %s in %s", m.Context, istio.RootCertConfigMap, m.IstiodNamespace))
		}
	}
	if len(missing) > 0 {
		return missing
	}
	if !same(g, func(m ContextMesh) string { return m.TrustDomain }) {
		out = append(out, "trust domains differ: "+each(g, func(m ContextMesh) string { return m.TrustDomain }))
	}
	if !same(g, func(m ContextMesh) string { return rootFingerprint(m.RootCert) }) {
		out = append(out, "roots differ: "+each(g, func(m ContextMesh) string { return "SHA-256 " + rootFingerprint(m.RootCert) }))
	}
	return out
}

func same(g []ContextMesh, value func(ContextMesh) string) bool {
	for _, m := range g[1:] {
		if value(m) != value(g[0]) {
			return false
		}
	}
	return true
}

// each is every context with its value: "dev cluster.local, prod example.org".
func each(g []ContextMesh, value func(ContextMesh) string) string {
	parts := make([]string, len(g))
	for i, m := range g {
		parts[i] = m.Context + " " + value(m)
	}
	return strings.Join(parts, ", ")
}

func contextNames(g []ContextMesh) string {
	names := make([]string, len(g))
	for i, m := range g {
		names[i] = m.Context
	}
	return strings.Join(names, ", ")
}

// rootFingerprint is the SHA-256 of each certificate in the PEM bundle, in
// hex, joined by "+" (a bundle holds several roots while one is rotated);
// what is no certificate says so.
func rootFingerprint(bundle string) string {
	roots, err := snapshot.Certificates([]byte(bundle))
	if err != nil {
		return "(a certificate in " + istio.RootCertKey + " does not parse)"
	}
	var prints []string
	for _, root := range roots {
		sum := sha256.Sum256(root.Raw)
		prints = append(prints, hex.EncodeToString(sum[:]))
	}
	if len(prints) == 0 {
		return "(no certificate in " + istio.RootCertKey + ")"
	}
	return strings.Join(prints, "+")
}
