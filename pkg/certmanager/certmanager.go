// Package certmanager holds what kubectl-opea knows about cert-manager: its
// resources, the annotation it puts on the Secrets it writes, and how to
// read the Ready condition it sets. secure, verify and unsecure share it.
package certmanager

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is cert-manager's API group.
const Group = "cert-manager.io"

// Version is the API version kubectl-opea writes and reads.
const Version = "v1"

// CertificateNameAnnotation names, on a Secret cert-manager wrote, the
// Certificate it wrote the Secret for.
const CertificateNameAnnotation = "cert-manager.io/certificate-name"

var (
	Certificates   = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "certificates"}
	Issuers        = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "issuers"}
	ClusterIssuers = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "clusterissuers"}
)

// IssuerResource is the resource of an issuer kind: Issuer or ClusterIssuer.
func IssuerResource(kind string) (schema.GroupVersionResource, bool) {
	switch kind {
	case "Issuer":
		return Issuers, true
	case "ClusterIssuer":
		return ClusterIssuers, true
	}
	return schema.GroupVersionResource{}, false
}

// Ready reads the Ready condition cert-manager sets on Certificates and
// issuers: whether it is True, and its message. A condition written for an
// older generation of the object (observedGeneration below
// metadata.generation) says nothing about its current spec: it is not Ready.
func Ready(u *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		cond, _ := c.(map[string]interface{})
		if cond["type"] != "Ready" {
			continue
		}
		msg, _ := cond["message"].(string)
		if observed, found, _ := unstructured.NestedInt64(cond, "observedGeneration"); found && observed != u.GetGeneration() {
			return false, fmt.Sprintf("the Ready condition is for generation %d, the object is at %d: cert-manager has not processed the change yet", observed, u.GetGeneration())
		}
		return cond["status"] == "True", strings.TrimSpace(msg)
	}
	return false, "no Ready condition"
}
