// Command dist builds the release archives of kubectl-opea for every
// platform krew serves, and renders the krew manifest with their checksums.
// Archives are reproducible: the same source and version give the same bytes.
//
//	go run ./krew/dist -version v0.1.0 -commit <sha> -out dist
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Platform is one target of the release.
type Platform struct {
	OS, Arch string
	Archive  string
	Binary   string
	SHA256   string
}

var targets = [][2]string{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// archiveTime is the modification time of every archive entry: a constant,
// so archives do not depend on when or where they are built.
var archiveTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	version := flag.String("version", "v0.0.0-dev", "version to stamp and to name in the manifest")
	commit := flag.String("commit", "unknown", "commit to stamp")
	out := flag.String("out", "dist", "output folder")
	manifest := flag.String("manifest", "krew/opea.yaml.tmpl", "krew manifest template")
	only := flag.String("platforms", "", "comma-separated OS/ARCH to build, e.g. linux/amd64 (default: all six)")
	flag.Parse()
	if err := selectTargets(*only); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(2)
	}
	if err := run(*version, *commit, *out, *manifest); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

// selectTargets keeps the targets named in only ("os/arch,..."); "" keeps
// all. A benchmark measures one archive without building six.
func selectTargets(only string) error {
	if only == "" {
		return nil
	}
	var kept [][2]string
	for _, want := range strings.Split(only, ",") {
		found := false
		for _, t := range targets {
			if t[0]+"/"+t[1] == strings.TrimSpace(want) {
				kept, found = append(kept, t), true
			}
		}
		if !found {
			return fmt.Errorf("unknown platform %q: use OS/ARCH of linux, darwin, windows and amd64, arm64", want)
		}
	}
	targets = kept
	return nil
}

func run(version, commit, out, manifestTemplate string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	license, err := os.ReadFile("LICENSE")
	if err != nil {
		return err
	}
	shim, err := os.ReadFile("cmd/kubectl-opea/kubectl_complete-opea")
	if err != nil {
		return err
	}
	build, err := os.MkdirTemp("", "kubectl-opea-dist-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)

	var platforms []Platform
	var sums []string
	for _, t := range targets {
		p := Platform{OS: t[0], Arch: t[1], Binary: "kubectl-opea", Archive: fmt.Sprintf("kubectl-opea_%s_%s.tar.gz", t[0], t[1])}
		if p.OS == "windows" {
			p.Binary += ".exe"
		}
		bin := filepath.Join(build, p.OS+"-"+p.Arch, p.Binary)
		fmt.Printf("building %s/%s\n", p.OS, p.Arch)
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", fmt.Sprintf("-s -w -X github.com/opea-project/kubectl-opea/pkg/buildinfo.Version=%s -X github.com/opea-project/kubectl-opea/pkg/buildinfo.Commit=%s", version, commit),
			"-o", bin, "./cmd/kubectl-opea")
		cmd.Env = append(os.Environ(), "GOOS="+p.OS, "GOARCH="+p.Arch, "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s/%s: %w", p.OS, p.Arch, err)
		}
		binary, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		files := []entry{{"LICENSE", license, 0o644}, {p.Binary, binary, 0o755}}
		if p.OS != "windows" {
			files = append(files, entry{"kubectl_complete-opea", shim, 0o755})
		}
		data, err := archive(files)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, p.Archive), data, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		p.SHA256 = hex.EncodeToString(sum[:])
		sums = append(sums, p.SHA256+"  "+p.Archive)
		platforms = append(platforms, p)
	}
	sort.Strings(sums)
	if err := os.WriteFile(filepath.Join(out, "sha256sums.txt"), []byte(strings.Join(sums, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	tmpl, err := template.ParseFiles(manifestTemplate)
	if err != nil {
		return err
	}
	var manifest bytes.Buffer
	if err := tmpl.Execute(&manifest, map[string]interface{}{"Version": version, "Platforms": platforms}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "opea.yaml"), manifest.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %d archives, sha256sums.txt and opea.yaml to %s\n", len(platforms), out)
	return nil
}

type entry struct {
	name string
	data []byte
	mode int64
}

// archive packs files into a gzipped tar with fixed times and owners and no
// gzip name or time, so that equal inputs give equal bytes.
func archive(files []entry) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: archiveTime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
