// Package audit judges whether an OPEA application's TLS ingress and strict
// mTLS are in place and effective: Audit for one namespace, AuditAll for
// every namespace holding an OPEA application. Each reads the cluster once
// into snapshots (package read), probes the gateways (package probe), runs
// the catalogue of checks on each snapshot (package check) and concludes
// with one Verdict, which decides the report's last line, its success and
// the exit code; package report renders the results.
package audit
