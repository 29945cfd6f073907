package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/store"
)

// The full-disk test puts the store on a small tmpfs and fills it up, to
// check what docs/design.md ("The durable sequence", step 5) promises of a
// full disk: X's answer always has somewhere to go before the refresh
// request is sent, so a full disk costs a refresh, never the chain.
const (
	// diskSize is the tmpfs: room for the store, its lock and a journal.
	diskSize = 256 << 10
	// diskOtherApps pads the store with other apps' entries, past the room
	// a journal gives back when it is cut to X's answer (16 KiB less the
	// answer): then the save cannot take that room.
	diskOtherApps = 40
	fillerName    = "filler"
)

// TestFullDisk runs `twauth refresh` (a real process, built from
// cmd/twauth) against the fake X with its store on a tmpfs that is full
// before the refresh, or fills up the moment X receives the request.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; CI runs the tests as root")
	}
	r := newCrashRig(t)
	parent := r.t
	defer func() { r.t = parent }()

	t.Run("full before the refresh", func(t *testing.T) {
		disk := r.onTmpfs(t, 0)
		storeBefore, cfgBefore, filesBefore := r.read(r.store), r.read(r.cfg), r.files(disk)
		r.fill(filepath.Join(disk, fillerName))

		since := time.Now()
		code, stderr, _ := r.refresh(nil)
		if code != 1 {
			t.Errorf("twauth refresh on a full disk: exit %d, want 1\n%s", code, stderr)
		}
		for _, want := range []string{"no room", "nothing was sent", "free some space"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("twauth refresh on a full disk: stderr does not say %q:\n%s", want, stderr)
			}
		}
		if n := len(r.refreshRequestsSince(since)); n != 0 {
			t.Errorf("X got %d refresh requests from a twauth that had no room for the answer, want none", n)
		}
		r.unchanged(disk, storeBefore, cfgBefore, filesBefore)

		r.free(disk)
		r.refreshWorks(disk)
	})

	for _, tc := range []struct {
		name      string
		otherApps int
	}{
		{"fills when X gets the request", 0},
		{"fills when X gets the request, store larger than the reservation", diskOtherApps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := r.onTmpfs(t, tc.otherApps)
			spent := r.load().RefreshToken
			fillErr := make(chan error, 1)
			r.clock.setOnRefresh(func() { fillErr <- fill(filepath.Join(disk, fillerName)) })
			since := time.Now()
			code, stderr, _ := r.refresh(nil)
			r.clock.setOnRefresh(nil)
			select {
			case err := <-fillErr:
				if err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("X got no refresh request (exit %d)\n%s", code, stderr)
			}
			a := r.waitAnswer(spent, since)
			if a.issued == "" || !r.srv.IsValidRefreshToken(a.issued) {
				t.Fatalf("X did not rotate the refresh token (exit %d)\n%s", code, stderr)
			}
			t.Logf("twauth refresh on a disk that filled when X got the request: exit %d\n%s", code, stderr)
			if code == 0 {
				if r.load().RefreshToken != a.issued {
					t.Errorf("twauth refresh exited 0, but the store does not hold X's new refresh token")
				}
			} else if len(r.holding(a.issued)) == 0 {
				t.Errorf("twauth refresh exited %d, and no journal holds X's new refresh token: the chain is lost\n%s", code, stderr)
			} else if strings.Contains(stderr, "twauth login") || !strings.Contains(stderr, "twauth refresh") {
				// The journal holds X's answer, and the next refresh
				// recovers it (below): logging in again is not the fix.
				t.Errorf("twauth refresh could not save, and X's new refresh token is kept in a journal: the message should say to free space and run twauth refresh, not to log in:\n%s", stderr)
			}
			r.onlyLive(disk, a.issued)

			if code != 0 {
				// Still full (the journal holds X's answer): the next refresh
				// has no room for a journal, so it sends nothing and leaves
				// what the first one kept.
				storeBefore, cfgBefore, filesBefore := r.read(r.store), r.read(r.cfg), r.files(disk)
				since = time.Now()
				if code, stderr, _ := r.refresh(nil); code != 1 || !strings.Contains(stderr, "no room") {
					t.Errorf("twauth refresh on a disk still full: exit %d, want 1 and no room\n%s", code, stderr)
				}
				if n := len(r.refreshRequestsSince(since)); n != 0 {
					t.Errorf("X got %d refresh requests from a twauth that had no room for the answer, want none", n)
				}
				r.unchanged(disk, storeBefore, cfgBefore, filesBefore)
			}

			r.free(disk)
			r.refreshWorks(disk)
		})
	}
}

