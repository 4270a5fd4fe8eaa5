// Package crosscheck is what the tests that pit posagent's emulators and
// codecs against independent implementations share: finding a tool, and
// deciding what a missing one means. The independent implementations are
// Debian packages (libnfc, gsm-utils, comgt) and the npm packages of this
// directory (esc-pos-encoder, iso_8583, installed by `npm ci`); the
// Makefile installs all of them for make test.
//
// A missing tool skips the test with its reason, except under
// POSAGENT_REQUIRE_CROSSCHECK=1 (make test sets it), where it fails the
// test naming the tool and how to install it: a cross-check that did not
// run never counts as passed.
//
// Only tests import this package; nothing here reaches the device binary.
package crosscheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv is the environment variable that turns a missing tool from a
// skip into a failure.
const RequireEnv = "POSAGENT_REQUIRE_CROSSCHECK"

// Missing stops a test whose external tool what is missing: a failure
// under RequireEnv=1, a skip otherwise; install says how to get it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("cross-check needs %s, which is missing (%s); %s=1 makes that a failure", what, install, RequireEnv)
	}
	t.Skipf("cross-check skipped: %s is missing (%s)", what, install)
}

// Tool returns the path of the executable name, or stops the test through
// Missing.
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, install)
	}
	return p
}

// ModuleRoot walks up from the test's working directory to the directory
// holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("crosscheck: go.mod not found above the test directory")
		}
		dir = up
	}
}

// Dir is this directory, scripts/crosscheck, where the node scripts and
// their node_modules are.
func Dir(t testing.TB) string {
	return filepath.Join(ModuleRoot(t), "scripts", "crosscheck")
}
