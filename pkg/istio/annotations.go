package istio

// RedirectionAnnotation is the annotation istio-cni writes on a pod whose
// traffic it redirects to ztunnel ("enabled"): the pod is in the ambient
// mesh.
const RedirectionAnnotation = "ambient.istio.io/redirection"