// onTmpfs mounts a tmpfs of diskSize for the rest of t, moves the rig's
// store there, with otherApps entries of other apps beside the rig's, and
// logs in. It returns the tmpfs's directory.
func (r *crashRig) onTmpfs(t *testing.T, otherApps int) string {
	t.Helper()
	parent := r.t
	r.t = t
	t.Cleanup(func() { r.t = parent })
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	err := syscall.Mount("tmpfs", disk, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", diskSize))
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("mount a tmpfs on %s: %v (a container without CAP_SYS_ADMIN)", disk, err)
	}
	if err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", disk, err)
	}
	// After t.TempDir's removal was registered, so it runs first.
	t.Cleanup(func() {
		if err := syscall.Unmount(disk, 0); err != nil {
			t.Errorf("unmount the tmpfs on %s: %v", disk, err)
		}
	})
	r.store = filepath.Join(disk, "tokens.json")
	if otherApps > 0 {
		st := &store.Store{Path: r.store}
		err := st.Update(context.Background(), func(f *store.File) error {
			for i := range otherApps {
				id := fmt.Sprintf("other-app-%02d", i)
				f.Clients[id] = &store.Entry{
					ClientID: id, AccessToken: strings.Repeat("a", 120), RefreshToken: strings.Repeat("r", 120),
					TokenType: "bearer", Expiry: time.Now().Add(time.Hour).UTC(), Scope: "tweet.read users.read offline.access",
					TokenURL: r.srv.TokenURL(), UpdatedAt: time.Now().UTC(),
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.login()
	if otherApps > 0 {
		if fi, err := os.Stat(r.store); err != nil || fi.Size() <= 16<<10 {
			t.Fatalf("the store with %d other apps should be over 16 KiB: %v, %v", otherApps, fi.Size(), err)
		}
	}
	return disk
}

// fill fills the filesystem of path with a new file at path.
func (r *crashRig) fill(path string) {
	t := r.t
	t.Helper()
	if err := fill(path); err != nil {
		t.Fatal(err)
	}
}

// fill writes a file at path until its filesystem is full.
func fill(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xff}, 4<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill %s: %w", path, err)
		}
	}
}

// free removes the filler from disk.
func (r *crashRig) free(disk string) {
	t := r.t
	t.Helper()
	if err := os.Remove(filepath.Join(disk, fillerName)); err != nil {
		t.Fatal(err)
	}
}

// refreshWorks checks that `twauth refresh` succeeds, that X takes the
// stored refresh token, and that no journal or temp file is left.
func (r *crashRig) refreshWorks(disk string) {
	t := r.t
	t.Helper()
	if code, stderr, _ := r.refresh(nil); code != 0 {
		t.Fatalf("twauth refresh after space was freed: exit %d\n%s", code, stderr)
	}
	r.checkFiles("after space was freed")
	r.checkInSync()
	if s := r.strays(); len(s) > 0 {
		t.Errorf("files left beside the store after a refresh that worked: %v", s)
	}
	r.onlyLive(disk, r.load().RefreshToken)
}

// onlyLive fails the test unless disk holds only the store, its lock, the
// filler, and journals that hold live, X's current refresh token.
func (r *crashRig) onlyLive(disk, live string) {
	t := r.t
	t.Helper()
	holding := r.holding(live)
	for name := range r.files(disk) {
		switch {
		case name == filepath.Base(r.store), name == filepath.Base(r.store)+".lock", name == fillerName:
		case strings.Contains(name, ".journal-") && slices.Contains(holding, name):
		default:
			t.Errorf("%s is left beside the store: only the store, its lock and journals of X's current refresh token may be", name)
		}
	}
}

// unchanged fails the test if the store, Config.toml, or the files of disk
// differ from before.
func (r *crashRig) unchanged(disk string, storeBefore, cfgBefore []byte, filesBefore map[string]int64) {
	t := r.t
	t.Helper()
	if !bytes.Equal(r.read(r.store), storeBefore) {
		t.Errorf("the store changed")
	}
	if !bytes.Equal(r.read(r.cfg), cfgBefore) {
		t.Errorf("Config.toml changed")
	}
	files := r.files(disk)
	delete(files, fillerName)
	delete(filesBefore, fillerName)
	if !maps.Equal(files, filesBefore) {
		t.Errorf("the files beside the store changed: %v, before %v", files, filesBefore)
	}
}

// files maps the names of the files in dir to their sizes.
func (r *crashRig) files(dir string) map[string]int64 {
	t := r.t
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[de.Name()] = fi.Size()
	}
	return out
}

func (r *crashRig) read(path string) []byte {
	t := r.t
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
