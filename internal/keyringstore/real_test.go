//go:build linux

package keyringstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/twauth/twauth/internal/store"
)

// The real keyring tests run the backend against gnome-keyring's Secret
// Service, in a private D-Bus session that the test binary starts for
// itself (dbus-run-session re-executes it), so they never touch the
// keyring of the desktop they run on.

// aptInstall is what the real keyring tests need on Debian.
const aptInstall = "apt-get install -y --no-install-recommends dbus gnome-keyring libsecret-tools"

const (
	// sessionEnv, in a re-executed test binary, holds the directory of
	// its private session (HOME, XDG directories, bus config).
	sessionEnv = "TWAUTH_KEYRING_TEST_SESSION"
	// crashEnv makes the test binary a twauth that is killed in the
	// middle of a refresh of the store at that path (see TestMain).
	crashEnv = "TWAUTH_KEYRING_TEST_CRASH"
	// keyringPassword unlocks the test's own login keyring.
	keyringPassword = "test-keyring-password"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashMidRefresh(path)
	}
	os.Exit(m.Run())
}

// crashMidRefresh refreshes the store at path and is killed (SIGKILL)
// right after X's answer is journalled: before the keyring write.
func crashMidRefresh(path string) {
	st := &store.Store{Path: path, Backend: New("", &store.Store{Path: path})}
	r := (&fakeX{}).rotation("app-one")
	r.Refresh = func(_ context.Context, rt string, journal func([]byte)) (store.Grant, error) {
		journal([]byte(`{"token_type":"bearer","expires_in":7200,"access_token":"AT-killed","refresh_token":"RT-killed"}`))
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	_, err := st.Rotate(context.Background(), r)
	fmt.Fprintln(os.Stderr, "the refresh was not killed:", err)
	os.Exit(3)
}

func TestRealKeyring(t *testing.T) {
	if os.Getenv(sessionEnv) == "" {
		runInPrivateSession(t)
		return
	}
	session := os.Getenv(sessionEnv)
	dir := filepath.Join(t.TempDir(), "twauth")
	path := filepath.Join(dir, "tokens.json")
	b := New("", &store.Store{Path: path})
	st := &store.Store{Path: path, Backend: b}

	// The private bus starts no service on demand: until gnome-keyring
	// runs, there is no Secret Service on it.
	t.Run("no Secret Service", func(t *testing.T) {
		err := Available()
		var ue *UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("Available = %v (%T), want an *UnavailableError", err, err)
		}
		t.Log(err)
	})
	startGnomeKeyring(t, session)

	t.Run("available", func(t *testing.T) {
		if err := Available(); err != nil {
			t.Fatalf("Available = %v", err)
		}
		if items := search(t); len(items) != 0 {
			t.Errorf("the probe left items: %v", items)
		}
	})

	t.Run("login", func(t *testing.T) {
		login(t, st, entry("app-one", "AT-0", "RT-0"))
		login(t, st, entry("app-two", "AT-two", "RT-two"))
		want := []map[string]string{
			{"label": "Password for 'app-one' on 'twauth'", "attribute.service": "twauth", "attribute.username": "app-one",
				"secret": `{"access_token":"AT-0","refresh_token":"RT-0"}`},
			{"label": "Password for 'app-two' on 'twauth'", "attribute.service": "twauth", "attribute.username": "app-two",
				"secret": `{"access_token":"AT-two","refresh_token":"RT-two"}`},
		}
		if got := search(t); !reflect.DeepEqual(got, want) {
			t.Errorf("secret-tool search --all service twauth:\n%v\nwant\n%v", got, want)
		}
		noSecretsIn(t, dir, "AT-0", "RT-0", "AT-two", "RT-two")
		f, err := st.Load()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f.Clients["app-one"], entry("app-one", "AT-0", "RT-0")) {
			t.Errorf("Load = %+v", f.Clients["app-one"])
		}
	})

	t.Run("rotate", func(t *testing.T) {
		x := &fakeX{}
		res, err := st.Rotate(context.Background(), x.rotation("app-one"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x.sent, []string{"RT-0"}) || res.Entry.RefreshToken != "RT-1" {
			t.Fatalf("sent %v, Rotate = %+v", x.sent, res)
		}
		if v := lookup(t, "app-one"); v != `{"access_token":"AT-1","refresh_token":"RT-1"}` {
			t.Errorf("secret-tool lookup = %s", v)
		}
		noSecretsIn(t, dir, "AT-0", "RT-0", "AT-1", "RT-1", "AT-two", "RT-two")
	})

	t.Run("killed between the journal and the keyring write", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the refresh was not killed: %v\n%s", err, out)
		}
		if v := lookup(t, "app-one"); !strings.Contains(v, `"RT-1"`) {
			t.Fatalf("the keyring changed before the kill: %s", v)
		}
		x := &fakeX{next: 1}
		res, err := st.Rotate(context.Background(), x.rotation("app-one"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x.sent, []string{"RT-killed"}) || res.RecoveredFrom == "" || !strings.Contains(res.RecoveredFrom, ".journal-") {
			t.Fatalf("sent %v, Rotate = %+v: want the journalled RT-killed spent first", x.sent, res)
		}
		if v := lookup(t, "app-one"); v != `{"access_token":"AT-2","refresh_token":"RT-2"}` {
			t.Errorf("secret-tool lookup = %s", v)
		}
		noSecretsIn(t, dir, "RT-1", "AT-killed", "RT-killed", "AT-2", "RT-2")
	})

	t.Run("an item another program changed or removed", func(t *testing.T) {
		secretTool(t, "", "clear", "service", "twauth", "username", "app-two")
		var ie *ItemError
		if _, err := st.Load(); !errors.As(err, &ie) || !ie.Missing || ie.Key != "app-two" {
			t.Fatalf("Load after secret-tool clear = %v", err)
		}
		secretTool(t, "not twauth's", "store", "--label=other", "service", "twauth", "username", "app-two")
		if _, err := st.Load(); !errors.As(err, &ie) || ie.Missing || ie.Key != "app-two" {
			t.Fatalf("Load after secret-tool store = %v", err)
		}
		// A new login through the tolerant view repairs it.
		login(t, &store.Store{Path: path, Backend: b.Tolerant()}, entry("app-two", "AT-two2", "RT-two2"))
		var two []map[string]string
		for _, it := range search(t) {
			if it["attribute.username"] == "app-two" {
				two = append(two, it)
			}
		}
		if len(two) != 1 || two[0]["secret"] != `{"access_token":"AT-two2","refresh_token":"RT-two2"}` {
			t.Errorf("the items of app-two after a new login: %v", two)
		}
		if _, err := st.Load(); err != nil {
			t.Errorf("Load after the new login = %v", err)
		}
	})

	t.Run("revoke removes the item", func(t *testing.T) {
		if err := st.Update(context.Background(), func(f *store.File) error {
			delete(f.Clients, "app-two")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, it := range search(t) {
			if it["attribute.username"] == "app-two" {
				t.Errorf("the item of app-two is still there: %v", it)
			}
		}
	})

	t.Run("move from a file store", func(t *testing.T) {
		src := &store.Store{Path: filepath.Join(t.TempDir(), "tokens.json")}
		login(t, src, entry("app-three", "AT-three", "RT-three"))
		moved, err := MoveFromFile(context.Background(), src, b)
		if err != nil || !reflect.DeepEqual(moved, []string{"app-three"}) {
			t.Fatalf("MoveFromFile = %v, %v", moved, err)
		}
		if v := lookup(t, "app-three"); v != `{"access_token":"AT-three","refresh_token":"RT-three"}` {
			t.Errorf("secret-tool lookup = %s", v)
		}
		noSecretsIn(t, filepath.Dir(src.Path), "AT-three", "RT-three")
		noSecretsIn(t, dir, "AT-three", "RT-three")
	})

	// Last: nothing unlocks the keyring again (that takes a prompt).
	t.Run("locked", func(t *testing.T) {
		conn, err := dbus.SessionBus()
		if err != nil {
			t.Fatal(err)
		}
		var locked []dbus.ObjectPath
		var prompt dbus.ObjectPath
		svc := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets")
		if err := svc.Call("org.freedesktop.Secret.Service.Lock", 0,
			[]dbus.ObjectPath{"/org/freedesktop/secrets/collection/login"}).Store(&locked, &prompt); err != nil {
			t.Fatal(err)
		}
		err = Available()
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("Available = %v (%T), want a *LockedError", err, err)
		}
		t.Log(err)
		if _, err := st.Load(); !errors.As(err, &le) {
			t.Errorf("Load = %v (%T), want a *LockedError", err, err)
		}
	})
}

