package keyringstore

import (
	"testing"

	"github.com/twauth/twauth/internal/store"
)

// An entry keyed CLIENT_ID/USER_ID (every login since format 2) must round-trip
// through the keyring backend.
func TestAccountKeyedEntryRoundTrips(t *testing.T) {
	_, st := mockStore(t)
	e := entry("app", "AT1", "RT1")
	e.UserID = "42"
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Save/Load of entry %q panicked: %v", e.Key(), r)
		}
	}()
	if err := st.Update(ctx, func(f *store.File) error { f.Clients[e.Key()] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	f, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Clients[e.Key()]; got == nil || got.RefreshToken != "RT1" {
		t.Fatalf("entry %q after reload: %+v", e.Key(), got)
	}
}
