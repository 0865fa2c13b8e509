// Package gatewayemulator stands in for an Istio ingress gateway's Envoy in
// tests. It connects to a running istiod as the gateway proxy (as test/xds
// does), takes the listeners, routes, clusters and endpoints istiod sends
// (LDS, RDS, CDS, EDS), and serves on loopback what they say, so that a test
// sees the answer a client of the real gateway would get: the certificate,
// a redirect, a 403 from the gateway's RBAC, a 404 without a route, a 503
// without endpoints, or the app's own answer.
//
// It is a model of the subset istiod emits for ingress gateways, and test
// code only: the plugin binary must never import it.
//
// What it implements:
//
//   - One loopback listener (127.0.0.1, a free port) per LDS listener port;
//     Addr(port) reports the mapping.
//   - Filter chain choice as Envoy makes it, for the criteria destination
//     port, server_names (exact, then the longest "*.suffix") and
//     transport_protocol ("tls" or "raw_buffer"; the first byte of the
//     connection tells, as the tls_inspector would), then the listener's
//     default chain. A connection that matches no chain is closed.
//   - TLS termination with the certificates the chain's SDS configs name,
//     read from Kubernetes as istiod's SDS reads them (pilot/pkg/model/credentials,
//     pilot/pkg/credentials/kube, pilot/pkg/xds/sds.go): "kubernetes://<name>"
//     and "kubernetes://<ns>/<name>" only in the gateway's own namespace and
//     only if its service account may list Secrets there (a
//     SubjectAccessReview, as istiod asks); "kubernetes-gateway://<ns>/<name>"
//     as named (istiod emits it only for references it verified: same
//     namespace or a ReferenceGrant). The keys "cert"/"key" win over
//     "tls.crt"/"tls.key" when both are non-empty. Secrets are read when
//     Start or Refresh fetches the configuration: like Envoy, which serves
//     what SDS last pushed, the emulator serves a rotated Secret only after a
//     Refresh. With several certificates on a chain (credentialNames), the
//     choice is: those whose names cover the SNI (all when none does), then
//     the first ECDSA one if the client offers an ECDSA signature scheme,
//     else the first that is not ECDSA, else the first. TLS 1.2 and 1.3 as
//     the chain's tls_params allow; HTTP/1.1 only. A chain that requires a
//     client certificate refuses the connection (the emulator validates no
//     client certificate).
//   - The HTTP connection manager (route configuration inline or by RDS
//     name) and its http_filters, in order:
//     envoy.filters.http.jwt_authn as istiod writes it for
//     RequestAuthentications (pilot/pkg/security/authn/policy_applier.go):
//     providers with issuer, audiences and the JWKS istiod fetched and
//     inlined (local_jwks; RSA RS/PS 256-512 and EC P-256/P-384 keys,
//     chosen by kid and alg), tokens from from_headers with their prefix
//     and from_params, or Envoy's defaults (Authorization: Bearer, then
//     access_token); exp and nbf with Envoy's 60s skew; rules by path, and
//     requirements provider_name, provider_and_audiences, requires_any
//     (failures aggregated as Envoy's AnyVerifier does), requires_all,
//     allow_missing and allow_missing_or_failed; a verified payload goes to
//     the dynamic metadata under payload_in_metadata (scope, permission and
//     the normalize list split into lists), and without forward the token's
//     header is removed before the app sees the request. A refusal is 401
//     with the reason as the body, 403 for audiences.
//     envoy.filters.http.rbac is evaluated for the caller: DENY rules, then
//     ALLOW rules, LOG rules pass; shadow rules never change the answer,
//     but write Envoy's dynamic metadata (<prefix>shadow_effective_policy_id
//     and ...shadow_engine_result), where istiod's CUSTOM policies mark the
//     requests ext_authz must check.
//     envoy.filters.http.ext_authz as istiod writes it for an
//     envoyExtAuthzHttp provider: enabled by filter_enabled_metadata, it
//     asks the backend registered for the HTTP service's cluster (which
//     needs endpoints, as a route's does) with the method, path_prefix +
//     path, Authorization, Host, the allowed_headers and headers_to_add; a
//     200 passes the request with the allowed upstream headers, another
//     answer goes to the client as it is (a redirect is not followed) with
//     the allowed client headers, and no answer is status_on_error (403)
//     unless failure_mode_allow. A caller without a
//     client certificate has no principal: authenticated and filter-state
//     principals never match. Metadata matchers read the dynamic metadata
//     (jwt_authn's payload: istiod's request principals match its iss and
//     sub, request.auth.claims its claims), absent without a valid token.
//     A denial is "403 RBAC: access denied".
//     Passed through, because they cannot change the answer to a request:
//     envoy.filters.http.grpc_stats (counters); istio.stats (stats.PluginConfig,
//     counters); istio.metadata_exchange (io.istio.http.peer_metadata.Config:
//     peer metadata headers and filter state, which no rule reads for a
//     caller without a principal); istio.alpn
//     (istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig: the ALPN of
//     the upstream connection to the workload, which the emulator does not
//     make); envoy.filters.http.fault when neither its own config nor the
//     route's per-filter config injects a delay or an abort;
//     envoy.filters.http.cors for a request without an Origin header or when
//     no CORS policy applies.
//     envoy.filters.http.router carries out the route's action.
//     Any other filter, or a case of the above it cannot decide, answers 500
//     with a body naming the filter: never the app's answer.
//   - Routing: the virtual host by the Host header (an exact domain, then the
//     longest "*.suffix", then the longest "prefix*" such as istiod's
//     "host:*", then "*"; case-insensitive; strip_any_host_port and the
//     route configuration's ignore_port_in_host_matching honoured),
//     require_tls (a 301 to https for a plain request), route matches
//     (prefix, path, safe_regex, path_separated_prefix, case_sensitive,
//     headers, query_parameters), and the actions redirect (scheme, host,
//     port, path, strip_query, response code), direct_response (status and
//     inline body) and route to a cluster (one cluster, or a weighted split
//     where one cluster alone has weight; prefix_rewrite and
//     host_rewrite_literal applied). No virtual host or no route: 404.
//   - Upstream: the cluster's endpoints from EDS (or its inline
//     load_assignment); with at least one endpoint not marked unhealthy and a
//     backend registered for the cluster (Backend), the request is forwarded
//     to that loopback backend, which stands in for the app's entry Service;
//     otherwise "503 no healthy upstream". A cluster istiod did not send
//     answers 503 too.
//
// What it refuses (the request or the connection fails, never passes):
// jwt_authn's remote_jwks, from_cookies, headers written from the token
// and filter_state_rules; ext_authz's gRPC services, request bodies and
// runtime fractions; HTTP
// and network filters not listed above; RBAC conditions, matcher trees and
// custom matchers; route matches on gRPC, runtime fractions, TLS context,
// metadata or filter state; regex and template path rewrites, and prefix or
// regex rewrites in redirects; weighted splits over several clusters;
// filter chain match criteria other than those above; inline or file
// certificates.
//
// What it ignores, because it does not change the answer to the requests
// tests make: internal listeners (connect_originate carries the gateway's
// own upstream connections); listener filters (it always inspects);
// timeouts, retries, header additions and removals, access logs, tracing,
// path normalisation, cipher suites; the upstream transport (mTLS or HBONE
// to the workload: what ztunnel admits is judged apart, from what istiod
// sends ztunnel); load balancing and outlier detection.
//
// The configuration is what istiod sent when Start (or Refresh) asked; a
// test that changes the setup calls Refresh.
package gatewayemulator
