package plugin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	htmlAnchor   = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)
	heading      = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	notInSlug    = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// anchors are the fragments a Markdown page answers to on GitHub: its
// headings, as GitHub turns them into ids, and explicit <a id> anchors.
func anchors(page string) map[string]bool {
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(page, -1) {
		slug := strings.ReplaceAll(notInSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), ""), " ", "-")
		out[slug] = true
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(page, -1) {
		out[m[1]] = true
	}
	return out
}

// The README sends a newcomer into docs/ for everything else: every link
// between the project's own pages must lead to a file, and to a heading of
// it, that exists.
func TestDocsLinksLeadSomewhere(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md")
	checked := 0
	for _, from := range pages {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, fragment, _ := strings.Cut(target, "#")
			file := from
			if path != "" {
				file = filepath.Join(filepath.Dir(from), path)
			}
			body, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("%s links to %s, which does not exist", filepath.Base(from), target)
				continue
			}
			checked++
			if fragment != "" && strings.HasSuffix(file, ".md") && !anchors(string(body))[fragment] {
				t.Errorf("%s links to %s: %s has no heading or anchor %q", filepath.Base(from), target, filepath.Base(file), fragment)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d links between the project's pages found: the pattern no longer matches them", checked)
	}
}

// The first build's time is quoted in the README and in make help; both
// must say what docs/development.md measured.
func TestBuildTimeQuotesAgree(t *testing.T) {
	figure := regexp.MustCompile(`about (\d+) minutes of CPU time`)
	var seen []string
	for _, f := range []string{"../../README.md", "../../Makefile", "../../docs/development.md"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := figure.FindSubmatch(data)
		if m == nil {
			t.Errorf("%s does not quote the first build's CPU time (\"about N minutes of CPU time\")", f)
			continue
		}
		seen = append(seen, string(m[1]))
	}
	for _, s := range seen[1:] {
		if s != seen[0] {
			t.Errorf("the first build's time is quoted differently: %v minutes", seen)
		}
	}
}
