package opener

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// wslInteropFiles are the binfmt_misc entries through which WSL runs
// Windows programs: one exists while WSL's Windows interop is on ("-late"
// where the distro boots with systemd).
var wslInteropFiles = [...]string{"/proc/sys/fs/binfmt_misc/WSLInterop", "/proc/sys/fs/binfmt_misc/WSLInterop-late"}

// isWSL reports whether this is Linux under the Windows Subsystem for
// Linux: WSL sets $WSL_DISTRO_NAME (and $WSL_INTEROP), and registers a
// WSLInterop binfmt_misc entry, which stays when sudo or env -i drop the
// variables. exists reports whether a file exists; nil: none does.
func isWSL(goos string, getenv func(string) string, exists func(string) bool) bool {
	if goos != "linux" {
		return false
	}
	if getenv("WSL_DISTRO_NAME") != "" || getenv("WSL_INTEROP") != "" {
		return true
	}
	for _, f := range wslInteropFiles {
		if exists != nil && exists(f) {
			return true
		}
	}
	return false
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// Openers of a URL, the first found wins. Under WSL, the Windows browser
// comes first: wslview (from wslu), then cmd.exe's start, then
// explorer.exe, each Windows program on $PATH, else at its place on drive
// C: (for when /etc/wsl.conf sets appendWindowsPath=false); then, as on
// other Unix systems, the desktop's opener, as github.com/pkg/browser
// tries them.
var (
	wslOpeners = []string{"wslview", "cmd.exe", "/mnt/c/Windows/System32/cmd.exe", "explorer.exe", "/mnt/c/Windows/explorer.exe"}
	xdgOpeners = []string{"xdg-open", "x-www-browser", "www-browser"}
)

// systemCommand returns the command line, and the directory to run it in,
// that opens url with the system's opener on goos (not windows, which has
// ShellExecute), under WSL when wsl is set, given a lookPath like
// exec.LookPath; argv is nil when none is found.
func systemCommand(goos string, wsl bool, lookPath func(string) (string, error), url string) (argv []string, dir string) {
	names := xdgOpeners
	if goos == "darwin" {
		names = []string{"open"}
	} else if wsl {
		names = append(wslOpeners[:len(wslOpeners):len(wslOpeners)], xdgOpeners...)
	}
	for _, name := range names {
		p, err := lookPath(name)
		if err != nil {
			continue
		}
		if strings.HasSuffix(name, "cmd.exe") {
			// The empty argument is start's window title: without it, start
			// would take a quoted URL for one. cmd.exe runs in its own
			// directory: started in a Linux one (a \\wsl$ UNC path), it
			// warns that UNC paths are not supported.
			return []string{p, "/c", "start", "", cmdEscape(url)}, filepath.Dir(p)
		}
		return []string{p, url}, ""
	}
	return nil, ""
}

// cmdEscape makes url one literal word on cmd.exe's command line. WSL hands
// an argument without blanks or quotes to Windows as it is, and cmd.exe
// then reads & | < > ( ) as operators (the & between query parameters
// would end the command) and expands %NAME%. A caret before an operator,
// and after each % but a last one (a caret ending the line would continue
// it), keeps every character literal: cmd.exe removes the carets after it
// has looked for variables, and no variable name starts with one. Blanks,
// quotes, control and non-ASCII characters, which no valid URL holds, are
// percent-encoded first, so that WSL never quotes the word (cmd.exe would
// not understand its backslash escapes).
func cmdEscape(url string) string {
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(url)+len(url)/4)
	for i := 0; i < len(url); i++ {
		switch c := url[i]; {
		case c <= ' ' || c == '"' || c >= 0x7f:
			b = append(b, '%', '^', hex[c>>4], hex[c&15])
		case c == '%' && i+1 < len(url):
			b = append(b, '%', '^')
		case strings.IndexByte("^&|<>()", c) >= 0:
			b = append(b, '^', c)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// WSL reports whether this process runs under the Windows Subsystem for
// Linux, where the browser is a Windows program.
func WSL() bool { return isWSL(runtime.GOOS, os.Getenv, fileExists) }
