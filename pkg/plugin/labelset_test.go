package plugin

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLabelSet(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "istio=ingress", want: map[string]string{"istio": "ingress"}},
		{in: "app=istio-ingress, istio=ingress", want: map[string]string{"app": "istio-ingress", "istio": "ingress"}},
		{in: "example.com/role=gw", want: map[string]string{"example.com/role": "gw"}},
		{in: "a=", want: map[string]string{"a": ""}},
		{in: "a=b,a=c", wantErr: "label a is given twice (b and c)"},
		{in: "a=b,a=b", wantErr: "label a is given twice"},
		{in: "istio", wantErr: `"istio" is not key=value`},
		{in: "a!=b", wantErr: `label key "a!"`},
		{in: "a==b", wantErr: `"a==b" is not key=value`},
		{in: "=b", wantErr: `"=b" is not key=value`},
		{in: "a=b,", wantErr: `"" is not key=value`},
		{in: "a=b c", wantErr: `label value "b c"`},
	} {
		got, err := parseLabelSet(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}
