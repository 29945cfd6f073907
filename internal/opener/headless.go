package opener

import "runtime"

// Headless reports whether a browser cannot be opened here, and why, given
// the operating system (runtime.GOOS) and the environment. It is
// Env.Headless with the running system's files when goos is the running
// one.
func Headless(goos string, getenv func(string) string, explicitCommand bool) (headless bool, reason string) {
	e := Env{GOOS: goos, Getenv: getenv}
	if goos == runtime.GOOS {
		e.Exists = fileExists
	}
	return e.Headless(explicitCommand)
}

// Headless reports whether a browser cannot be opened here, and why. A
// browser command ($BROWSER, or --browser passed as explicitCommand) always
// counts as a way to open one. Without one, an SSH session cannot (a
// browser would open on the remote machine's desktop, if anywhere); WSL
// can, in Windows (see WSLLaunch); and a Unix desktop needs $DISPLAY or
// $WAYLAND_DISPLAY.
func (e Env) Headless(explicitCommand bool) (headless bool, reason string) {
	if explicitCommand || e.getenv("BROWSER") != "" {
		return false, ""
	}
	if e.getenv("SSH_CONNECTION") != "" || e.getenv("SSH_CLIENT") != "" || e.getenv("SSH_TTY") != "" {
		return true, "this is an SSH session and $BROWSER is not set"
	}
	switch e.GOOS {
	case "darwin", "windows", "android", "ios":
		return false, ""
	}
	if e.WSL() {
		return false, ""
	}
	if e.getenv("DISPLAY") == "" && e.getenv("WAYLAND_DISPLAY") == "" {
		return true, "there is no display ($DISPLAY and $WAYLAND_DISPLAY are empty) and $BROWSER is not set"
	}
	return false, ""
}
