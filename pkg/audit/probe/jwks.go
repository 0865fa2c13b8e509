package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/internal/workers"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// maxJWKSBytes bounds what is read of a JWKS or discovery document.
const maxJWKSBytes = 1 << 20

// FetchKeys fetches from here, as istiod does from where it runs, the
// keys of the RequestAuthentications that may bind the application's
// gateways (those of the gateway pods' namespaces, of the Gateway API
// Gateways' and of the root namespace): each rule's jwksUri, or its
// issuer's OpenID discovery document and the jwks_uri it names. Inline
// keys are not fetched. It returns nil when there is nothing to fetch or
// what it needs could not be read.
func FetchKeys(ctx context.Context, s *snapshot.Snapshot, o Options) map[string]snapshot.JWKSFetch {
	if len(s.Refused(snapshot.InputRequestAuthentications, snapshot.InputGatewayPods, snapshot.InputGatewayAPIGateways)) > 0 {
		return nil
	}
	urls := keysURLs(s)
	if len(urls) == 0 {
		return nil
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	fetched := make([]snapshot.JWKSFetch, len(urls))
	tasks := make([]func(context.Context), len(urls))
	for i, u := range urls {
		tasks[i] = func(ctx context.Context) { fetched[i] = fetchKeys(ctx, u, o.Timeout) }
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	workers.Run(ctx, probeWorkers, tasks)
	out := make(map[string]snapshot.JWKSFetch, len(urls))
	for i, u := range urls {
		out[u] = fetched[i]
	}
	return out
}

// keysURLs are the URLs of the keys of the RequestAuthentications in the
// namespaces where one may bind the application's gateways, sorted.
func keysURLs(s *snapshot.Snapshot) []string {
	v := s.Scope()
	namespaces := map[string]bool{s.RootNamespace: true}
	for _, gw := range v.Gateways {
		for _, ns := range v.GatewayPodNamespaces(gw) {
			namespaces[ns] = true
		}
	}
	for _, gw := range v.APIGateways {
		namespaces[gw.Namespace] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, ra := range s.RequestAuthentications {
		if !namespaces[ra.Namespace] {
			continue
		}
		for _, r := range ra.JWTRules {
			if u := r.KeysURL(); u != "" && !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	sort.Strings(out)
	return out
}

// fetchKeys reads the key set at u; when u is an OpenID discovery
// document, the one its jwks_uri names.
func fetchKeys(ctx context.Context, u string, timeout time.Duration) snapshot.JWKSFetch {
	if ctx.Err() != nil {
		return snapshot.JWKSFetch{Err: fmt.Sprintf("not fetched: the probe's deadline (--probe-timeout %s) passed before its turn", timeout)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: timeout}
	defer client.CloseIdleConnections()
	var doc struct {
		Keys    []map[string]any `json:"keys"`
		JWKSURI string           `json:"jwks_uri"`
	}
	if err := getJSON(ctx, client, u, &doc); err != nil {
		return snapshot.JWKSFetch{Err: err.Error()}
	}
	out := snapshot.JWKSFetch{}
	if doc.Keys == nil && doc.JWKSURI != "" {
		out.Via, u = u, doc.JWKSURI
		doc.Keys = nil
		if err := getJSON(ctx, client, u, &doc); err != nil {
			out.Err = err.Error()
			return out
		}
	}
	for _, k := range doc.Keys {
		if kty, _ := k["kty"].(string); kty != "" {
			out.Keys++
		}
	}
	if out.Keys == 0 {
		out.Err = fmt.Sprintf("%s holds no key (no \"keys\" with a \"kty\")", u)
	}
	return out
}

// getJSON decodes the JSON document at u into out.
func getJSON(ctx context.Context, client *http.Client, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(out); err != nil {
		return fmt.Errorf("%s is not a JSON document: %v", u, err)
	}
	return nil
}
