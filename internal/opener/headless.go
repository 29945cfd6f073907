package opener

import "runtime"

// Headless reports whether a browser cannot be opened here, and why, given
// the operating system (runtime.GOOS) and the environment. A browser command
// ($BROWSER, or --browser passed as explicitCommand) always counts as a way
// to open one. Without one, an SSH session cannot (a browser would open on
// the remote machine's desktop, if anywhere); WSL can, in Windows (found
// by its variables, or by its interop file when goos is the running one);
// and a Unix desktop needs $DISPLAY or $WAYLAND_DISPLAY.
func Headless(goos string, getenv func(string) string, explicitCommand bool) (bool, string) {
	var exists func(string) bool
	if goos == runtime.GOOS {
		exists = fileExists
	}
	return headlessIn(goos, getenv, exists, explicitCommand)
}

// headlessIn is Headless with the files that exist given.
func headlessIn(goos string, getenv func(string) string, exists func(string) bool, explicitCommand bool) (bool, string) {
	if explicitCommand || getenv("BROWSER") != "" {
		return false, ""
	}
	if getenv("SSH_CONNECTION") != "" || getenv("SSH_CLIENT") != "" || getenv("SSH_TTY") != "" {
		return true, "this is an SSH session and $BROWSER is not set"
	}
	switch goos {
	case "darwin", "windows", "android", "ios":
		return false, ""
	}
	if isWSL(goos, getenv, exists) {
		return false, ""
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return true, "there is no display ($DISPLAY and $WAYLAND_DISPLAY are empty) and $BROWSER is not set"
	}
	return false, ""
}
