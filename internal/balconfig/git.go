package balconfig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// gitTimeout bounds each git command GitWarning runs.
const gitTimeout = 5 * time.Second

// GitWarning returns a one-line warning when the file at path (through a
// symlink: its target) lies inside a git work tree and git does not ignore
// it, so that a token written to it could be committed; it returns "" when
// the file is ignored, outside a work tree, or when git is not installed or
// fails. The file need not exist. The warning has no "warning:" prefix; the
// caller adds its own.
func GitWarning(path string) string {
	git, err := exec.LookPath("git")
	if err != nil {
		return ""
	}
	file := resolveForGit(path)
	dir := filepath.Dir(file)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return ""
	}
	if !mayBeInWorkTree(dir) {
		return ""
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), gitTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, git, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := run("rev-parse", "--is-inside-work-tree"); err != nil || out != "true" {
		return ""
	}
	// check-ignore exits 0 when the file is ignored, 1 when it is not (a
	// tracked file is never ignored), and 128 on a fatal error.
	_, err = run("check-ignore", "-q", "--", filepath.Base(file))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		return ""
	}
	shown := path
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		shown = fmt.Sprintf("%s (-> %s)", path, file)
	}
	return fmt.Sprintf("%s is in a git work tree and git does not ignore it: add %s to .gitignore so that the token it holds is never committed",
		shown, filepath.Base(file))
}

// resolveForGit returns the absolute path of the file path names, through
// symlinks, or the best approximation when it does not exist.
func resolveForGit(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	// A missing file (or a dangling link): resolve what exists.
	if target, err := os.Readlink(abs); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(abs), target)
		}
		abs = target
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// mayBeInWorkTree reports whether dir could lie in a git work tree: a .git
// entry in it or above it, or a GIT_DIR / GIT_WORK_TREE in the environment.
// Outside one, the git processes (a few milliseconds each) are skipped.
func mayBeInWorkTree(dir string) bool {
	if os.Getenv("GIT_DIR") != "" || os.Getenv("GIT_WORK_TREE") != "" {
		return true
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}
