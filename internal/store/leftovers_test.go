package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A killed refresh of app A left A's successor token in a journal; then app
// B refreshed (the store file's mtime moves on). A's next refresh must spend
// the journalled successor first, never A's stored (spent) token.
func TestJournalOfOneEntryOutlivesAnotherEntrysSave(t *testing.T) {
	ctx := context.Background()
	s := &Store{Path: filepath.Join(t.TempDir(), "twauth", "tokens.json")}
	a, b := sample().Clients["cid"], *sample().Clients["cid"]
	b.ClientID, b.RefreshToken = "other", "RT-B"
	if err := s.Update(ctx, func(f *File) error { f.Clients["cid"], f.Clients["other"] = a, &b; return nil }); err != nil {
		t.Fatal(err)
	}
	// The killed run of A: X answered RT2, journalled, never saved.
	if err := s.Journal("cid", []byte(`{"access_token":"AT2","refresh_token":"RT2","token_type":"bearer","expires_in":7200}`)); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	for _, p := range s.journals("cid") {
		os.Chtimes(p, old, old)
	}
	// B saves (any write of any entry does).
	if err := s.Update(ctx, func(f *File) error { f.Clients["other"].AccessToken = "AT-B2"; return nil }); err != nil {
		t.Fatal(err)
	}
	var sent []string
	rejected := errors.New("invalid_grant")
	_, err := s.Rotate(ctx, Rotation{Key: "cid",
		Refresh: func(_ context.Context, rt string, j func([]byte)) (Grant, error) {
			sent = append(sent, rt)
			if rt != "RT2" {
				return Grant{}, rejected
			}
			return Grant{AccessToken: "AT3", RefreshToken: "RT3", Expiry: t0}, nil
		},
		Rejected: func(err error) bool { return err == rejected },
		Entry:    func(g Grant, old *Entry) *Entry { e := *old; e.RefreshToken = g.RefreshToken; return &e },
	})
	if err != nil || sent[0] != "RT2" {
		t.Fatalf("sent %q (err %v): the spent stored token went first, while its successor sat in a journal", sent, err)
	}
}
