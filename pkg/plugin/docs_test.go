package plugin

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra/doc"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/commands from the commands")

const commandDocs = "../../docs/commands"

// generateDocs renders one Markdown page per command, as `make docs` writes
// them into docs/commands.
func generateDocs(t *testing.T, dir string) {
	t.Helper()
	root := NewCmdOpea(genericiooptions.NewTestIOStreamsDiscard())
	root.DisableAutoGenTag = true
	// The default names the home of whoever generates the pages.
	root.PersistentFlags().Lookup("cache-dir").DefValue = "$HOME/.kube/cache"
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		t.Fatal(err)
	}
}

// The pages in docs/commands are what the commands say about themselves:
// run `make docs` after changing a command's help.
func TestCommandDocsAreUpToDate(t *testing.T) {
	if *updateDocs {
		if err := os.RemoveAll(commandDocs); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(commandDocs, 0o755); err != nil {
			t.Fatal(err)
		}
		generateDocs(t, commandDocs)
	}
	fresh := t.TempDir()
	generateDocs(t, fresh)
	want, _ := filepath.Glob(filepath.Join(fresh, "*.md"))
	have, _ := filepath.Glob(filepath.Join(commandDocs, "*.md"))
	if len(want) != len(have) {
		t.Errorf("docs/commands has %d pages, the commands make %d: run make docs", len(have), len(want))
	}
	for _, w := range want {
		name := filepath.Base(w)
		generated, _ := os.ReadFile(w)
		committed, err := os.ReadFile(filepath.Join(commandDocs, name))
		if err != nil || !bytes.Equal(generated, committed) {
			t.Errorf("docs/commands/%s is out of date: run make docs", name)
		}
	}
	for _, page := range []string{"kubectl_opea_secure.md", "kubectl_opea_verify.md", "kubectl_opea_unsecure.md", "kubectl_opea_version.md"} {
		if !strings.Contains(strings.Join(have, " "), page) {
			t.Errorf("docs/commands lacks %s", page)
		}
	}
}

// The README's table of exit codes lists every code a command can exit
// with, and docs/secure.md's has a column for each.
func TestDocsListEveryExitCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	secure, err := os.ReadFile("../../docs/secure.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{0, ExitFailure, ExitUsage, ExitIncomplete, ExitTimeout, ExitInterrupted} {
		if !strings.Contains(string(readme), fmt.Sprintf("\n| %d | ", code)) {
			t.Errorf("README.md's exit codes lack %d", code)
		}
	}
	header := "| command | 0 | 1 | 2 | 3 | 124 | 130 |"
	if !strings.Contains(string(secure), header) {
		t.Errorf("docs/secure.md's exit codes lack the header %q", header)
	}
}
