//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package keyringstore

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/godbus/dbus/v5"
)

func TestClassify(t *testing.T) {
	var u *UnavailableError
	var l *LockedError
	for _, tc := range []struct {
		err  error
		want any
	}{
		{dbus.NewError("org.freedesktop.DBus.Error.ServiceUnknown", []any{"The name org.freedesktop.secrets was not provided by any .service files"}), &u},
		{fmt.Errorf("wrapped: %w", dbus.Error{Name: "org.freedesktop.DBus.Error.NameHasNoOwner"}), &u},
		{dbus.NewError("org.freedesktop.DBus.Error.Spawn.ChildExited", nil), &u},
		{dbus.NewError("org.freedesktop.DBus.Error.UnknownObject", nil), &u},
		{&net.OpError{Op: "dial", Net: "unix", Err: errors.New("connection refused")}, &u},
		{errors.New("dbus: authentication failed"), &u},
		{dbus.NewError("org.freedesktop.Secret.Error.IsLocked", nil), &l},
		{errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"), &l},
	} {
		got := classify(tc.err)
		if !errors.As(got, tc.want) {
			t.Errorf("classify(%v) = %T, want %T", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) lost the error it wraps", tc.err)
		}
	}
	other := dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", nil)
	if got := classify(other); got != error(other) {
		t.Errorf("classify(%v) = %v, want it unchanged", other, got)
	}
}

func TestBusReachable(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nowhere")
	if err := busReachable(); err != nil {
		t.Errorf("with an address: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	_, errBus := os.Stat(filepath.Join("/run/user", u.Uid, "bus"))
	_, errSession := os.Stat(filepath.Join("/run/user", u.Uid, "dbus-session"))
	runtimeBus := errBus == nil || errSession == nil
	for _, addr := range []string{"", "autolaunch:"} {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
		err := busReachable()
		var ue *UnavailableError
		if runtimeBus && err != nil || !runtimeBus && !errors.As(err, &ue) {
			t.Errorf("address %q, a bus in /run/user/%s: %v; busReachable = %v", addr, u.Uid, runtimeBus, err)
		}
	}
}
