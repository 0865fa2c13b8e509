package check

import (
	"os"
	"regexp"
	"testing"
)

// Every check links to docs/checks.md#<id>: each ID needs its anchor, and
// the page documents no check that does not exist.
func TestEveryCheckHasADocsAnchor(t *testing.T) {
	page, err := os.ReadFile("../../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`<a id="([^"]+)"></a>`).FindAllStringSubmatch(string(page), -1) {
		anchors[m[1]] = true
	}
	for _, c := range Catalogue {
		if !anchors[c.ID] {
			t.Errorf("docs/checks.md has no anchor for %s", c.ID)
		}
		delete(anchors, c.ID)
	}
	for _, c := range FleetCatalogue {
		if !anchors[c.ID] {
			t.Errorf("docs/checks.md has no anchor for %s", c.ID)
		}
		delete(anchors, c.ID)
	}
	for id := range anchors {
		t.Errorf("docs/checks.md documents %s, which is no check", id)
	}
}
