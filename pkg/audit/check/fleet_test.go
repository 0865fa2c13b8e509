package check

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// rootOf is a new CA's PEM and its SHA-256 fingerprint.
func rootOf(t *testing.T) (string, string) {
	t.Helper()
	cred := testpki.MustIssue(t, testpki.Leaf{DNSNames: []string{"istiod.istio-system.svc"}})
	block, _ := pem.Decode(cred.CAPEM)
	sum := sha256.Sum256(block.Bytes)
	return string(cred.CAPEM), hex.EncodeToString(sum[:])
}

func TestTrustRoot(t *testing.T) {
	rootA, printA := rootOf(t)
	rootB, printB := rootOf(t)
	mesh := func(context, meshID, trustDomain, root string) ContextMesh {
		return ContextMesh{Context: context, MeshIdentity: snapshot.MeshIdentity{Istiod: true, IstiodNamespace: "istio-system", MeshID: meshID, TrustDomain: trustDomain, RootCert: root}}
	}
	for _, tc := range []struct {
		name   string
		meshes []ContextMesh
		want   Result
	}{{
		name:   "one mesh, one root",
		meshes: []ContextMesh{mesh("dev", "", "cluster.local", rootA), mesh("prod", "", "cluster.local", rootA)},
		want:   Result{Status: Pass, Message: "mesh cluster.local (dev, prod): trust domain cluster.local, root SHA-256 " + printA},
	}, {
		name:   "one mesh, two roots: both fingerprints",
		meshes: []ContextMesh{mesh("dev", "", "cluster.local", rootA), mesh("prod", "", "cluster.local", rootB)},
		want:   Result{Status: Warn, Message: "mesh cluster.local: roots differ: dev SHA-256 " + printA + ", prod SHA-256 " + printB, Hint: trustRootHint},
	}, {
		name:   "one mesh ID, two trust domains",
		meshes: []ContextMesh{mesh("dev", "mesh1", "dev.example", rootA), mesh("prod", "mesh1", "prod.example", rootA)},
		want:   Result{Status: Warn, Message: "mesh mesh1: trust domains differ: dev dev.example, prod prod.example", Hint: trustRootHint},
	}, {
		name: "meshes apart on purpose are not compared",
		meshes: []ContextMesh{mesh("dev", "", "dev.example", rootA), mesh("prod", "", "prod.example", rootB),
			mesh("eu", "mesh-eu", "cluster.local", rootA), mesh("us", "mesh-us", "cluster.local", rootB)},
		want: Result{Status: Skip, Message: "no two contexts share a mesh (the same meshId, or the same trust domain where none is set)"},
	}, {
		name: "a cluster without istiod is in no mesh",
		meshes: []ContextMesh{mesh("dev", "", "cluster.local", rootA), mesh("prod", "", "cluster.local", rootA), mesh("stage", "", "cluster.local", rootB),
			{Context: "bare", MeshIdentity: snapshot.MeshIdentity{TrustDomain: "cluster.local"}}},
		want: Result{Status: Warn, Message: "mesh cluster.local: roots differ: dev SHA-256 " + printA + ", prod SHA-256 " + printA + ", stage SHA-256 " + printB, Hint: trustRootHint},
	}, {
		name:   "a root not published yet",
		meshes: []ContextMesh{mesh("dev", "", "cluster.local", rootA), mesh("prod", "", "cluster.local", "")},
		want:   Result{Status: Warn, Message: "mesh cluster.local: prod has no istio-ca-root-cert in istio-system", Hint: trustRootHint},
	}, {
		name:   "a root that is no certificate",
		meshes: []ContextMesh{mesh("dev", "", "cluster.local", rootA), mesh("prod", "", "cluster.local", "garbage")},
		want:   Result{Status: Warn, Message: "mesh cluster.local: roots differ: dev SHA-256 " + printA + ", prod SHA-256 (no certificate in root-cert.pem)", Hint: trustRootHint},
	}, {
		name: "a refused read: could not compare, never a pass",
		meshes: []ContextMesh{mesh("dev", "", "cluster.local", rootA),
			{Context: "prod", MeshIdentity: snapshot.MeshIdentity{Istiod: true, TrustDomain: "cluster.local",
				Unread: []snapshot.Access{{Verb: "get", Resource: "configmaps", Name: "istio-ca-root-cert", Namespace: "istio-system"}}}}},
		want: Result{Status: Unknown, Message: "could not compare the meshes' roots: in prod you may not get configmaps \"istio-ca-root-cert\" in namespace istio-system"},
	}, {
		name:   "one context",
		meshes: []ContextMesh{mesh("dev", "", "cluster.local", rootA)},
		want:   Result{Status: Skip, Message: "no two contexts share a mesh (the same meshId, or the same trust domain where none is set)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			outcomes := RunFleet(tc.meshes)
			if len(outcomes) != 1 || outcomes[0].ID != "fleet.trust-root" || outcomes[0].Category != CategoryFleet {
				t.Fatalf("outcomes: %+v", outcomes)
			}
			if diff := cmp.Diff(tc.want, outcomes[0].Result); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A bundle of two roots (one being rotated in) is told from either alone.
func TestRootFingerprintOfABundle(t *testing.T) {
	rootA, printA := rootOf(t)
	rootB, printB := rootOf(t)
	if got := rootFingerprint(rootA + rootB); got != printA+"+"+printB {
		t.Errorf("bundle: %s", got)
	}
	if strings.Contains(rootFingerprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "+") {
		t.Error("a block that does not parse counts as a root")
	}
}