// runInPrivateSession runs TestRealKeyring again in a new D-Bus session
// bus that starts nothing on demand, with HOME and the XDG directories in
// a temporary directory.
func runInPrivateSession(t *testing.T) {
	for _, bin := range []string{"dbus-run-session", "dbus-daemon", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed: the real keyring tests need Debian's dbus, gnome-keyring and libsecret-tools:\n\t%s", bin, aptInstall)
		}
	}
	dir := t.TempDir()
	for _, d := range []string{"home", "data", "config", "cache", "run"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "session.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config-file=" + conf, "--", os.Args[0], "-test.run=^TestRealKeyring$", "-test.v"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command("dbus-run-session", args...)
	// Nothing may lead the child to the desktop's own keyring.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(name, "GNOME_KEYRING_") || name == "DBUS_SESSION_BUS_ADDRESS"
	})
	cmd.Env = append(env,
		sessionEnv+"="+dir,
		"HOME="+filepath.Join(dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
	)
	out, err := cmd.CombinedOutput()
	// The child's own verdicts, so that a run that ran nothing fails.
	passed := strings.Count(string(out), "--- PASS: TestRealKeyring/")
	if err != nil || passed == 0 || strings.Contains(string(out), "--- FAIL") || strings.Contains(string(out), "--- SKIP") {
		t.Fatalf("the real keyring tests, in a private D-Bus session: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("in a private D-Bus session:\n%s", out)
	}
}

// startGnomeKeyring starts gnome-keyring-daemon's Secret Service with a
// login keyring unlocked by keyringPassword, waits until it owns its bus
// name, and stops it at cleanup.
func startGnomeKeyring(t *testing.T, session string) {
	cmd := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	cmd.Stdin = strings.NewReader(keyringPassword)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	conn, err := dbus.SessionBus()
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var has bool
		if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&has); err != nil {
			t.Fatal(err)
		}
		if has {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("gnome-keyring-daemon did not take org.freedesktop.secrets within 10s (HOME in %s):\n%s", session, log.String())
		}
	}
}

// secretTool runs secret-tool with stdin and returns its standard output.
func secretTool(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("secret-tool", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("secret-tool %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// lookup is the secret of the item of key under service twauth.
func lookup(t *testing.T, key string) string {
	t.Helper()
	return secretTool(t, "", "lookup", "service", "twauth", "username", key)
}

// search lists the items of service twauth as secret-tool shows them
// (label, secret, attribute.NAME), by username; creation times and the
// schema line (printed to stderr, so its place in the output varies) left out.
func search(t *testing.T) []map[string]string {
	t.Helper()
	cmd := exec.Command("secret-tool", "search", "--all", "service", "twauth")
	// secret-tool writes each item's header to stderr, its fields to stdout.
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) > 0 {
		t.Fatalf("secret-tool search: %v\n%s", err, out)
	}
	var items []map[string]string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "[/") {
			items = append(items, map[string]string{})
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok || len(items) == 0 || k == "created" || k == "modified" || k == "schema" {
			continue
		}
		items[len(items)-1][k] = v
	}
	// secret-tool lists in no set order.
	slices.SortFunc(items, func(a, b map[string]string) int {
		return strings.Compare(a["attribute.username"], b["attribute.username"])
	})
	return items
}
