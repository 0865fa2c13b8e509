package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The binaries are cached outside the repository, so that another clone
// reuses them: in the user's cache, or where OPEA_BINARY_CACHE says; one
// folder per tools module, named by a digest of what builds it.
func TestBinaryCacheIsOutsideTheRepository(t *testing.T) {
	t.Setenv(BinaryCacheEnv, "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	seen := map[string]bool{}
	for _, m := range toolModules {
		dir, err := m.cacheDir()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(dir, RepoRoot()) || !strings.HasPrefix(dir, filepath.Join(os.Getenv("XDG_CACHE_HOME"), "kubectl-opea", m.cache)) {
			t.Errorf("%s: cached in %s", m.dir, dir)
		}
		seen[dir] = true
	}
	if len(seen) != len(toolModules) {
		t.Errorf("modules share a cache folder: %v", seen)
	}
	override := t.TempDir()
	t.Setenv(BinaryCacheEnv, override)
	if dir, err := toolModules[0].cacheDir(); err != nil || filepath.Dir(filepath.Dir(dir)) != override {
		t.Errorf("with %s=%s: %s, %v", BinaryCacheEnv, override, dir, err)
	}
}
