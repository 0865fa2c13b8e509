// Package audit judges whether an OPEA application's TLS ingress and strict
// mTLS are in place and effective. It reads the cluster once into a
// snapshot, then runs a catalogue of checks, each a pure function of the
// snapshot, and renders their results.
package audit
