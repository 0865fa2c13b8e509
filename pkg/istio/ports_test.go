package istio

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestServiceTargetsResolveNamedPortsLikeIstiod(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := ContainerPorts(corev1.PodSpec{
		Containers:     []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 8443}, {Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}},
		InitContainers: []corev1.Container{{RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "sidecar", ContainerPort: 7000}}}, {Ports: []corev1.ContainerPort{{Name: "init", ContainerPort: 7001}}}},
	})
	ports := []corev1.ServicePort{
		{Port: 443, TargetPort: intstr.FromString("https")},
		{Port: 53, TargetPort: intstr.FromString("dns")},                                 // TCP: no TCP port named dns
		{Port: 5353, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP}, // UDP: found
		{Port: 7000, TargetPort: intstr.FromString("sidecar")},                           // native sidecar
		{Port: 7001, TargetPort: intstr.FromString("init")},                              // plain init container: not searched
		{Port: 80, TargetPort: intstr.FromInt32(8080)},
		{Port: 15021},
	}
	want := []ServiceTarget{{443, 8443}, {5353, 53}, {7000, 7000}, {80, 8080}, {15021, 15021}}
	if diff := cmp.Diff(want, ServiceTargets(ports, pod)); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestResolveServerPort(t *testing.T) {
	legacy := []ServiceTarget{{Port: 80, TargetPort: 8080}, {Port: 443, TargetPort: 8443}}
	for _, tc := range []struct {
		name    string
		targets []ServiceTarget
		number  int32
		want    int32
	}{
		{"a Service port translates to its targetPort", legacy, 443, 8443},
		{"a pod port is used as is", legacy, 8443, 8443},
		{"any other number as is", legacy, 9999, 9999},
		{"the first Service port wins", []ServiceTarget{{443, 8443}, {443, 9443}}, 443, 8443},
		{"no Service", nil, 443, 443},
	} {
		if got := ResolveServerPort(tc.targets, tc.number); got != tc.want {
			t.Errorf("%s: ResolveServerPort(%d) = %d, want %d", tc.name, tc.number, got, tc.want)
		}
	}
}
