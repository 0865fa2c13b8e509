// Command opea-bench compares `kubectl opea verify` with `istioctl analyze`,
// built from the istio.io/istio version test/istiotools pins, on one private
// local control plane with Istio (`make bench` runs it after the Go
// benchmarks):
//
//	(a) one namespace: ChatQnA's Services, 1,000 pods and 200 more Services,
//	    secured by kubectl opea secure; verify -n NS against analyze -n NS;
//	(b) 20 such namespaces of 50 pods and 100 Services each; verify -A
//	    against analyze -A;
//	(c) (b)'s cluster as three kube contexts: verify -A --contexts against
//	    analyze -A once per context.
//
// `make bench-large` runs scenario (b) alone at 200 namespaces of 500 pods
// and 10 Services each: 100,000 pods and 2,000 Services.
//
// As everywhere on the local control plane, the pods run on kwok's node
// and cert-manager's controllers issue each certificate.
//
// Each tool runs as a subprocess, once to warm up and then -runs times,
// alternating with the other so that drift of the machine hits both alike.
// It reports the median wall time, the largest peak RSS of any run (both
// measured by the small peakrss launcher, see there why), and the median
// number of API requests, which both tools send through one counting HTTPS
// proxy in this process. It also reports the median time of
// `kubectl-opea --help` and the size of the linux/amd64 release archive.
//
// Ratios are verify's value divided by istioctl analyze's: below 1 verify is
// the faster (or smaller, or quieter) one, and the goal for wall time and
// peak memory is 0.50x or less. The numbers are reported, never asserted:
// the command fails only when a tool run fails.
//
// Setting up is not measured: the control plane runs unthrottled
// (controlplane.Options.Unthrottled) and each scenario is measured once kwok
// reports every pod Running. -hold keeps the cluster after the report, for
// a closer look (a profile of either tool against it), until interrupted.
//
//	go run ./test/cmd/opea-bench -plugin bin/kubectl-opea [-runs 5] [-hold]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// config is what the flags set.
type config struct {
	plugin   string
	runs     int
	helpRuns int
	kinds    int
	// hold keeps the control plane running after the report, until
	// interrupted, for looking at (or profiling against) the cluster.
	hold bool
	// scenarios are the scenarios to run, by letter.
	scenarios map[string]bool
	a         scenarioSize
	b         scenarioSize
}

// scenarioSize is how many namespaces a scenario fills, and with what.
type scenarioSize struct {
	namespaces, pods, services int
}

func main() {
	cfg := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "opea-bench:", err)
		os.Exit(1)
	}
}

func parseFlags() config {
	var cfg config
	flag.StringVar(&cfg.plugin, "plugin", "bin/kubectl-opea", "the kubectl-opea binary to measure")
	flag.IntVar(&cfg.runs, "runs", 5, "measured runs of each tool in each scenario, after one warm-up run")
	flag.IntVar(&cfg.helpRuns, "help-runs", 25, "measured runs of kubectl-opea --help, after one warm-up run")
	flag.IntVar(&cfg.kinds, "kinds", 6, "kinds of API request to name for each tool, most frequent first")
	// Smaller scenarios are for trying the command out; the goals are
	// stated for the defaults.
	flag.IntVar(&cfg.a.pods, "a-pods", 1000, "pods of scenario (a)'s namespace")
	flag.IntVar(&cfg.a.services, "a-services", 200, "Services of scenario (a)'s namespace, besides ChatQnA's")
	flag.IntVar(&cfg.b.namespaces, "b-namespaces", 20, "namespaces of scenario (b)")
	flag.IntVar(&cfg.b.pods, "b-pods", 50, "pods of each namespace of scenario (b)")
	flag.IntVar(&cfg.b.services, "b-services", 100, "Services of each namespace of scenario (b), besides ChatQnA's")
	flag.BoolVar(&cfg.hold, "hold", false, "after the report, keep the cluster running until interrupted and print how to reach it")
	scenarios := flag.String("scenarios", "a,b,c", "the scenarios to run, comma-separated")
	flag.Parse()
	cfg.a.namespaces = 1
	if cfg.runs < 1 || cfg.helpRuns < 1 {
		badFlags("-runs and -help-runs must be at least 1")
	}
	cfg.scenarios = map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		if s != "a" && s != "b" && s != "c" {
			badFlags(fmt.Sprintf("-scenarios: unknown scenario %q (there are a, b and c)", s))
		}
		cfg.scenarios[s] = true
	}
	if cfg.scenarios["c"] && !cfg.scenarios["b"] {
		badFlags("-scenarios: c measures scenario b's cluster: give b with it")
	}
	return cfg
}

func badFlags(msg string) {
	fmt.Fprintln(os.Stderr, "opea-bench:", msg)
	os.Exit(2)
}

// progress tells the person waiting what is going on; the report itself goes
// to stdout.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "opea-bench: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) (err error) {
	start := time.Now()
	plugin, err := filepath.Abs(cfg.plugin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	bins, err := controlplane.EnsureBinaries(ctx, os.Stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "opea-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The plugin's own numbers first, while the machine is idle: no control
	// plane runs yet to disturb the --help timing.
	rep := report{runs: cfg.runs, helpRuns: cfg.helpRuns, kinds: cfg.kinds, istioVersion: istioVersion(ctx)}
	progress("timing kubectl-opea --help (%d runs)", cfg.helpRuns)
	if rep.helpMedian, err = timeHelp(ctx, plugin, cfg.helpRuns); err != nil {
		return err
	}
	progress("building the linux/amd64 release archive")
	if rep.archiveBytes, err = releaseArchiveSize(ctx, work); err != nil {
		return err
	}

	l, err := buildLauncher(ctx, work)
	if err != nil {
		return err
	}
	if rep.floorKiB, err = l.floor(ctx); err != nil {
		return err
	}

	progress("starting a local control plane with Istio")
	// Unthrottled: populating is not what is measured, and 100,000 pods
	// would otherwise take over an hour.
	cp, err := controlplane.Start(ctx, controlplane.Options{Istio: true, Unthrottled: true, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		progress("stopping the local control plane")
		err = errors.Join(err, cp.Stop())
	}()
	b, err := newBench(ctx, cp, bins, l, plugin, work, cfg)
	if err != nil {
		return err
	}
	defer b.close()
	if rep.scenarios, err = b.runScenarios(ctx); err != nil {
		return err
	}
	rep.machine = describeMachine()
	rep.print(os.Stdout)
	progress("done in %s", time.Since(start).Round(time.Second))
	if cfg.hold {
		progress("holding the cluster until interrupted: --kubeconfig %s (admin, straight to the API server) or %s (through the counting proxy)", b.adminKubeconfig, b.toolKubeconfig)
		<-ctx.Done()
	}
	return nil
}
