package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The goals: verify's wall time and peak memory at most half of istioctl
// analyze's, and a quarter from 100,000 pods on (largeScenarioPods);
// kubectl-opea --help and the release archive small.
const (
	ratioGoal         = 0.50
	largeRatioGoal    = 0.25
	largeScenarioPods = 100_000
	helpGoal          = 20 * time.Millisecond
	archiveGoal       = 10_000_000 // bytes: 10 MB
)

// report is everything opea-bench prints.
type report struct {
	runs, helpRuns int
	kinds          int // how many kinds of request to name per tool
	istioVersion   string
	floorKiB       int64 // the launcher's own peak RSS, a floor under each tool's
	scenarios      []scenarioResult
	helpMedian     time.Duration
	archiveBytes   int64
	machine        machine
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "\n## kubectl opea verify vs istioctl analyze (istio.io/istio %s)\n\n", r.istioVersion)
	fmt.Fprintf(w, "%d measured runs of each tool per scenario, after one warm-up: wall time and API requests are medians, peak memory the largest peak RSS of any run (never below %s, the launcher's own). Ratio: verify / istioctl analyze.\n\n", r.runs, fmtMiB(r.floorKiB))
	fmt.Fprintln(w, "| Scenario | Metric | verify | istioctl analyze | Ratio | Goal | Met |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|---|")
	for _, s := range r.scenarios {
		if s.skipped != "" {
			fmt.Fprintf(w, "| %s | (not run: %s) | | | | | |\n", s.name, s.skipped)
			continue
		}
		v, a := s.verify, s.analyze
		// goal 0 is none (the API requests' row).
		goal := ratioGoal
		if s.pods >= largeScenarioPods {
			goal = largeRatioGoal
		}
		ratioRow(w, s.name, "wall time", fmtDuration(v.wall), fmtDuration(a.wall), float64(v.wall)/float64(a.wall), goal)
		ratioRow(w, "", "peak memory (RSS)", fmtMiB(v.rssKiB), fmtMiB(a.rssKiB), float64(v.rssKiB)/float64(a.rssKiB), goal)
		ratioRow(w, "", "API requests", fmtCount(v.requests), fmtCount(a.requests), v.requests/a.requests, 0)
	}

	fmt.Fprintln(w, "\n## kubectl-opea itself")
	fmt.Fprintln(w, "\n| Measure | Value | Goal | Met |")
	fmt.Fprintln(w, "|---|---:|---|---|")
	fmt.Fprintf(w, "| `kubectl-opea --help`, median of %d runs | %s | ≤ %s | %s |\n", r.helpRuns, fmtDuration(r.helpMedian), fmtDuration(helpGoal), yesNo(r.helpMedian <= helpGoal))
	fmt.Fprintf(w, "| linux/amd64 release archive | %.2f MB (%d bytes) | ≤ %d MB | %s |\n",
		float64(r.archiveBytes)/1e6, r.archiveBytes, archiveGoal/1_000_000, yesNo(r.archiveBytes <= archiveGoal))

	r.printRequestKinds(w)
	r.machine.print(w)
}

func ratioRow(w io.Writer, scenario, metric, verify, analyze string, ratio, goal float64) {
	goalText, met := "—", "—"
	if goal > 0 {
		goalText, met = fmt.Sprintf("≤ %.2fx", goal), yesNo(ratio <= goal)
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %.2fx | %s | %s |\n", scenario, metric, verify, analyze, ratio, goalText, met)
}

// printRequestKinds says which requests make up each tool's count, from its
// last measured run.
func (r report) printRequestKinds(w io.Writer) {
	fmt.Fprintf(w, "\n## API requests by kind (last measured run; the %d most frequent)\n\n", r.kinds)
	fmt.Fprintln(w, "| Scenario | Tool | Requests |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, s := range r.scenarios {
		if s.skipped != "" {
			continue
		}
		label, _, _ := strings.Cut(s.name, ":")
		fmt.Fprintf(w, "| %s | verify | %s |\n", label, kindSummary(s.verify.byKind, r.kinds))
		fmt.Fprintf(w, "| %s | istioctl analyze | %s |\n", label, kindSummary(s.analyze.byKind, r.kinds))
	}
}

// kindSummary lists the most frequent kinds of request, then what is left.
func kindSummary(byKind map[string]int64, top int) string {
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if byKind[a] != byKind[b] {
			return int(byKind[b] - byKind[a])
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range kinds[:min(top, len(kinds))] {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, byKind[k]))
	}
	if rest := kinds[min(top, len(kinds)):]; len(rest) > 0 {
		var n int64
		for _, k := range rest {
			n += byKind[k]
		}
		parts = append(parts, fmt.Sprintf("%d in %d other kinds", n, len(rest)))
	}
	return strings.Join(parts, ", ")
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtMiB(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func fmtCount(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

// machine is what the numbers were measured on.
type machine struct {
	cpus      int
	cpuModel  string
	memory    string
	goVersion string
	os        string
}

func describeMachine() machine {
	return machine{
		cpus:      runtime.NumCPU(), // what nproc prints: the CPUs this process may use
		cpuModel:  procField("/proc/cpuinfo", "model name"),
		memory:    memTotal(),
		goVersion: runtime.Version(),
		os: fmt.Sprintf("%s, Linux %s, %s/%s", strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`),
			readTrimmed("/proc/sys/kernel/osrelease"), runtime.GOOS, runtime.GOARCH),
	}
}

func (m machine) print(w io.Writer) {
	fmt.Fprintln(w, "\n## Machine")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- CPUs (nproc): %d\n", m.cpus)
	fmt.Fprintf(w, "- CPU: %s\n", m.cpuModel)
	fmt.Fprintf(w, "- Memory: %s\n", m.memory)
	fmt.Fprintf(w, "- Go: %s\n", m.goVersion)
	fmt.Fprintf(w, "- OS: %s\n", m.os)
}

// procField returns the value of the first "key: value" or "key=value" line
// of file, or "unknown".
func procField(file, key string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		for _, sep := range []string{":", "="} {
			if k, v, ok := strings.Cut(line, sep); ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown"
}

// memTotal is MemTotal of /proc/meminfo in GiB.
func memTotal() string {
	fields := strings.Fields(procField("/proc/meminfo", "MemTotal")) // "24576000 kB"
	if len(fields) == 0 {
		return "unknown"
	}
	kib, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", kib/(1024*1024))
}

func readTrimmed(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}
