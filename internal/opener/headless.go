package opener

// Headless reports whether a browser cannot be opened here, and why, given
// the operating system (runtime.GOOS) and the environment. A browser command
// ($BROWSER, or --browser passed as explicitCommand) always counts as a way
// to open one. Without one, an SSH session cannot (a browser would open on
// the remote machine's desktop, if anywhere), and a Unix desktop needs
// $DISPLAY or $WAYLAND_DISPLAY; WSL opens the Windows browser through
// xdg-open and wslview.
func Headless(goos string, getenv func(string) string, explicitCommand bool) (headless bool, reason string) {
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
	if getenv("WSL_DISTRO_NAME") != "" || getenv("WSL_INTEROP") != "" {
		return false, ""
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return true, "there is no display ($DISPLAY and $WAYLAND_DISPLAY are empty) and $BROWSER is not set"
	}
	return false, ""
}
