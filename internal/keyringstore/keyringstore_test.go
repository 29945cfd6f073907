package keyringstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/atomicfile"
	"github.com/twauth/twauth/internal/store"
	"github.com/zalando/go-keyring"
)

// These tests use go-keyring's mock, a process-wide provider: none of them
// runs in parallel. real_test.go runs the same backend against a real
// Secret Service.

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

var ctx = context.Background()

func entry(id, at, rt string) *store.Entry {
	return &store.Entry{ClientID: id, AccessToken: at, RefreshToken: rt, TokenType: "bearer",
		Expiry: t0.Add(2 * time.Hour), Scope: "tweet.read offline.access", TokenURL: "https://api.x.com/2/oauth2/token",
		Username: "bot", Config: &store.ConfigKeys{Path: "/p/Config.toml", TokenKey: "token", TokenSHA256: store.Fingerprint(at)},
		UpdatedAt: t0}
}

// mockStore starts go-keyring's mock and returns a keyring backend whose
// metadata file is tokens.json in a new directory, and the Store over it.
func mockStore(t *testing.T) (*Backend, *store.Store) {
	t.Helper()
	keyring.MockInit()
	noBusCheck(t)
	path := filepath.Join(t.TempDir(), "twauth", "tokens.json")
	b := New("", &store.Store{Path: path})
	return b, &store.Store{Path: path, Backend: b}
}

// noBusCheck lets keyring calls through without a D-Bus session bus: the
// mock needs none.
func noBusCheck(t *testing.T) {
	saved := busCheck
	busCheck = func() error { return nil }
	t.Cleanup(func() { busCheck = saved })
}

