//go:build unix

package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/store"
)

// TestStoreOthersCanWriteIsRefused (issue 13, item 2): a store directory
// or file that another user can write, or that another user owns, is
// refused with exit 2 and the command that fixes it, as ssh refuses such a
// ~/.ssh; nothing is sent to X.
func TestStoreOthersCanWriteIsRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		harm func(w *world) string
		fix  string
	}{
		{"directory 0777", func(w *world) string {
			os.Chmod(filepath.Dir(w.store), 0o777)
			return filepath.Dir(w.store)
		}, "chmod 700 "},
		{"file 0666", func(w *world) string {
			os.Chmod(w.store, 0o666)
			return w.store
		}, "chmod 600 "},
		{"file of another user", func(w *world) string {
			if os.Getuid() != 0 {
				t.Skip("needs root to give the file away (CI runs as root)")
			}
			os.Chown(w.store, 65534, 65534)
			return w.store
		}, "chown $(id -u) "},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.seed(publicID, scopes, t0.Add(time.Minute), false)
			path := c.harm(w)
			before := len(w.tokenRequests())
			r := w.run("token", "--client-id", publicID)
			if r.code != 2 || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, c.fix+path) || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
			}
			if len(w.tokenRequests()) != before {
				t.Error("a request reached X")
			}
		})
	}
}

// TestLeftoverOfAnotherUserIsNotAdopted (issue 13, item 2): a temp file
// of the store that another user planted (or anyone could have written) is
// never taken for the successor of the chain.
func TestLeftoverOfAnotherUserIsNotAdopted(t *testing.T) {
	w := newWorld(t)
	w.seed(publicID, scopes, t0.Add(time.Minute), false)
	st := &store.Store{Path: w.store}
	f, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	planted := *f.Entry(publicID)
	planted.RefreshToken = "ATTACKER-CHAIN"
	f.Clients[publicID] = &planted
	data, _ := store.Encode(f)
	for i, mode := range []os.FileMode{0o644, 0o600} {
		p := filepath.Join(filepath.Dir(w.store), ".tokens.json.tmp-"+string(rune('a'+i)))
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		if mode == 0o600 {
			if os.Getuid() != 0 {
				continue
			}
			os.Chown(p, 65534, 65534)
		}
	}
	if o := st.Orphans(publicID, ""); len(o) != 0 {
		t.Fatalf("adopted %+v", o)
	}
	if r := w.run("refresh", "--client-id", publicID); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, req := range w.tokenRequests() {
		if req.Form.Get("refresh_token") == "ATTACKER-CHAIN" {
			t.Fatal("the planted refresh token was sent")
		}
	}
}
