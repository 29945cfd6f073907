// Command dist builds twauth's release files into one directory:
//
//	twauth_<version>_<os>_<arch>.tar.gz   (.zip for windows): twauth, README.md, LICENSE
//	twauth_<version>_linux_<arch>.deb     /usr/bin/twauth, its man pages, README and license
//	SHA256SUMS                            in sha256sum's format
//
// Each binary is static (CGO_ENABLED=0), built with -trimpath and the
// -ldflags given (the Makefile's, which stamp the version). Archives and
// packages take their files' times from $SOURCE_DATE_EPOCH, so that a
// rebuild of the same commit gives the same bytes. The .deb is made by
// nfpm, a go.mod tool, from packaging/nfpm.yaml. Run it from the module
// root, as `make dist` does:
//
//	go run ./scripts/dist -version v1.2.3 -ldflags '-X …' -man man
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultPlatforms are the release's GOOS/GOARCH pairs.
const defaultPlatforms = "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 freebsd/amd64 freebsd/arm64"

// docs go into every archive beside the binary.
var docs = []string{"README.md", "LICENSE"}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.version, "version", "", "the `version` to stamp and name the files with (git describe)")
	fs.StringVar(&o.ldflags, "ldflags", "", "-ldflags for go build (the Makefile's LDFLAGS)")
	fs.StringVar(&o.out, "out", "dist", "`directory` to write into; emptied first")
	fs.StringVar(&o.man, "man", "", "`directory` of the man pages (make man) for the .deb; empty: no .deb")
	platforms := fs.String("platforms", defaultPlatforms, "space-separated GOOS/GOARCH pairs")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./scripts/dist -version V [-ldflags L] [-man DIR] [-out DIR] [-platforms 'os/arch …']")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || o.version == "" {
		fs.Usage()
		return 2
	}
	if !regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`).MatchString(o.version) {
		fmt.Fprintf(stderr, "dist: -version %q cannot be part of a file name: use letters, digits and . _ + -\n", o.version)
		return 2
	}
	for _, p := range strings.Fields(*platforms) {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok || goos == "" || goarch == "" {
			fmt.Fprintf(stderr, "dist: platform %q is not GOOS/GOARCH\n", p)
			return 2
		}
		o.platforms = append(o.platforms, platform{goos, goarch})
	}
	if o.man != "" {
		var err error
		if o.debVersion, err = debVersion(o.version); err != nil {
			fmt.Fprintf(stderr, "dist: %v\n", err)
			return 2
		}
	}
	var err error
	if o.mtime, err = sourceDate(os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		fmt.Fprintf(stderr, "dist: %v\n", err)
		return 2
	}
	files, err := o.build(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dist: %v\n", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "%9d  %s\n", f.size, filepath.Join(o.out, f.name))
	}
	return 0
}

type options struct {
	version, debVersion string
	ldflags             string
	out, man            string
	platforms           []platform
	mtime               time.Time
}

type platform struct{ goos, goarch string }

// file is a release file written.
type file struct {
	name string
	size int64
}

// sourceDate is the time of the files in archives: $SOURCE_DATE_EPOCH
// (reproducible-builds.org), else now.
func sourceDate(epoch string) (time.Time, error) {
	if epoch == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	s, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not seconds since 1970", epoch)
	}
	return time.Unix(s, 0).UTC(), nil
}

// build writes every release file and SHA256SUMS into o.out.
func (o *options) build(progress io.Writer) ([]file, error) {
	if err := os.RemoveAll(o.out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "twauth-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	var names []string
	for _, p := range o.platforms {
		base := fmt.Sprintf("twauth_%s_%s_%s", o.version, p.goos, p.goarch)
		exe := "twauth"
		if p.goos == "windows" {
			exe += ".exe"
		}
		bin := filepath.Join(work, base, exe)
		fmt.Fprintf(progress, "dist: %s/%s\n", p.goos, p.goarch)
		if err := o.goBuild(p, bin); err != nil {
			return nil, err
		}
		entries := []entry{{name: base + "/" + exe, src: bin, mode: 0o755}}
		for _, d := range docs {
			entries = append(entries, entry{name: base + "/" + d, src: d, mode: 0o644})
		}
		archive := base + ".tar.gz"
		write := writeTarGz
		if p.goos == "windows" {
			archive, write = base+".zip", writeZip
		}
		if err := writeFile(filepath.Join(o.out, archive), func(w io.Writer) error { return write(w, entries, o.mtime) }); err != nil {
			return nil, err
		}
		names = append(names, archive)
		if o.man != "" && p.goos == "linux" {
			deb := base + ".deb"
			if err := o.nfpm(p, bin, filepath.Join(work, "man"), filepath.Join(o.out, deb)); err != nil {
				return nil, err
			}
			names = append(names, deb)
		}
	}
	slices.Sort(names)
	var files []file
	var sums bytes.Buffer
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(o.out, n))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), n)
		files = append(files, file{n, int64(len(b))})
	}
	if err := os.WriteFile(filepath.Join(o.out, "SHA256SUMS"), sums.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return append(files, file{"SHA256SUMS", int64(sums.Len())}), nil
}

// goBuild builds ./cmd/twauth for p into bin.
func (o *options) goBuild(p platform, bin string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", o.ldflags, "-o", bin, "./cmd/twauth")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.goos, "GOARCH="+p.goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s/%s: %v\n%s", p.goos, p.goarch, err, out)
	}
	return nil
}

// nfpm packs bin and the man pages of o.man (gzipped into man, as Debian
// wants them) into the .deb target, from packaging/nfpm.yaml.
func (o *options) nfpm(p platform, bin, man, target string) error {
	if err := gzipManPages(o.man, man); err != nil {
		return err
	}
	cmd := exec.Command("go", "tool", "nfpm", "package", "--config", "packaging/nfpm.yaml", "--packager", "deb", "--target", target)
	cmd.Env = append(os.Environ(),
		"TWAUTH_BIN="+bin, "TWAUTH_MAN="+man, "DEB_VERSION="+o.debVersion, "DEB_ARCH="+p.goarch,
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(o.mtime.Unix(), 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nfpm for linux/%s: %v\n%s", p.goarch, err, out)
	}
	return nil
}

// gzipManPages writes each *.1 of src into dst as *.1.gz, without a name or
// time in the gzip header (gzip -n). It is done once per dst.
func gzipManPages(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	pages, err := filepath.Glob(filepath.Join(src, "*.1"))
	if err != nil {
		return err
	}
	if len(pages) == 0 {
		return fmt.Errorf("no man pages (*.1) in %s: run make man", src)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			return err
		}
		err = writeFile(filepath.Join(dst, filepath.Base(page)+".gz"), func(w io.Writer) error {
			zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
			if err != nil {
				return err
			}
			if _, err := zw.Write(b); err != nil {
				return err
			}
			return zw.Close()
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// entry is a file of an archive: its name there, the file it is read
// from, and its mode.
type entry struct {
	name, src string
	mode      int64
}

func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		b, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: int64(len(b)),
			ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		b, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(os.FileMode(e.mode))
		f, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeFile creates name and fills it with fill.
func writeFile(name string, fill func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

var (
	// A `git describe --tags --always --dirty` of a tagged history:
	// v1.2.3, v1.2.3-rc.1, then -N-gHASH after N more commits, then -dirty.
	describeRe = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.-]+?))??(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)
	// The same with no tag at all: a bare abbreviated commit hash.
	hashRe = regexp.MustCompile(`^([0-9a-f]{7,64})(-dirty)?$`)
	// A Debian upstream version without a revision (deb-version(7)).
	debianRe = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
)

// debVersion maps a git describe to a Debian version that sorts the same
// way: v1.2.3 → 1.2.3; a pre-release sorts before its release
// (v1.2.3-rc.1 → 1.2.3~rc.1), commits after a tag after it
// (v1.2.3-4-gabc1234 → 1.2.3+4.gabc1234); a bare commit hash (no tag yet)
// or "dev" comes before every release (c4bd2a7 → 0.0.0~git.c4bd2a7); a
// dirty tree adds "dirty" after a + (1.2.3+dirty, 1.2.3+4.gabc1234.dirty).
func debVersion(describe string) (string, error) {
	var v, post string
	dirty := false
	if m := hashRe.FindStringSubmatch(describe); m != nil {
		v, dirty = "0.0.0~git."+m[1], m[2] != ""
	} else if describe == "dev" {
		v = "0.0.0~dev"
	} else if m := describeRe.FindStringSubmatch(describe); m != nil {
		v = m[1]
		if m[2] != "" {
			v += "~" + strings.ReplaceAll(m[2], "-", ".")
		}
		if m[3] != "" {
			post = m[3] + ".g" + m[4]
		}
		dirty = m[5] != ""
	} else {
		return "", fmt.Errorf("version %q does not map to a Debian version: tag releases vMAJOR.MINOR.PATCH[-PRERELEASE]", describe)
	}
	if dirty {
		if post != "" {
			post += "."
		}
		post += "dirty"
	}
	if post != "" {
		v += "+" + post
	}
	if !debianRe.MatchString(v) {
		return "", errors.New("internal error: " + v + " is not a Debian version")
	}
	return v, nil
}
