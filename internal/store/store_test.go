package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/atomicfile"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func sample() *File {
	return &File{Version: Version, Clients: map[string]*Entry{
		"cid": {ClientID: "cid", AccessToken: "AT", RefreshToken: "RT", TokenType: "bearer", Expiry: t0.Add(2 * time.Hour),
			Scope: "tweet.read offline.access", TokenURL: "https://api.x.com/2/oauth2/token", Username: "dev",
			Config: &ConfigKeys{Path: "/p/Config.toml", TokenKey: "token"}, UpdatedAt: t0},
	}}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Path: filepath.Join(dir, "twauth", "tokens.json")}
	if err := s.Update(context.Background(), func(f *File) error {
		f.Clients["cid"] = sample().Clients["cid"]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sample()) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got.Clients["cid"], sample().Clients["cid"])
	}
	raw, _ := os.ReadFile(s.Path)
	if !strings.Contains(string(raw), `"expiry": "2026-12-01T12:00:00Z"`) || !strings.HasPrefix(string(raw), "{\n  \"version\": 2,") {
		t.Fatalf("file:\n%s", raw)
	}
	if fi, _ := os.Stat(s.Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Dir(s.Path)); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o", fi.Mode().Perm())
	}
}

func TestLoadMissingIsEmpty(t *testing.T) {
	s := &Store{Path: filepath.Join(t.TempDir(), "none.json")}
	f, err := s.Load()
	if err != nil || len(f.Clients) != 0 || f.Version != Version {
		t.Fatalf("Load = %+v, %v", f, err)
	}
}

func TestCorruptStore(t *testing.T) {
	cases := map[string]string{
		"":  "it is empty",
		"{": "not valid JSON at line 1, column 2",
		"{\n  \"version\": 1,\n  \"clients\": [}":         "not valid JSON at line 3",
		`{"version":1,"clients":[]}`:                      `field "clients" has the wrong type`,
		`{"clients":{}}`:                                  "no version",
		`{"version":9,"clients":{}}`:                      "written by a newer twauth",
		`{"version":1,"clients":{"a":null}}`:              `the entry of client "a" is null`,
		`{"version":1,"clients":{"a":{"client_id":"b"}}}`: `the entry under "a" names client "b"`,
		`{"version":1} {}`:                                "data after the JSON object",
		`{"version":1,"clients":{}}]`:                     "data after the JSON object",
		"{\"version\":1,\"clients\":{}}\n}\n":             "data after the JSON object",
		`[1,2]`:                                           "wrong type",
	}
	for data, want := range cases {
		path := filepath.Join(t.TempDir(), "tokens.json")
		os.WriteFile(path, []byte(data), 0o600)
		_, err := (&Store{Path: path}).Load()
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v; want a CorruptError naming the file and saying %q", data, err, want)
		}
	}
}

func TestStoreWriteFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	s := &Store{Path: path}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for _, op := range []atomicfile.Op{atomicfile.OpCreateTemp, atomicfile.OpWrite, atomicfile.OpSync, atomicfile.OpRename} {
		s.FS = atomicfile.FailOn(op, errors.New("injected: no space left on device"))
		f := sample()
		f.Clients["cid"].AccessToken = "NEW"
		if err := s.Save(f); err == nil {
			t.Fatalf("%s: Save succeeded", op)
		}
		after, _ := os.ReadFile(path)
		if string(after) != string(before) {
			t.Fatalf("%s: store changed", op)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Fatalf("%s: temp file %s left", op, e.Name())
			}
		}
	}
}

func TestLooseStoreIsTightenedOnWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	s := &Store{Path: path}
	s.Save(sample())
	os.Chmod(path, 0o644)
	if mode, loose := LoosePermissions(path); !loose || mode != 0o644 {
		t.Fatalf("LoosePermissions = %o, %v", mode, loose)
	}
	s.Save(sample())
	if _, loose := LoosePermissions(path); loose {
		t.Fatal("still loose after a write")
	}
}

