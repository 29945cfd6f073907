package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityNamesRealTests: every test SECURITY.md names as the proof of
// a defence exists in the package it names. A claim backed by a test that
// is gone is a defect.
func TestSecurityNamesRealTests(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	// "pkg: TestA, TestB; other: FuzzC" in the table's last column.
	group := regexp.MustCompile(`([a-z0-9]+): ((?:(?:Test|Fuzz)\w+(?:/\w+)?(?: \([^)]*\))?(?:, )?)+)`)
	name := regexp.MustCompile(`(?:Test|Fuzz)\w+`)
	found := 0
	for _, m := range group.FindAllStringSubmatch(string(doc), -1) {
		pkg := m[1]
		if pkg == "package" { // the page's own legend: "package: TestName"
			continue
		}
		dir := filepath.Join(root, "internal", pkg)
		if _, err := os.Stat(dir); err != nil {
			dir = filepath.Join(root, "cmd", pkg)
		}
		src := readGoTests(t, dir)
		for _, n := range name.FindAllString(m[2], -1) {
			found++
			if !strings.Contains(src, "func "+n+"(") {
				t.Errorf("SECURITY.md names %s: %s, which does not exist", pkg, n)
			}
		}
	}
	if found < 50 {
		t.Fatalf("found only %d test names in SECURITY.md: is the pattern broken?", found)
	}
}

func readGoTests(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}
