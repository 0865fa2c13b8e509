package istio

import "testing"

func TestMeshConfigLocation(t *testing.T) {
	for _, c := range []struct {
		name     string
		istiods  []Istiod
		ns, cm   string
		notFound bool
	}{
		{name: "no istiod", notFound: true},
		{name: "the default revision", istiods: []Istiod{{Namespace: "istio-system"}}, ns: "istio-system", cm: "istio"},
		{name: "rev=default is the default revision", istiods: []Istiod{{Namespace: "mesh", Labels: map[string]string{"istio.io/rev": "default"}}}, ns: "mesh", cm: "istio"},
		{name: "a revision only", istiods: []Istiod{{Namespace: "istio-system", Labels: map[string]string{"istio.io/rev": "1-24"}}}, ns: "istio-system", cm: "istio-1-24"},
		{name: "the default revision is preferred", istiods: []Istiod{
			{Namespace: "canary", Labels: map[string]string{"istio.io/rev": "canary"}},
			{Namespace: "istio-control"},
		}, ns: "istio-control", cm: "istio"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns, cm, ok := MeshConfigLocation(c.istiods)
			if ok == c.notFound || ns != c.ns || cm != c.cm {
				t.Errorf("MeshConfigLocation = %s/%s, %v; want %s/%s, %v", ns, cm, ok, c.ns, c.cm, !c.notFound)
			}
		})
	}
}

func TestParseMeshSettings(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want MeshSettings
		err  bool
	}{
		{yaml: "", want: MeshSettings{"istio-system", "cluster.local"}},
		{yaml: "rootNamespace: mesh-root\ntrustDomain: corp.example\n", want: MeshSettings{"mesh-root", "corp.example"}},
		{yaml: "trust_domain: proto.example\n", want: MeshSettings{"istio-system", "proto.example"}},
		{yaml: "rootNamespace: [", err: true},
	} {
		got, err := ParseMeshSettings(c.yaml)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseMeshSettings(%q) = %+v, %v; want %+v, error %v", c.yaml, got, err, c.want, c.err)
		}
	}
}