func TestConcurrentUpdatesAllLand(t *testing.T) {
	s := &Store{Path: filepath.Join(t.TempDir(), "tokens.json")}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := string(rune('a' + i))
			err := s.Update(context.Background(), func(f *File) error {
				f.Clients[id] = &Entry{ClientID: id, AccessToken: id}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	f, err := s.Load()
	if err != nil || len(f.Clients) != 20 {
		t.Fatalf("%d entries, %v: an update was lost", len(f.Clients), err)
	}
}

func TestPending(t *testing.T) {
	s := &Store{Path: filepath.Join(t.TempDir(), "tokens.json")}
	ctx := context.Background()
	add := func(id, state string, at time.Time) {
		p := &Pending{ClientID: id, State: state, Verifier: "v-" + state, CreatedAt: at, ExpiresAt: at.Add(PendingTTL)}
		if err := s.AddPending(ctx, p, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TakePending(ctx, "", "", t0); !isNoPending(err, false) {
		t.Fatalf("empty: %v", err)
	}
	add("a", "s1", t0)
	add("b", "s2", t0.Add(time.Minute))
	add("a", "s3", t0.Add(2*time.Minute))
	if fi, _ := os.Stat(s.PendingPath()); fi.Mode().Perm() != 0o600 {
		t.Errorf("pending mode %o", fi.Mode().Perm())
	}
	now := t0.Add(3 * time.Minute)
	// By state.
	p, err := s.TakePending(ctx, "s2", "", now)
	if err != nil || p.Verifier != "v-s2" {
		t.Fatalf("by state: %+v %v", p, err)
	}
	// Used once: the same redirect again is told apart from a forged
	// one (exit 2 with the fix, not 3), and the store keeps only the
	// state's SHA-256.
	var np *NoPendingError
	if _, err := s.TakePending(ctx, "s2", "", now); !errors.As(err, &np) || !np.Used {
		t.Fatalf("reuse: %v", err)
	}
	if raw, _ := os.ReadFile(s.PendingPath()); strings.Contains(string(raw), `"s2"`) || !strings.Contains(string(raw), Fingerprint("s2")) {
		t.Errorf("pending.json after the take:\n%s", raw)
	}
	if _, err := s.TakePending(ctx, "forged", "", now); !errors.As(err, new(*StateMismatchError)) {
		t.Fatalf("forged: %v", err)
	}
	// Newest of a client for a bare code.
	p, err = s.TakePending(ctx, "", "a", now)
	if err != nil || p.State != "s3" {
		t.Fatalf("newest: %+v %v", p, err)
	}
	// Expired.
	if _, err := s.TakePending(ctx, "s1", "", t0.Add(11*time.Minute)); !isNoPending(err, true) {
		t.Fatalf("expired: %v", err)
	}
}

func isNoPending(err error, expired bool) bool {
	var np *NoPendingError
	return errors.As(err, &np) && np.Expired == expired
}

// FuzzDecode: any bytes either decode into a store that encodes and decodes
// to the same thing, or are refused with an error; never a panic.
func FuzzDecode(f *testing.F) {
	good, _ := Encode(sample())
	f.Add(good)
	f.Add([]byte(`{"version":1,"clients":{}}`))
	f.Add([]byte(`{"version":1,"clients":{"a":{"client_id":"a","expiry":"2026-01-01T00:00:00Z"}}}`))
	f.Add([]byte(`{"version":1,"clients":{"a":{"client_id":"a","expiry":"not a time"}}}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	f.Add([]byte(`null`))
	for _, c := range edgeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data)
		if err != nil {
			if file != nil {
				t.Fatal("an error with a file")
			}
			return
		}
		enc, err := Encode(file)
		if err != nil {
			t.Fatalf("a decoded store does not encode: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, enc)
		}
		a, _ := json.Marshal(file)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("round trip changed the store:\n%s\n%s", a, b)
		}
	})
}

func TestCarryEarlier(t *testing.T) {
	fp := Fingerprint
	if got := fp("AT"); got != "eb5442705969dc8da5dfac8f9658dc68acdab5bb7635ba7cc551e389416ac34e" {
		t.Fatalf("Fingerprint = %q", got)
	}
	cfg := func(path, tk, rk string) *ConfigKeys {
		return &ConfigKeys{Path: path, TokenKey: tk, RefreshTokenKey: rk}
	}
	acc := func(path, key, sum string) EarlierKey { return EarlierKey{path, key, "access_token", sum} }
	ref := func(path, key, sum string) EarlierKey { return EarlierKey{path, key, "refresh_token", sum} }
	for _, c := range []struct {
		name string
		old  *Entry
		cur  *ConfigKeys
		want []EarlierKey
	}{
		{"no old entry", nil, cfg("/a", "token", ""), nil},
		{"same keys", &Entry{AccessToken: "A1", RefreshToken: "R1", Config: cfg("/a", "token", "rt")}, cfg("/a", "token", "rt"), nil},
		{"old recorded nothing", &Entry{AccessToken: "A1"}, cfg("/a", "token", ""), nil},
		{"token key moved", &Entry{AccessToken: "A1", RefreshToken: "R1", Config: cfg("/a", "token", "rt")}, cfg("/a", "db.token", "rt"),
			[]EarlierKey{acc("/a", "token", fp("A1"))}},
		{"refresh key dropped", &Entry{AccessToken: "A1", RefreshToken: "R1", Config: cfg("/a", "token", "rt")}, cfg("/a", "token", ""),
			[]EarlierKey{ref("/a", "rt", fp("R1"))}},
		{"no refresh token held: nothing was written there", &Entry{AccessToken: "A1", Config: cfg("/a", "token", "rt")}, cfg("/a", "token", ""), nil},
		{"other file", &Entry{AccessToken: "A1", Config: cfg("/a", "token", "")}, cfg("/b", "token", ""),
			[]EarlierKey{acc("/a", "token", fp("A1"))}},
		{"the fingerprints of what was written win over the entry's newer tokens",
			&Entry{AccessToken: "A2", RefreshToken: "R2", Config: &ConfigKeys{Path: "/a", TokenKey: "token", RefreshTokenKey: "rt", TokenSHA256: fp("A1"), RefreshTokenSHA256: fp("R1")}},
			cfg("/b", "token", ""), []EarlierKey{acc("/a", "token", fp("A1")), ref("/a", "rt", fp("R1"))}},
		{"written again: dropped from earlier", &Entry{AccessToken: "A2", Config: cfg("/b", "token", ""), Earlier: []EarlierKey{acc("/a", "token", fp("A1"))}},
			cfg("/a", "token", ""), []EarlierKey{acc("/b", "token", fp("A2"))}},
		{"same key again: the newer token wins, at the end", &Entry{AccessToken: "A2", Config: cfg("/a", "token", ""), Earlier: []EarlierKey{acc("/a", "token", fp("A1")), acc("/c", "t", fp("C"))}},
			cfg("/b", "token", ""), []EarlierKey{acc("/c", "t", fp("C")), acc("/a", "token", fp("A2"))}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := &Entry{AccessToken: "NEW", Config: c.cur}
			e.CarryEarlier(c.old)
			if !reflect.DeepEqual(e.Earlier, c.want) {
				t.Errorf("Earlier =\n%+v\nwant\n%+v", e.Earlier, c.want)
			}
		})
	}
	// The list is bounded; the oldest go first.
	old := &Entry{AccessToken: "A", Config: cfg("/x", "k", "")}
	for i := range MaxEarlier + 3 {
		old.Earlier = append(old.Earlier, acc("/p", string(rune('a'+i)), fp("T")))
	}
	e := &Entry{Config: cfg("/y", "k", "")}
	e.CarryEarlier(old)
	if len(e.Earlier) != MaxEarlier || e.Earlier[len(e.Earlier)-1].Path != "/x" || e.Earlier[0].Key != string(rune('a'+4)) {
		t.Errorf("bounded list = %+v", e.Earlier)
	}
}

// edgeCases are store files at the edges of what Decode accepts: fuzz seeds.
var edgeCases = []string{
	`{"version":1,"clients":{"a":{"client_id":"a","earlier":[],"config":{}}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","earlier":[{"path":"/p","key":"k","kind":"access_token","sha256":"00"}]}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","config":{"path":"/p","token_key":"t","token_sha256":"00","refresh_token_sha256":"11"}}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","config":null}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","Access_Token":"x"}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","access_token":"x","access_token":"y"}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","access_token":"\u0041"}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","confidential":true,"expiry":"2026-12-01T10:00:00.5+01:00"}}}`,
	`{"version":1,"clients":{"a":{"client_id":"a","expiry":"2026-12-01T10:00:00+24:00"}}}`,
	`{"version":01,"clients":{}}`, `{"version":1.0,"clients":{}}`, `{"version":1e0,"clients":{}}`,
	`{"version":1,"clients":{},"extra":1}`, `{"version":1,"clients":{}} {}`, "{\"version\":1,\"clients\":{\"\xff\":{}}}",
	" \r\n\t{ \"version\" : 1 , \"clients\" : { } } \n",
}

// TestJournal: a journal of X's answer is found by Orphans for its own
// client only (JSON or form-encoded; one cut short gives nothing), beside
// the target of a symlinked store even before the target exists, and is
// removed by RemoveJournals of its client, not by another client's save.
func TestJournal(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "secure", "real.json")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "tokens.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s := &Store{Path: link}
	answer := []byte(`{"token_type":"bearer","expires_in":7200,"access_token":"AT2","refresh_token":"RT2","scope":"tweet.read"}`)
	if err := s.Journal("cid", answer); err != nil {
		t.Fatal(err)
	}
	journals, _ := filepath.Glob(filepath.Join(filepath.Dir(real), ".real.json.journal-*"))
	if len(journals) != 1 {
		t.Fatalf("journals beside the symlink's target: %v", journals)
	}
	if raw, _ := os.ReadFile(journals[0]); string(raw) != string(answer) {
		t.Errorf("journal = %q, want the answer verbatim", raw)
	}
	if fi, _ := os.Stat(journals[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %o", fi.Mode().Perm())
	}
	if err := s.Journal("other", []byte("access_token=AT9&refresh_token=RT-OTHER&token_type=bearer")); err != nil {
		t.Fatal(err)
	}
	if err := s.Journal("cid", answer[:len(answer)/2]); err != nil {
		t.Fatal(err)
	}
	if o := s.Orphans("cid", "RT"); len(o) != 1 || o[0].Entry.RefreshToken != "RT2" || o[0].Entry.ClientID != "cid" {
		t.Fatalf("Orphans(cid) = %+v", o)
	}
	if o := s.Orphans("other", ""); len(o) != 1 || o[0].Entry.RefreshToken != "RT-OTHER" {
		t.Fatalf("Orphans(other), a form-encoded answer = %+v", o)
	}
	if o := s.Orphans("cid", "RT2"); len(o) != 0 {
		t.Errorf("the current refresh token counts as an orphan: %+v", o)
	}
	// A locked store write (another client's save) leaves them; the
	// client's own RemoveJournals takes its journals only.
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	if o := s.Orphans("other", ""); len(o) != 1 {
		t.Fatalf("a store write swept another client's journal: %+v", o)
	}
	s.RemoveJournals("cid")
	if o := s.Orphans("cid", "RT"); len(o) != 0 {
		t.Errorf("after RemoveJournals(cid): %+v", o)
	}
	if o := s.Orphans("other", ""); len(o) != 1 {
		t.Errorf("RemoveJournals(cid) took another client's journal")
	}
}

// TestUpgradeFromVersion1: a store written before accounts (version 1,
// keyed by client id) is read as it is, and the next save writes version 2
// with a second account of the same app beside the first.
func TestUpgradeFromVersion1(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Path: filepath.Join(dir, "tokens.json")}
	const v1 = `{
  "version": 1,
  "clients": {
    "cid": {
      "client_id": "cid",
      "access_token": "AT",
      "refresh_token": "RT",
      "token_type": "bearer",
      "expiry": "2026-12-01T12:00:00Z",
      "scope": "tweet.read offline.access",
      "token_url": "https://api.x.com/2/oauth2/token",
      "confidential": false,
      "username": "bot",
      "updated_at": "2026-12-01T10:00:00Z"
    }
  }
}
`
	if err := os.WriteFile(s.Path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Clients["cid"]; e == nil || e.RefreshToken != "RT" || e.Account() != "@bot" || len(f.Accounts("cid")) != 1 {
		t.Fatalf("version 1 read as %+v", f.Clients)
	}
	if err := s.Update(context.Background(), func(f *File) error {
		e := &Entry{ClientID: "cid", UserID: "42", Username: "owner", AccessToken: "AT2", RefreshToken: "RT2"}
		f.Clients[e.Key()] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(s.Path)
	if !strings.HasPrefix(string(raw), "{\n  \"version\": 2,") || !strings.Contains(string(raw), `"cid/42": {`) || !strings.Contains(string(raw), `"RT"`) {
		t.Fatalf("after a save:\n%s", raw)
	}
	f, err = s.Load()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range f.Accounts("cid") {
		got = append(got, e.Account()+"="+e.RefreshToken)
	}
	if strings.Join(got, ",") != "@bot=RT,@owner=RT2" || !reflect.DeepEqual(f.ClientIDs(), []string{"cid"}) {
		t.Errorf("accounts = %v, client ids %v", got, f.ClientIDs())
	}
	// An entry under a key that does not match it is refused.
	bad := strings.Replace(string(raw), `"cid/42": {`, `"cid/43": {`, 1)
	if _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), `"cid/43"`) {
		t.Errorf("a mismatched key: %v", err)
	}
}
