package keyringstore

import (
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
)

// fileStore is a plain file store in its own directory holding entries.
func fileStore(t *testing.T, entries ...*store.Entry) *store.Store {
	t.Helper()
	fs := &store.Store{Path: filepath.Join(t.TempDir(), "old", "tokens.json")}
	for _, e := range entries {
		login(t, fs, e)
	}
	return fs
}

func TestMoveFromFile(t *testing.T) {
	b, st := mockStore(t)
	src := fileStore(t, entry("app-one", "AT-one", "RT-one"), entry("app-two", "AT-two", "RT-two"))
	moved, err := MoveFromFile(ctx, src, b)
	if err != nil || !reflect.DeepEqual(moved, []string{"app-one", "app-two"}) {
		t.Fatalf("MoveFromFile = %v, %v", moved, err)
	}
	f, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Clients["app-one"], entry("app-one", "AT-one", "RT-one")) ||
		!reflect.DeepEqual(f.Clients["app-two"], entry("app-two", "AT-two", "RT-two")) {
		t.Errorf("keyring store after the move: %+v", f.Clients)
	}
	if left, _ := src.Load(); len(left.Clients) != 0 {
		t.Errorf("the file store still holds %v", left.ClientIDs())
	}
	noSecretsIn(t, filepath.Dir(src.Path), "AT-one", "RT-one", "AT-two", "RT-two")
	noSecretsIn(t, filepath.Dir(st.Path), "AT-one", "RT-one", "AT-two", "RT-two")

	if moved, err := MoveFromFile(ctx, src, b); err != nil || moved != nil {
		t.Errorf("a second move = %v, %v; want nothing moved", moved, err)
	}
}

func TestMoveFromFileFinishesAfterACrash(t *testing.T) {
	b, st := mockStore(t)
	src := fileStore(t, entry("app-one", "AT-one", "RT-one"))
	broken := &store.Store{Path: src.Path, FS: atomicfile.FailOn(atomicfile.OpRename, syscall.EIO)}
	if _, err := MoveFromFile(ctx, broken, b); err == nil || !strings.Contains(err.Error(), "both hold them") {
		t.Fatalf("MoveFromFile with the file unwritable = %v", err)
	}
	if left, _ := src.Load(); left.Clients["app-one"] == nil {
		t.Fatal("the file store lost its entry although the move failed")
	}
	moved, err := MoveFromFile(ctx, src, b)
	if err != nil || !reflect.DeepEqual(moved, []string{"app-one"}) {
		t.Fatalf("rerun = %v, %v", moved, err)
	}
	if f, err := st.Load(); err != nil || f.Clients["app-one"].RefreshToken != "RT-one" {
		t.Errorf("keyring store = %+v, %v", f, err)
	}
	if left, _ := src.Load(); len(left.Clients) != 0 {
		t.Errorf("the file store still holds %v", left.ClientIDs())
	}
}

func TestMoveFromFileKeepsTheNewerChain(t *testing.T) {
	b, st := mockStore(t)
	newer := entry("app-one", "AT-keyring", "RT-keyring")
	newer.UpdatedAt = t0.Add(time.Hour)
	login(t, st, newer)
	src := fileStore(t, entry("app-one", "AT-file", "RT-file"))
	if moved, err := MoveFromFile(ctx, src, b); err != nil || !reflect.DeepEqual(moved, []string{"app-one"}) {
		t.Fatalf("MoveFromFile = %v, %v", moved, err)
	}
	if f, _ := st.Load(); f.Clients["app-one"].RefreshToken != "RT-keyring" {
		t.Errorf("the keyring's newer chain was replaced: %+v", f.Clients["app-one"])
	}
	noSecretsIn(t, filepath.Dir(src.Path), "RT-file")
}

func TestMoveFromFileLeavesEntriesWithLeftovers(t *testing.T) {
	b, st := mockStore(t)
	src := fileStore(t, entry("app-one", "AT-one", "RT-one"), entry("app-two", "AT-two", "RT-two"))
	if err := src.Journal("app-one", []byte(`{"access_token":"AT-x","refresh_token":"RT-x"}`)); err != nil {
		t.Fatal(err)
	}
	moved, err := MoveFromFile(ctx, src, b)
	var le *LeftoversError
	if !errors.As(err, &le) || !reflect.DeepEqual(le.ClientIDs, []string{"app-one"}) || le.Path != src.Path {
		t.Fatalf("MoveFromFile = %v", err)
	}
	if !reflect.DeepEqual(moved, []string{"app-two"}) {
		t.Errorf("moved %v", moved)
	}
	left, _ := src.Load()
	if !reflect.DeepEqual(left.ClientIDs(), []string{"app-one"}) || len(src.Orphans("app-one", "RT-one")) != 1 {
		t.Errorf("the file store holds %v", left.ClientIDs())
	}
	if f, _ := st.Load(); !reflect.DeepEqual(f.ClientIDs(), []string{"app-two"}) {
		t.Errorf("the keyring store holds %v", f.ClientIDs())
	}
}

func TestMoveFromFileInPlace(t *testing.T) {
	b, st := mockStore(t)
	plain := &store.Store{Path: st.Path}
	login(t, plain, entry("app-one", "AT-one", "RT-one"))
	moved, err := MoveFromFile(ctx, plain, b)
	if err != nil || !reflect.DeepEqual(moved, []string{"app-one"}) {
		t.Fatalf("MoveFromFile = %v, %v", moved, err)
	}
	if v := item(t, "twauth", "app-one"); !strings.Contains(v, "RT-one") {
		t.Errorf("item = %s", v)
	}
	raw, _ := os.ReadFile(st.Path)
	if meta, err := store.Decode(raw); err != nil || meta.Clients["app-one"] == nil || meta.Clients["app-one"].Username != "bot" {
		t.Errorf("metadata = %s", raw)
	}
	noSecretsIn(t, filepath.Dir(st.Path), "AT-one", "RT-one")
	if moved, err := MoveFromFile(ctx, plain, b); err != nil || moved != nil {
		t.Errorf("a second move = %v, %v", moved, err)
	}
}
