// Package buildinfo holds what the binary knows about its own build: the
// release version and commit stamped in by the linker, and the Go toolchain.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at build time with
//
//	-ldflags "-X github.com/opea-project/kubectl-opea/pkg/buildinfo.Version=v0.1.0
//	          -X github.com/opea-project/kubectl-opea/pkg/buildinfo.Commit=<sha>"
//
// A plain `go build` or `go install` leaves them empty; Get then falls back to
// what the Go toolchain recorded in the binary.
var (
	Version string
	Commit  string
)

// Info describes one build of kubectl-opea. Its JSON form is what
// `kubectl opea version -o json` prints, so the field names are a contract.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build information of the running binary.
func Get() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					info.Commit = s.Value
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}
