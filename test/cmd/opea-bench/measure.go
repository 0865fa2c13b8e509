package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// chatQnAServices is how many Services fixtures.CreateChatQnAServices makes.
const chatQnAServices = 9

// analyzeFoundIssues is istioctl's exit code when analyzers report an error
// (sysexits.go, ExitAnalyzerFoundIssues): a finished analysis.
const analyzeFoundIssues = 79

// tool is one command to measure: a binary, its arguments, and how to tell a
// run that did its job from one that did not.
type tool struct {
	name string
	bin  string
	args []string
	// env is added to the run's environment.
	env   []string
	check func(code int, stdout, stderr []byte) error
}

// sample is what one run of a tool cost.
type sample struct {
	code     int
	wall     time.Duration
	rssKiB   int64
	requests int64
	byKind   map[string]int64
}

// measurement summarises the measured runs of one tool in one scenario.
type measurement struct {
	wall     time.Duration // median
	rssKiB   int64         // the largest of any run
	requests float64       // median
	byKind   map[string]int64
}

// scenarioResult is one scenario's numbers for both tools.
type scenarioResult struct {
	name string
	// pods are the pods of the cluster (of each context) measured.
	pods    int
	skipped string // why the scenario did not run, when it did not
	verify  measurement
	analyze measurement
}

// runScenarios populates, measures and clears each scenario in turn.
func (b *bench) runScenarios(ctx context.Context) ([]scenarioResult, error) {
	var results []scenarioResult
	if b.cfg.scenarios["a"] {
		a, err := b.scenarioA(ctx)
		if err != nil {
			return nil, err
		}
		results = append(results, a)
	}
	if !b.cfg.scenarios["b"] {
		return results, nil
	}
	ok, err := b.verifyHasAllNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		progress("skipping scenario (b): this kubectl-opea's verify has no --all-namespaces")
		return append(results, scenarioResult{name: b.nameB(), skipped: "this kubectl-opea's verify has no --all-namespaces"}), nil
	}
	bRes, err := b.scenarioB(ctx)
	if err != nil {
		return nil, err
	}
	results = append(results, bRes)
	if !b.cfg.scenarios["c"] {
		return results, nil
	}
	cRes, err := b.scenarioC(ctx)
	if err != nil {
		return nil, err
	}
	return append(results, cRes), nil
}

// fleetContexts are scenario (c)'s kube contexts.
var fleetContexts = []string{"bench-1", "bench-2", "bench-3"}

// scenarioC is scenario (b)'s cluster as three kube contexts: one
// verify -A --contexts against istioctl analyze -A once per context, as
// istioctl has no way to analyze several contexts in one run. The three
// contexts reach the same cluster through the proxy, so that each tool
// reads what three clusters like (b)'s would hold, and the scenario needs
// no more API servers.
func (b *bench) scenarioC(ctx context.Context) (scenarioResult, error) {
	name := fmt.Sprintf("(c) -A, %d contexts: %d namespaces × %d pods each", len(fleetContexts), b.cfg.b.namespaces, b.cfg.b.pods)
	progress("scenario %s", name)
	kubeconfig := filepath.Join(b.work, "fleet.kubeconfig")
	if err := b.proxy.writeKubeconfigWithContexts(kubeconfig, fleetContexts...); err != nil {
		return scenarioResult{}, err
	}
	verify := tool{name: "kubectl-opea verify", bin: b.plugin,
		args:  []string{"--kubeconfig", kubeconfig, "--cache-dir", b.cacheDir, "verify", "--probe-via", "address", "-A", "--contexts", strings.Join(fleetContexts, ","), "-o", "json"},
		check: checkAllNamespacesReport(len(fleetContexts) * b.cfg.b.namespaces)}
	// One shell runs istioctl once per context, as a user would; its peak
	// RSS is that of the largest of them.
	script := `for c in "$@"; do "$ISTIOCTL" analyze --kubeconfig "$KUBECONFIG_FILE" --context "$c" -A --color=false; code=$?; [ $code -eq 0 ] || [ $code -eq ` + strconv.Itoa(analyzeFoundIssues) + ` ] || exit $code; done`
	analyze := tool{name: "istioctl analyze", bin: "/bin/sh",
		args:  append([]string{"-c", script, "sh"}, fleetContexts...),
		env:   []string{"ISTIOCTL=" + b.bins.Istioctl, "KUBECONFIG_FILE=" + kubeconfig},
		check: checkAnalysis}
	res, err := b.compare(ctx, name, verify, analyze)
	res.pods = b.cfg.b.namespaces * b.cfg.b.pods
	return res, err
}

