package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// kwok runs the pods of the nodes it manages as a kubelet would report them:
// bound pods become Running and Ready with an address from PodCIDR, deleted
// ones go away, and each node's Lease is renewed so that the node lifecycle
// controller keeps it Ready. It runs no containers.
const (
	// NodeName is the one node of the local control plane, managed by kwok.
	NodeName = "kwok-node-0"
	// PodCIDR is where kwok gives pods their addresses; apart from the
	// Service range (10.0.0.0/16) so that istiod never confuses the two.
	PodCIDR = "10.244.0.0/16"
	// NodeIP is the node's InternalIP, the host address of its pods.
	NodeIP = "10.128.0.1"

	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	kwokModule         = "sigs.k8s.io/kwok"

	// kubeletHost is the node's InternalDNS name: kwok serves the node's
	// kubelet API (port-forward) on loopback, and the API server reaches
	// kubelets by that name (--kubelet-preferred-address-types).
	kubeletHost = "localhost"
)

// kwokCRDFiles are the CRDs of kwok's own module that the control plane
// installs before kwok starts: with them, a test tells kwok where to send
// the port-forwards of a pod (ClusterPortForward, see ForwardPodPorts).
var kwokCRDFiles = []string{"kustomize/crd/bases/kwok.x-k8s.io_clusterportforwards.yaml"}

// kwokStages are kwok's own default stages, as kwokctl configures a cluster
// with them: a node becomes Ready and keeps its Lease renewed; a pod becomes
// Ready, completes when its containers would, and is removed once deleted.
var kwokStages = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
}

// kwokUnthrottled gives kwok's pod stages 16 workers rather than 4: a
// stage's status patch waits on the API server, so more of them in flight
// keep kwok's node up with kube-scheduler's bindings. A configuration file
// is not defaulted as kwok defaults its flags: the rest are kwok's
// defaults, written out.
const kwokUnthrottled = `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: 16
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enableDebuggingHandlers: true
  enablePodsOnNodeSyncListPager: true
`

// writeKwokConfig writes kwok's stages, read from the kwok module the tools
// module builds kwok from, into one configuration file, with
// kwokUnthrottled when unthrottled.
func writeKwokConfig(ctx context.Context, dir string, unthrottled bool) (string, error) {
	moduleDir, err := moduleDirIn(ctx, filepath.Join(RepoRoot(), "test", "tools"), kwokModule)
	if err != nil {
		return "", err
	}
	var config bytes.Buffer
	for _, stage := range kwokStages {
		data, err := os.ReadFile(filepath.Join(moduleDir, stage))
		if err != nil {
			return "", fmt.Errorf("reading kwok's stage: %w", err)
		}
		config.WriteString("---\n")
		config.Write(data)
	}
	if unthrottled {
		config.WriteString("---\n" + kwokUnthrottled)
	}
	path := filepath.Join(dir, "kwok.yaml")
	return path, os.WriteFile(path, config.Bytes(), 0o644)
}

// loadKwokCRDs reads kwokCRDFiles from the kwok module the tools module
// builds kwok from.
func loadKwokCRDs(ctx context.Context) ([]*unstructured.Unstructured, error) {
	moduleDir, err := moduleDirIn(ctx, filepath.Join(RepoRoot(), "test", "tools"), kwokModule)
	if err != nil {
		return nil, err
	}
	var crds []*unstructured.Unstructured
	for _, f := range kwokCRDFiles {
		objs, err := readCRDFile(filepath.Join(moduleDir, f))
		if err != nil {
			return nil, err
		}
		crds = append(crds, objs...)
	}
	return crds, nil
}

// unthrottled are the flags that lift a controller's client rate limit
// when opts.Unthrottled, kwokctl's values.
func unthrottled(opts Options) []string {
	if !opts.Unthrottled {
		return nil
	}
	return []string{"--kube-api-qps=5000", "--kube-api-burst=10000"}
}

