package controlplane

import (
	"context"
	"net"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// A Deployment becomes a ReplicaSet and pods that the scheduler binds to
// kwok's node and kwok runs, each with its own address from PodCIDR: the
// Deployment's two pods are the first of the test and start together, as
// kwok v0.8.0 can give both the same address unless Start made the node's
// address pool first (makeAddressPool). The Deployment
// controller counts them ready and the EndpointSlice controller lists them
// for their Service. A deleted pod goes away (kwok's pod-delete stage) and
// the ReplicaSet replaces it.
func TestKwokRunsThePodsOfADeployment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{SkipCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	kube, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	const ns = "default"
	labels := map[string]string{"app": "web"}
	replicas := int32(2)
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	_, podCIDR, _ := net.ParseCIDR(PodCIDR)
	var running []corev1.Pod
	waitUntil(ctx, t, "the Deployment's two pods running on "+NodeName, func() bool {
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		running = nil
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Spec.NodeName == NodeName &&
				p.Status.PodIP != "" && podCIDR.Contains(net.ParseIP(p.Status.PodIP)) && isReady(p) {
				running = append(running, p)
			}
		}
		return len(running) == 2
	})
	if running[0].Status.PodIP == running[1].Status.PodIP {
		t.Errorf("both pods have address %s", running[0].Status.PodIP)
	}
	waitUntil(ctx, t, "the Deployment controller to count two ready replicas", func() bool {
		d, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Status.ReadyReplicas == 2 && d.Status.AvailableReplicas == 2
	})
	waitUntil(ctx, t, "the EndpointSlice controller to list both pods for Service web", func() bool {
		return len(readyEndpoints(ctx, t, kube, ns, "web")) == 2
	})

	gone := running[0]
	if err := kube.CoreV1().Pods(ns).Delete(ctx, gone.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "pod "+gone.Name+" to be removed and replaced", func() bool {
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range pods.Items {
			if p.UID == gone.UID {
				return false
			}
			if p.Status.Phase == corev1.PodRunning && isReady(p) {
				ready++
			}
		}
		endpoints := readyEndpoints(ctx, t, kube, ns, "web")
		return ready == 2 && len(endpoints) == 2 && !endpoints[gone.Name]
	})
}

func isReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyEndpoints are the pods of the ready endpoints the EndpointSlices of
// Service ns/name list. (kwok may give a new pod the address of a deleted
// one.)
func readyEndpoints(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns, name string) map[string]bool {
	t.Helper()
	slices, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]bool{}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready && e.TargetRef != nil {
				pods[e.TargetRef.Name] = true
			}
		}
	}
	return pods
}

// waitUntil polls done every 100 ms until it holds, failing the test when
// ctx ends first.
func waitUntil(ctx context.Context, t *testing.T, what string, done func() bool) {
	t.Helper()
	for !done() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
