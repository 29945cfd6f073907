package opener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Env is the part of the outside world that decides how a browser opens:
// the operating system, the environment, which files exist and which
// commands are on $PATH. SystemEnv is the running process's; tests build
// their own.
type Env struct {
	GOOS   string
	Getenv func(string) string
	// Exists reports whether a file exists; nil: none does.
	Exists func(name string) bool
	// LookPath finds a command as exec.LookPath does; nil: none is found.
	LookPath func(file string) (string, error)
}

// SystemEnv is the Env of the running process.
func SystemEnv() Env {
	return Env{GOOS: runtime.GOOS, Getenv: os.Getenv, Exists: fileExists, LookPath: exec.LookPath}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

func (e Env) getenv(key string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(key)
}

func (e Env) exists(name string) bool { return e.Exists != nil && e.Exists(name) }

func (e Env) lookPath(file string) (string, bool) {
	if e.LookPath == nil {
		return "", false
	}
	p, err := e.LookPath(file)
	return p, err == nil
}

// The binfmt_misc entries through which WSL runs Windows programs: one of
// them exists while WSL's Windows interop is on ("-late" where the distro
// boots with systemd).
var wslInteropFiles = []string{"/proc/sys/fs/binfmt_misc/WSLInterop", "/proc/sys/fs/binfmt_misc/WSLInterop-late"}

// Where cmd.exe and explorer.exe are in WSL's default mount of drive C:,
// for when the Windows directories are not on $PATH
// (appendWindowsPath=false in /etc/wsl.conf).
const (
	wslCmd      = "/mnt/c/Windows/System32/cmd.exe"
	wslExplorer = "/mnt/c/Windows/explorer.exe"
)

// WSL reports whether this is Linux under the Windows Subsystem for Linux:
// WSL sets $WSL_DISTRO_NAME (and $WSL_INTEROP), and registers a WSLInterop
// binfmt_misc entry, which remains when sudo or env -i drop the variables.
func (e Env) WSL() bool {
	if e.GOOS != "linux" {
		return false
	}
	if e.getenv("WSL_DISTRO_NAME") != "" || e.getenv("WSL_INTEROP") != "" {
		return true
	}
	for _, f := range wslInteropFiles {
		if e.exists(f) {
			return true
		}
	}
	return false
}

// Launch is a command line that opens a URL.
type Launch struct {
	Argv []string
	// Dir is the working directory; empty: the current one.
	Dir string
}

// WSLLaunch returns the command line that opens url in the Windows
// browser from WSL: wslview (from wslu) when it is on $PATH, else
// cmd.exe's start, else explorer.exe. ok is false when this is not WSL or
// none of them can be found; then a Linux opener (xdg-open) is the way left.
func (e Env) WSLLaunch(url string) (l Launch, ok bool) {
	if !e.WSL() {
		return Launch{}, false
	}
	if p, ok := e.lookPath("wslview"); ok {
		return Launch{Argv: []string{p, url}}, true
	}
	if p, ok := e.windowsProgram("cmd.exe", wslCmd); ok {
		// The empty argument is start's window title: without it, start
		// would take a quoted first argument for one. cmd.exe runs in its
		// own directory: started in a Linux one (a \\wsl$ UNC path), it
		// warns that UNC paths are not supported.
		return Launch{Argv: []string{p, "/c", "start", "", cmdEscape(url)}, Dir: filepath.Dir(p)}, true
	}
	if p, ok := e.windowsProgram("explorer.exe", wslExplorer); ok {
		return Launch{Argv: []string{p, url}}, true
	}
	return Launch{}, false
}

// windowsProgram finds a Windows program on $PATH, else at its place on
// drive C:.
func (e Env) windowsProgram(name, fallback string) (string, bool) {
	if p, ok := e.lookPath(name); ok {
		return p, true
	}
	if e.exists(fallback) {
		return fallback, true
	}
	return "", false
}

// cmdEscape makes url one literal word on cmd.exe's command line. WSL hands
// an argument without blanks or quotes to Windows as it is, and cmd.exe
// then reads & | < > ( ) as operators (the & between query parameters
// would end the command) and expands %NAME%. A caret before an operator,
// and after each % but a last one (a caret ending the line would continue
// it), keeps every character literal: cmd.exe removes the carets after it
// has looked for variables, and no variable name starts with one. Blanks, quotes, control and non-ASCII characters, which no
// valid URL holds, are percent-encoded first, so that WSL never quotes the
// word (cmd.exe would not understand its backslash escapes).
func cmdEscape(url string) string {
	var b strings.Builder
	for i := 0; i < len(url); i++ {
		c := url[i]
		switch {
		case c <= ' ' || c == '"' || c >= 0x7f:
			fmt.Fprintf(&b, "%%^%02X", c)
		case c == '%' && i+1 < len(url):
			b.WriteString("%^")
		case strings.IndexByte("^&|<>()", c) >= 0:
			b.WriteByte('^')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// run runs the launch under ctx, its output to stderr.
func (l Launch) run(ctx context.Context, stderr io.Writer) error {
	if len(l.Argv) == 0 {
		return errors.New("no command to open the browser")
	}
	cmd := exec.CommandContext(ctx, l.Argv[0], l.Argv[1:]...)
	cmd.Dir = l.Dir
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(l.Argv[0]), err)
	}
	return nil
}