// kwokArgs are kwok's flags: it manages the nodes annotated for it, and
// serves their kubelet API on loopback port kubeletPort, where
// ClusterPortForwards say where each pod's ports go.
func kwokArgs(kubeconfig, config string, kubeletPort int) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--config=" + config,
		"--server-address=127.0.0.1:" + strconv.Itoa(kubeletPort),
		"--node-port=" + strconv.Itoa(kubeletPort),
		"--enable-crds=ClusterPortForward",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--cidr=" + PodCIDR,
		"--node-ip=" + NodeIP,
		// A lease, renewed by kwok, rather than status heartbeats: what
		// kubelets do, and what kwokctl sets up.
		"--node-lease-duration-seconds=" + strconv.Itoa(40),
	}
}

// createNode registers the node kwok manages, labelled as a kubelet labels
// its own node, so that DaemonSets with the usual node selectors place a pod
// on it. Its addresses are set at once, as a kubelet registers them: kwok
// keeps them, and the API server reaches kwok by the InternalDNS name.
func createNode(ctx context.Context, kube kubernetes.Interface) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        NodeName,
		Annotations: map[string]string{kwokNodeAnnotation: "fake"},
		Labels: map[string]string{
			"kubernetes.io/hostname": NodeName,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
			"type":                   "kwok",
		},
	}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: NodeIP},
		{Type: corev1.NodeHostName, Address: NodeName},
		{Type: corev1.NodeInternalDNS, Address: kubeletHost},
	}}}
	_, err := kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// waitNodeSchedulable waits for kwok to report the node Ready and for the
// node lifecycle controller to lift the not-ready taint the API server put
// on it at creation: from then on the scheduler places pods there.
func waitNodeSchedulable(ctx context.Context, cfg *rest.Config) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		node, err := kube.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, taint := range node.Spec.Taints {
			if taint.Effect == corev1.TaintEffectNoSchedule || taint.Effect == corev1.TaintEffectNoExecute {
				return false, nil
			}
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	}, "kwok to report node "+NodeName+" Ready and untainted")
}

// addressPoolPod is the pod that makes kwok's address pool (makeAddressPool).
const addressPoolPod = "kwok-address-pool"

// makeAddressPool runs one pod on kwok's node until kwok gives it an
// address, then deletes it, so that the pods tests start concurrently all
// find the node's address pool made. kwok v0.8.0 makes a pool when a pod
// of a CIDR first needs an address (PodController.ipPool, called by the
// PodIPsWith of the pod-ready stage): it looks the CIDR up and, missing,
// stores a new pool, a load then a store rather than a LoadOrStore. Two
// pods that both come first each make a pool, and both pools hand out the
// CIDR's first address. Pools are kept for kwok's lifetime: a deleted
// pod's address goes back into the same pool (recyclingPodIP) and nothing
// removes a pool. Pools are keyed by CIDR, not by node: kwok-node-0 has no
// PodCIDR of its own, so its pods use kwok's --cidr, and so does this one.
func makeAddressPool(ctx context.Context, kube kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	pods := kube.CoreV1().Pods(metav1.NamespaceDefault)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: addressPoolPod},
		Spec: corev1.PodSpec{
			// Bound at once: the scheduler has nothing to choose.
			NodeName:   NodeName,
			Containers: []corev1.Container{{Name: addressPoolPod, Image: addressPoolPod}},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating pod %s: %w", addressPoolPod, err)
	}
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		p, err := pods.Get(ctx, addressPoolPod, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", nil
	}, "kwok to run pod "+addressPoolPod+" with an address")
	if err != nil {
		return err
	}
	if err := pods.Delete(ctx, addressPoolPod, *metav1.NewDeleteOptions(0)); err != nil {
		return fmt.Errorf("deleting pod %s: %w", addressPoolPod, err)
	}
	return poll(ctx, 50*time.Millisecond, func() (bool, error) {
		_, err := pods.Get(ctx, addressPoolPod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}, "pod "+addressPoolPod+" to be gone")
}