// scenarioA is one large namespace: verify -n against analyze -n.
func (b *bench) scenarioA(ctx context.Context) (scenarioResult, error) {
	const ns = "opea-a"
	name := fmt.Sprintf("(a) -n: 1 namespace, %d pods, %d Services", b.cfg.a.pods, b.cfg.a.services+chatQnAServices)
	progress("scenario %s", name)
	if err := b.populate(ctx, []string{ns}, b.cfg.a); err != nil {
		return scenarioResult{}, err
	}
	res, err := b.compare(ctx, name, b.verifyTool(checkNamespaceReport, "-n", ns), b.analyzeTool("-n", ns))
	if err != nil {
		return scenarioResult{}, err
	}
	res.pods = b.cfg.a.pods
	// Scenario (b)'s -A is to see its own namespaces only.
	progress("removing scenario (a)'s namespace")
	return res, b.tearDown(ctx, []string{ns})
}

func (b *bench) nameB() string {
	return fmt.Sprintf("(b) -A: %d namespaces × %d pods, %d Services", b.cfg.b.namespaces, b.cfg.b.pods, b.cfg.b.services+chatQnAServices)
}

// scenarioB is many namespaces: verify -A against analyze -A.
func (b *bench) scenarioB(ctx context.Context) (scenarioResult, error) {
	name := b.nameB()
	progress("scenario %s", name)
	var namespaces []string
	for i := range b.cfg.b.namespaces {
		namespaces = append(namespaces, fmt.Sprintf("opea-b-%02d", i+1))
	}
	if err := b.populate(ctx, namespaces, b.cfg.b); err != nil {
		return scenarioResult{}, err
	}
	res, err := b.compare(ctx, name, b.verifyTool(checkAllNamespacesReport(len(namespaces)), "-A"), b.analyzeTool("-A"))
	res.pods = b.cfg.b.namespaces * b.cfg.b.pods
	return res, err
}

// verifyHasAllNamespaces reports whether the plugin measured knows
// verify -A (scenario b).
func (b *bench) verifyHasAllNamespaces(ctx context.Context) (bool, error) {
	out, err := exec.CommandContext(ctx, b.plugin, "verify", "--help").Output()
	if err != nil {
		return false, fmt.Errorf("kubectl-opea verify --help: %w", err)
	}
	return bytes.Contains(out, []byte("--all-namespaces")), nil
}

// verifyTool is kubectl-opea verify, through the proxy, with JSON output
// that check judges. Its probe goes to an address only: the bench's
// cluster has none, and istioctl analyze probes nothing, so both tools
// judge what the API server holds.
func (b *bench) verifyTool(check func(code int, stdout, stderr []byte) error, scope ...string) tool {
	args := append([]string{"--kubeconfig", b.toolKubeconfig, "--cache-dir", b.cacheDir, "verify", "--probe-via", "address"}, scope...)
	return tool{name: "kubectl-opea verify", bin: b.plugin, args: append(args, "-o", "json"), check: check}
}

// analyzeTool is istioctl analyze of the live cluster, through the proxy.
func (b *bench) analyzeTool(scope ...string) tool {
	args := append([]string{"analyze", "--kubeconfig", b.toolKubeconfig, "--color=false"}, scope...)
	return tool{name: "istioctl analyze", bin: b.bins.Istioctl, args: args, check: checkAnalysis}
}

// checkNamespaceReport accepts a verify -n run that printed its report:
// exit code 0 (nothing failed) or 1 (a check failed).
func checkNamespaceReport(code int, stdout, _ []byte) error {
	if code != 0 && code != 1 {
		return fmt.Errorf("exit code %d, want 0 or 1", code)
	}
	var report map[string]json.RawMessage
	if err := json.Unmarshal(stdout, &report); err != nil {
		return fmt.Errorf("no JSON report: %w", err)
	}
	if _, ok := report["categories"]; !ok {
		return errors.New(`the JSON report has no "categories"`)
	}
	return nil
}

// checkAllNamespacesReport accepts a verify -A run that printed one report
// per OPEA namespace, want of them.
func checkAllNamespacesReport(want int) func(code int, stdout, stderr []byte) error {
	return func(code int, stdout, _ []byte) error {
		if code != 0 && code != 1 {
			return fmt.Errorf("exit code %d, want 0 or 1", code)
		}
		var report struct {
			Namespaces []json.RawMessage `json:"namespaces"`
		}
		if err := json.Unmarshal(stdout, &report); err != nil {
			return fmt.Errorf("no JSON report: %w", err)
		}
		if len(report.Namespaces) != want {
			return fmt.Errorf("the JSON report has %d namespaces, want %d", len(report.Namespaces), want)
		}
		return nil
	}
}

// connectionTrouble is what istioctl prints when it could not read the
// cluster; analyze can still end with code 0 then, having analyzed nothing.
var connectionTrouble = []string{"connection refused", "dial tcp", "x509", "unauthorized", "forbidden", "timed out", "timeout", "error"}

