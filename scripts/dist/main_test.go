package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDebVersion(t *testing.T) {
	cases := []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2", "1.2"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-beta-2", "1.2.3~beta.2"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234"},
		{"v0.0.0-12-gabc1234-dirty", "0.0.0+12.gabc1234.dirty"},
		{"v1.2.3-rc.1-4-gabc1234", "1.2.3~rc.1+4.gabc1234"},
		{"c4bd2a7", "0.0.0~git.c4bd2a7"},
		{"c4bd2a7-dirty", "0.0.0~git.c4bd2a7+dirty"},
		{"1234567", "0.0.0~git.1234567"},
		{"dev", "0.0.0~dev"},
	}
	for _, tc := range cases {
		if got, err := debVersion(tc.describe); err != nil || got != tc.want {
			t.Errorf("debVersion(%q) = %q, %v; want %q", tc.describe, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "release", "v1.2.3_x", "vX", "-1"} {
		if got, err := debVersion(bad); err == nil {
			t.Errorf("debVersion(%q) = %q, want an error", bad, got)
		}
	}

	// dpkg orders the mapped versions as git's history runs.
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("no dpkg here")
	}
	order := []string{"c4bd2a7", "v0.1.0-rc.1", "v0.1.0-rc.1-3-gabc1234", "v0.1.0-rc.2", "v0.1.0",
		"v0.1.0-2-gdef5678", "v0.1.0-10-g0123abc", "v0.1.1"}
	var pairs [][2]string
	for i := 1; i < len(order); i++ {
		pairs = append(pairs, [2]string{order[i-1], order[i]})
	}
	// A dirty tree comes after its commit (and before nothing in particular).
	pairs = append(pairs, [2]string{"v0.1.0", "v0.1.0-dirty"}, [2]string{"v0.1.0-2-gdef5678", "v0.1.0-2-gdef5678-dirty"},
		[2]string{"c4bd2a7", "c4bd2a7-dirty"}, [2]string{"dev", "v0.0.1"})
	for _, p := range pairs {
		a, _ := debVersion(p[0])
		b, _ := debVersion(p[1])
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not order %s (%s) before %s (%s): %v", a, p[0], b, p[1], err)
		}
	}
}

// archiveEntries is what the packers are given: a binary and two docs.
func archiveEntries(t *testing.T) []entry {
	dir := t.TempDir()
	files := map[string]string{"twauth": "\x7fELF binary", "README.md": "# twauth\n", "LICENSE": "MIT License\n"}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []entry{
		{name: "twauth_v1_linux_amd64/twauth", src: filepath.Join(dir, "twauth"), mode: 0o755},
		{name: "twauth_v1_linux_amd64/README.md", src: filepath.Join(dir, "README.md"), mode: 0o644},
		{name: "twauth_v1_linux_amd64/LICENSE", src: filepath.Join(dir, "LICENSE"), mode: 0o644},
	}
}

var wantFiles = "twauth_v1_linux_amd64/twauth 755 \x7fELF binary\n" +
	"twauth_v1_linux_amd64/README.md 644 # twauth\n\n" +
	"twauth_v1_linux_amd64/LICENSE 644 MIT License\n\n"

func TestTarGz(t *testing.T) {
	mtime := time.Unix(1767225600, 0).UTC()
	entries := archiveEntries(t)
	var a, b bytes.Buffer
	if err := writeTarGz(&a, entries, mtime); err != nil {
		t.Fatal(err)
	}
	if err := writeTarGz(&b, entries, mtime); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two runs gave different bytes")
	}
	zr, err := gzip.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header holds name %q, time %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var got strings.Builder
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c, _ := io.ReadAll(tr)
		got.WriteString(h.Name + " " + formatMode(h.Mode) + " " + string(c) + "\n")
		if !h.ModTime.Equal(mtime) || h.Uid != 0 || h.Gid != 0 || h.Uname != "root" || h.Typeflag != tar.TypeReg {
			t.Errorf("%s: time %v, owner %d/%d %s, type %c", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Typeflag)
		}
	}
	if got.String() != wantFiles {
		t.Errorf("tar holds\n%q\nwant\n%q", got.String(), wantFiles)
	}
}

func TestZip(t *testing.T) {
	mtime := time.Unix(1767225600, 0).UTC()
	entries := archiveEntries(t)
	var a, b bytes.Buffer
	if err := writeZip(&a, entries, mtime); err != nil {
		t.Fatal(err)
	}
	if err := writeZip(&b, entries, mtime); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two runs gave different bytes")
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		c, _ := io.ReadAll(rc)
		rc.Close()
		got.WriteString(f.Name + " " + formatMode(int64(f.Mode().Perm())) + " " + string(c) + "\n")
		if !f.Modified.Equal(mtime) {
			t.Errorf("%s: time %v", f.Name, f.Modified)
		}
	}
	if got.String() != wantFiles {
		t.Errorf("zip holds\n%q\nwant\n%q", got.String(), wantFiles)
	}
}

func formatMode(m int64) string { return fmt.Sprintf("%o", m) }

func TestSourceDate(t *testing.T) {
	if got, err := sourceDate("1767225600"); err != nil || !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("sourceDate = %v, %v", got, err)
	}
	for _, bad := range []string{"x", "-5", "1.5"} {
		if _, err := sourceDate(bad); err == nil {
			t.Errorf("sourceDate(%q) accepted", bad)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-version", "a/b"}, {"-version", "v1", "extra"},
		{"-version", "v1", "-platforms", "linux"}, {"-version", "release", "-man", "man"}} {
		var stderr bytes.Buffer
		if code := run(args, io.Discard, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