func login(t *testing.T, st *store.Store, e *store.Entry) {
	t.Helper()
	if err := st.Update(ctx, func(f *store.File) error {
		f.Clients[e.ClientID] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func item(t *testing.T, service, key string) string {
	t.Helper()
	v, err := keyring.Get(service, key)
	if err != nil {
		t.Fatalf("keyring item %s/%s: %v", service, key, err)
	}
	return v
}

// noSecretsIn fails when any file under dir holds one of the tokens.
func noSecretsIn(t *testing.T, dir string, tokens ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, tok := range tokens {
			if bytes.Contains(data, []byte(tok)) {
				t.Errorf("%s holds the token %q", p, tok)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSaveSplitsSecretsFromMetadata(t *testing.T) {
	b, st := mockStore(t)
	login(t, st, entry("app-one", "AT-one", "RT-one"))
	login(t, st, entry("app-two", "AT-two", ""))

	if v := item(t, "twauth", "app-one"); v != `{"access_token":"AT-one","refresh_token":"RT-one"}` {
		t.Errorf("item app-one = %s", v)
	}
	if v := item(t, "twauth", "app-two"); v != `{"access_token":"AT-two"}` {
		t.Errorf("item app-two = %s", v)
	}
	raw, err := os.ReadFile(st.Path)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := store.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := entry("app-one", "", "")
	want.Config.TokenSHA256 = store.Fingerprint("AT-one")
	if !reflect.DeepEqual(meta.Clients["app-one"], want) {
		t.Errorf("metadata entry:\n%+v\nwant\n%+v", meta.Clients["app-one"], want)
	}
	noSecretsIn(t, filepath.Dir(st.Path), "AT-one", "RT-one", "AT-two")
	if k := KeptInKeyring(meta); !reflect.DeepEqual(k, []string{"app-one", "app-two"}) {
		t.Errorf("KeptInKeyring(metadata) = %v", k)
	}
	plain := &store.File{Clients: map[string]*store.Entry{"app-one": entry("app-one", "AT-one", "")}}
	if k := KeptInKeyring(plain); k != nil {
		t.Errorf("KeptInKeyring(a plain store) = %v", k)
	}

	got, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Clients["app-one"], entry("app-one", "AT-one", "RT-one")) ||
		!reflect.DeepEqual(got.Clients["app-two"], entry("app-two", "AT-two", "")) {
		t.Errorf("Load merged:\n%+v\n%+v", got.Clients["app-one"], got.Clients["app-two"])
	}
	if w := b.Where(); w != "keyring:twauth (metadata in "+st.Path+")" {
		t.Errorf("Where = %q", w)
	}
}

func TestServiceNamesTheItems(t *testing.T) {
	_, st := mockStore(t)
	b := New("work", &store.Store{Path: st.Path})
	st.Backend = b
	login(t, st, entry("app-one", "AT-one", "RT-one"))
	if _, err := keyring.Get("twauth", "app-one"); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("an item under the default service: %v", err)
	}
	if v := item(t, "work", "app-one"); !strings.Contains(v, "RT-one") {
		t.Errorf("item work/app-one = %s", v)
	}
	if w := b.Where(); !strings.HasPrefix(w, "keyring:work (metadata in ") {
		t.Errorf("Where = %q", w)
	}
}

func TestSaveLeavesItsArgumentAlone(t *testing.T) {
	b, _ := mockStore(t)
	f := &store.File{Version: store.Version, Clients: map[string]*store.Entry{"app-one": entry("app-one", "AT-one", "RT-one")}}
	if err := b.Save(ctx, f); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Clients["app-one"], entry("app-one", "AT-one", "RT-one")) {
		t.Errorf("Save blanked the caller's entry: %+v", f.Clients["app-one"])
	}
}

func TestDamagedItem(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func() error
		missing bool
	}{
		{"removed", func() error { return keyring.Delete("twauth", "app-one") }, true},
		{"not JSON", func() error { return keyring.Set("twauth", "app-one", "hunter2-not-json") }, false},
		{"no tokens", func() error { return keyring.Set("twauth", "app-one", `{"password":"hunter2-other"}`) }, false},
		{"an array", func() error { return keyring.Set("twauth", "app-one", `["hunter2"]`) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, st := mockStore(t)
			login(t, st, entry("app-one", "AT-one", "RT-one"))
			login(t, st, entry("app-two", "AT-two", "RT-two"))
			if err := tc.damage(); err != nil {
				t.Fatal(err)
			}
			_, err := st.Load()
			var ie *ItemError
			if !errors.As(err, &ie) || ie.Key != "app-one" || ie.Service != "twauth" || ie.Missing != tc.missing {
				t.Fatalf("Load = %v (%T), want an *ItemError for app-one, missing %v", err, err, tc.missing)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the item's value: %v", err)
			}

			// The tolerant view keeps the entry's metadata without
			// secrets, writes no item for it, and lets a login replace it.
			tst := &store.Store{Path: st.Path, Backend: b.Tolerant()}
			f, err := tst.Load()
			if err != nil {
				t.Fatal(err)
			}
			if e := f.Clients["app-one"]; e == nil || e.AccessToken != "" || e.RefreshToken != "" || e.Username != "bot" {
				t.Fatalf("tolerant Load, app-one = %+v", e)
			}
			if e := f.Clients["app-two"]; e == nil || e.RefreshToken != "RT-two" {
				t.Fatalf("tolerant Load, app-two = %+v", e)
			}
			if err := tst.Save(f); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Load(); !errors.As(err, &ie) {
				t.Fatalf("after a tolerant save, Load = %v: the damage must stay visible", err)
			}
			login(t, tst, entry("app-one", "AT-new", "RT-new"))
			f, err = st.Load()
			if err != nil || f.Clients["app-one"].RefreshToken != "RT-new" {
				t.Fatalf("after a new login, Load = %v, %v", f, err)
			}
		})
	}
}

func TestRemovedEntryLosesItsItem(t *testing.T) {
	_, st := mockStore(t)
	login(t, st, entry("app-one", "AT-one", "RT-one"))
	login(t, st, entry("app-two", "AT-two", "RT-two"))
	if err := st.Update(ctx, func(f *store.File) error {
		delete(f.Clients, "app-one")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Get("twauth", "app-one"); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("item of the removed entry: %v", err)
	}
	if v := item(t, "twauth", "app-two"); !strings.Contains(v, "RT-two") {
		t.Errorf("item app-two = %s", v)
	}
}

func TestSecretsInTheMetadataFileWin(t *testing.T) {
	_, st := mockStore(t)
	login(t, st, entry("app-one", "AT-old", "RT-old"))
	// A plain file store at the same path (--store PATH) logs in again.
	plain := &store.Store{Path: st.Path}
	login(t, plain, entry("app-one", "AT-file", "RT-file"))

	f, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Clients["app-one"]; e.AccessToken != "AT-file" || e.RefreshToken != "RT-file" {
		t.Fatalf("Load = %+v, want the file's newer secrets", e)
	}
	if err := st.Update(ctx, func(*store.File) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if v := item(t, "twauth", "app-one"); v != `{"access_token":"AT-file","refresh_token":"RT-file"}` {
		t.Errorf("item after a save = %s", v)
	}
	noSecretsIn(t, filepath.Dir(st.Path), "AT-file", "RT-file")
}

func TestJournalsAreTheFileStoresJournals(t *testing.T) {
	b, st := mockStore(t)
	login(t, st, entry("app-one", "AT-one", "RT-one"))
	meta := &store.Store{Path: st.Path}

	j, err := b.Reserve(ctx, "app-one")
	if err != nil {
		t.Fatal(err)
	}
	answer := []byte(`{"token_type":"bearer","access_token":"AT2","refresh_token":"RT2","expires_in":7200}`)
	if err := j.Fill(answer); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(true); err != nil {
		t.Fatal(err)
	}
	// The store reads it back as it reads its own journals.
	o := meta.Orphans("app-one", "RT-one")
	if len(o) != 1 || o[0].Entry.RefreshToken != "RT2" {
		t.Fatalf("Orphans = %+v", o)
	}
	if raw, _ := os.ReadFile(o[0].Path); !bytes.Equal(raw, answer) {
		t.Errorf("journal = %q", raw)
	}
	if fi, _ := os.Stat(o[0].Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %o", fi.Mode().Perm())
	}
	l := b.Leftovers(ctx, "app-one", "RT-one")
	if len(l) != 1 || l[0].RefreshToken != "RT2" || !l[0].Newer || l[0].Where != o[0].Path {
		t.Fatalf("Leftovers = %+v", l)
	}
	if l := b.Leftovers(ctx, "app-one", "RT2"); len(l) != 0 {
		t.Errorf("the current token is a leftover: %+v", l)
	}
	// A save of another entry does not make it older: only its own save
	// removes it (docs/design.md, "The durable sequence", step 4).
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(o[0].Path, old, old); err != nil {
		t.Fatal(err)
	}
	if l := b.Leftovers(ctx, "app-one", "RT-one"); len(l) != 1 || !l[0].Newer {
		t.Errorf("Leftovers of a journal older than the metadata file = %+v, want Newer", l)
	}
	b.ClearJournals(ctx, "app-one")
	if o := meta.Orphans("app-one", ""); len(o) != 0 {
		t.Errorf("after ClearJournals: %+v", o)
	}

	// A journal not kept, or whose answer has no refresh token, goes.
	for _, tc := range []struct {
		body []byte
		keep bool
	}{{answer, false}, {[]byte(`{"error":"invalid_request"}`), true}, {nil, true}} {
		j, err := b.Reserve(ctx, "app-one")
		if err != nil {
			t.Fatal(err)
		}
		if tc.body != nil {
			if err := j.Fill(tc.body); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Close(tc.keep); err != nil {
			t.Fatal(err)
		}
		if m, _ := filepath.Glob(filepath.Join(filepath.Dir(st.Path), ".tokens.json.journal-*")); len(m) != 0 {
			t.Errorf("Close(%v) of %q left %v", tc.keep, tc.body, m)
		}
	}
}

// rotation is a refresh the way internal/app runs it, against a fake X that
// answers with the next pair of a chain.
type fakeX struct {
	sent []string
	next int
	// crash, when set, journals the answer and fails as a killed process
	// would stop: after X answered, before anything is saved.
	crash bool
}

func (x *fakeX) rotation(id string) store.Rotation {
	return store.Rotation{
		Key: id,
		Refresh: func(_ context.Context, rt string, journal func([]byte)) (store.Grant, error) {
			x.sent = append(x.sent, rt)
			x.next++
			n := string(rune('0' + x.next))
			journal([]byte(`{"token_type":"bearer","expires_in":7200,"access_token":"AT-` + n + `","refresh_token":"RT-` + n + `"}`))
			if x.crash {
				x.crash = false
				return store.Grant{}, errors.New("killed")
			}
			return store.Grant{AccessToken: "AT-" + n, RefreshToken: "RT-" + n, TokenType: "bearer", Expiry: t0.Add(4 * time.Hour)}, nil
		},
		Rejected: func(error) bool { return false },
		Entry: func(g store.Grant, old *store.Entry) *store.Entry {
			e := entry(id, g.AccessToken, g.RefreshToken)
			e.Expiry = g.Expiry
			e.CarryEarlier(old)
			return e
		},
	}
}

func TestRotate(t *testing.T) {
	_, st := mockStore(t)
	login(t, st, entry("app-one", "AT-0", "RT-0"))
	x := &fakeX{}
	res, err := st.Rotate(ctx, x.rotation("app-one"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Refreshed || res.Entry.RefreshToken != "RT-1" || !reflect.DeepEqual(x.sent, []string{"RT-0"}) {
		t.Fatalf("Rotate = %+v, sent %v", res, x.sent)
	}
	if v := item(t, "twauth", "app-one"); v != `{"access_token":"AT-1","refresh_token":"RT-1"}` {
		t.Errorf("item = %s", v)
	}
	f, err := (&store.Store{Path: st.Path}).Load()
	if err != nil || !f.Clients["app-one"].Expiry.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("metadata = %+v, %v", f.Clients["app-one"], err)
	}
	noSecretsIn(t, filepath.Dir(st.Path), "AT-0", "RT-0", "AT-1", "RT-1")
}

func TestRotateRecoversAfterACrashBeforeTheKeyringWrite(t *testing.T) {
	_, st := mockStore(t)
	login(t, st, entry("app-one", "AT-0", "RT-0"))
	x := &fakeX{crash: true}
	if _, err := st.Rotate(ctx, x.rotation("app-one")); err == nil || err.Error() != "killed" {
		t.Fatalf("Rotate = %v", err)
	}
	// X rotated RT-0 into RT-1, which only the journal holds.
	if v := item(t, "twauth", "app-one"); !strings.Contains(v, "RT-0") {
		t.Fatalf("item = %s", v)
	}
	res, err := st.Rotate(ctx, x.rotation("app-one"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x.sent, []string{"RT-0", "RT-1"}) || res.RecoveredFrom == "" || res.Entry.RefreshToken != "RT-2" {
		t.Fatalf("sent %v, Rotate = %+v: want the journal's RT-1 spent next", x.sent, res)
	}
	if v := item(t, "twauth", "app-one"); !strings.Contains(v, `"RT-2"`) {
		t.Errorf("item = %s", v)
	}
	noSecretsIn(t, filepath.Dir(st.Path), "RT-0", "RT-1", "RT-2")
}

func TestRotateWhenTheMetadataWriteFails(t *testing.T) {
	_, st := mockStore(t)
	login(t, st, entry("app-one", "AT-0", "RT-0"))
	broken := &store.Store{Path: st.Path, Backend: New("", &store.Store{Path: st.Path, FS: atomicfile.FailOn(atomicfile.OpRename, syscall.EIO)})}
	x := &fakeX{}
	res, err := broken.Rotate(ctx, x.rotation("app-one"))
	var se *store.SaveError
	if !errors.As(err, &se) || res.Entry == nil || res.Entry.RefreshToken != "RT-1" {
		t.Fatalf("Rotate = %+v, %v; want the new pair with a *store.SaveError", res, err)
	}
	// The keyring took the pair before the metadata write failed: the
	// next run spends RT-1, and the journal (same token) is no leftover.
	f, err := st.Load()
	if err != nil || f.Clients["app-one"].RefreshToken != "RT-1" || !f.Clients["app-one"].Expiry.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("Load = %+v, %v; want RT-1 with the old metadata", f.Clients["app-one"], err)
	}
	if _, err := st.Rotate(ctx, x.rotation("app-one")); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x.sent, []string{"RT-0", "RT-1"}) {
		t.Errorf("sent %v", x.sent)
	}
}

func TestTooBig(t *testing.T) {
	_, st := mockStore(t)
	keyring.MockInitWithError(keyring.ErrSetDataTooBig)
	err := st.Update(ctx, func(f *store.File) error {
		f.Clients["app-one"] = entry("app-one", "AT-one", "RT-one")
		return nil
	})
	var tb *TooBigError
	if !errors.As(err, &tb) || tb.Key != "app-one" || tb.Size != len(`{"access_token":"AT-one","refresh_token":"RT-one"}`) {
		t.Fatalf("Update = %v", err)
	}
	if _, err := os.Stat(st.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the metadata file was written after the keyring refused: %v", err)
	}
}

func TestAvailableWithTheMock(t *testing.T) {
	mockStore(t)
	if err := Available(); err != nil {
		t.Fatalf("Available = %v", err)
	}
	if _, err := keyring.Get(DefaultService, probeKey); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("the probe item was left behind: %v", err)
	}
	keyring.MockInitWithError(keyring.ErrSetDataTooBig)
	var tb *TooBigError
	if err := Available(); !errors.As(err, &tb) {
		t.Errorf("Available = %v, want a *TooBigError", err)
	}
}

func TestWithin(t *testing.T) {
	noBusCheck(t)
	block := make(chan struct{})
	defer close(block)
	err := within(ctx, time.Millisecond, func() error { <-block; return nil })
	var le *LockedError
	if !errors.As(err, &le) || le.Waited != time.Millisecond {
		t.Errorf("a call that blocks = %v, want a *LockedError", err)
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := within(c, time.Hour, func() error { <-block; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled call = %v", err)
	}
	want := errors.New("boom")
	if err := within(ctx, time.Hour, func() error { return want }); err != want {
		t.Errorf("within = %v", err)
	}
}

func TestUnsupportedPlatform(t *testing.T) {
	mockStore(t)
	keyring.MockInitWithError(keyring.ErrUnsupportedPlatform)
	var ue *UnavailableError
	if err := Available(); !errors.As(err, &ue) || !errors.Is(err, keyring.ErrUnsupportedPlatform) {
		t.Errorf("Available = %v", err)
	}
}

func TestSaveWritesOnlyTheItemsThatChanged(t *testing.T) {
	_, st := mockStore(t)
	login(t, st, entry("app-one", "AT-one", "RT-one"))
	login(t, st, entry("app-two", "AT-two", "RT-two"))
	// Items as Save left them are not written again: a value changed
	// behind the backend's back after its Load stays as it is...
	if err := st.Update(ctx, func(f *store.File) error {
		if err := keyring.Set("twauth", "app-one", "changed meanwhile"); err != nil {
			t.Fatal(err)
		}
		f.Clients["app-two"] = entry("app-two", "AT-two2", "RT-two2")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if v := item(t, "twauth", "app-one"); v != "changed meanwhile" {
		t.Errorf("item app-one was written again: %s", v)
	}
	if v := item(t, "twauth", "app-two"); !strings.Contains(v, "RT-two2") {
		t.Errorf("item app-two = %s", v)
	}
	// ...and the next Load, which reads it, sees the damage.
	var ie *ItemError
	if _, err := st.Load(); !errors.As(err, &ie) || ie.Key != "app-one" {
		t.Errorf("Load = %v", err)
	}
}
