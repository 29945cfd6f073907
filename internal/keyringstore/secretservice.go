//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package keyringstore

import (
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/godbus/dbus/v5"
)

// This file holds what go-keyring's Secret Service provider needs (its
// build constraint is the same).

// busReachable reports whether a D-Bus session bus is known: its address is
// in the environment, or the user's runtime directory has one. Without
// this check, godbus would start one with dbus-launch, leaving a daemon
// behind on every probe in CI.
func busReachable() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	if u, err := user.Current(); err == nil {
		for _, name := range []string{"bus", "dbus-session"} {
			if _, err := os.Stat(filepath.Join("/run/user", u.Uid, name)); err == nil {
				return nil
			}
		}
	}
	return &UnavailableError{Reason: "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"}
}

// classifyPlatform reads the Secret Service's D-Bus errors.
func classifyPlatform(err error) error {
	var name string
	var de *dbus.Error
	var dv dbus.Error
	switch {
	case errors.As(err, &de):
		name = de.Name
	case errors.As(err, &dv):
		name = dv.Name
	}
	var op *net.OpError
	switch {
	case name == "org.freedesktop.DBus.Error.ServiceUnknown",
		name == "org.freedesktop.DBus.Error.NameHasNoOwner",
		strings.HasPrefix(name, "org.freedesktop.DBus.Error.Spawn."):
		return &UnavailableError{Reason: "no Secret Service on the D-Bus session bus (org.freedesktop.secrets): start gnome-keyring, KeePassXC or another provider", Err: err}
	case name == "org.freedesktop.DBus.Error.UnknownObject":
		return &UnavailableError{Reason: "the Secret Service has no default keyring", Err: err}
	case name == "org.freedesktop.Secret.Error.IsLocked",
		// go-keyring's words when an unlock prompt was dismissed or
		// could not be shown.
		name == "" && strings.HasPrefix(err.Error(), "failed to unlock correct collection"):
		return &LockedError{Err: err}
	case errors.As(err, &op), name == "" && strings.HasPrefix(err.Error(), "dbus: "):
		return &UnavailableError{Reason: "the D-Bus session bus does not answer", Err: err}
	}
	return nil
}