// checkAnalysis accepts an istioctl analyze run that analyzed the cluster:
// exit code 0, or 79 when an analyzer reported an error, and no sign of
// trouble talking to the cluster.
func checkAnalysis(code int, stdout, stderr []byte) error {
	if code != 0 && code != analyzeFoundIssues {
		return fmt.Errorf("exit code %d, want 0 or %d", code, analyzeFoundIssues)
	}
	for _, line := range strings.Split(strings.ToLower(string(stderr)), "\n") {
		// How exit code 79 is explained, not a failure to analyze.
		if strings.HasPrefix(line, "error: analyzers found issues") || strings.HasPrefix(line, "see https://istio.io/") {
			continue
		}
		for _, s := range connectionTrouble {
			if strings.Contains(line, s) {
				return fmt.Errorf("stderr mentions %q", s)
			}
		}
	}
	if !bytes.Contains(stdout, []byte("[IST")) && !bytes.Contains(stderr, []byte("No validation issues found")) {
		return errors.New("printed neither analyzer messages nor 'No validation issues found'")
	}
	return nil
}

// compare runs each tool once to warm up, then cfg.runs times, alternating
// between them, and summarises the measured runs.
func (b *bench) compare(ctx context.Context, name string, verify, analyze tool) (scenarioResult, error) {
	if err := waitQuiet(ctx); err != nil {
		return scenarioResult{}, err
	}
	tools := []tool{verify, analyze}
	samples := make([][]sample, len(tools))
	for i := 0; i <= b.cfg.runs; i++ {
		for j, t := range tools {
			s, err := b.runTool(ctx, t)
			if err != nil {
				return scenarioResult{}, fmt.Errorf("%s, %s: %w", name, t.name, err)
			}
			if i == 0 {
				progress("  warm-up %s: %s, %d requests, exit code %d", t.name, s.wall.Round(time.Millisecond), s.requests, s.code)
				continue
			}
			samples[j] = append(samples[j], s)
		}
	}
	return scenarioResult{name: name, verify: summarise(samples[0]), analyze: summarise(samples[1])}, nil
}

// runTool runs t once, through the peakrss launcher, and measures it; it
// fails when the run did not do its job, with the tool's output to tell why.
func (b *bench) runTool(ctx context.Context, t tool) (sample, error) {
	b.proxy.reset()
	var stdout, stderr bytes.Buffer
	code, u, err := b.launcher.run(ctx, &stdout, &stderr, t.env, t.bin, t.args...)
	if ctx.Err() != nil {
		return sample{}, ctx.Err()
	}
	requests, byKind, proxyErr := b.proxy.counts()
	if err == nil {
		err = errors.Join(proxyErr, t.check(code, stdout.Bytes(), stderr.Bytes()))
	}
	if err != nil {
		return sample{}, fmt.Errorf("%w\n$ %s %s\n--- stdout:\n%s\n--- stderr:\n%s", err, t.bin, strings.Join(t.args, " "), tail(stdout.String()), tail(stderr.String()))
	}
	if requests == 0 {
		return sample{}, errors.New("sent no request through the counting proxy")
	}
	return sample{code: code, wall: u.wall, rssKiB: u.rssKiB, requests: requests, byKind: byKind}, nil
}

// tail keeps the end of a tool's output for an error message.
func tail(s string) string {
	const keep = 4000
	if len(s) > keep {
		return "..." + s[len(s)-keep:]
	}
	return s
}

func summarise(samples []sample) measurement {
	m := measurement{byKind: samples[len(samples)-1].byKind}
	var walls []float64
	var requests []float64
	for _, s := range samples {
		walls = append(walls, float64(s.wall))
		requests = append(requests, float64(s.requests))
		m.rssKiB = max(m.rssKiB, s.rssKiB)
	}
	m.wall = time.Duration(median(walls))
	m.requests = median(requests)
	return m
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// waitQuiet waits, up to a minute, for the CPUs to be mostly idle: the API
// server and istiod digest thousands of new objects after populating, and
// that work would otherwise land in the first runs.
func waitQuiet(ctx context.Context) error {
	prev, err := cpuTimes()
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		cur, err := cpuTimes()
		if err != nil {
			return err
		}
		if total := cur.total - prev.total; total > 0 && float64(cur.idle-prev.idle)/float64(total) >= 0.85 {
			return nil
		}
		prev = cur
	}
	progress("the CPUs are still busy after a minute; measuring anyway")
	return nil
}

type cpuTime struct{ idle, total uint64 }

// cpuTimes reads the time all CPUs spent, and spent idle, from /proc/stat.
func cpuTimes() (cpuTime, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTime{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	// cpu user nice system idle iowait irq softirq steal, then guest times
	// that user and nice already include.
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return cpuTime{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var t cpuTime
	for i, f := range fields[1:9] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return cpuTime{}, err
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t, nil
}
