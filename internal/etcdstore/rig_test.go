package etcdstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/etcdtest"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

const (
	testClient = "etcdstore-test-client"
	testScope  = "tweet.read users.read offline.access"
	testPrefix = "/twauth-test"
	storeKey   = testPrefix + "/store"
	journalKey = testPrefix + "/journal/"
	lockPrefix = testPrefix + "/lock/"

	// The test binary runs itself as a helper process when childEnv is
	// set: "rotate" runs one Rotate, "hold" takes the lock and waits to be
	// killed. The other variables say where.
	childEnv      = "TWAUTH_ETCDSTORE_CHILD"
	childURLEnv   = "TWAUTH_ETCDSTORE_CHILD_URL"
	childTokenEnv = "TWAUTH_ETCDSTORE_CHILD_TOKEN_URL"
	childTTLEnv   = "TWAUTH_ETCDSTORE_CHILD_TTL"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "rotate":
		os.Exit(childRotate())
	case "hold":
		os.Exit(childHold())
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: want rotate or hold\n", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
}

// childRotate runs one Rotate of the store at $childURLEnv against the
// fake X at $childTokenEnv, printing "ready" just before it starts,
// "journalled" once X's answer is in the journal, and "done" after.
func childRotate() int {
	ctx := context.Background()
	// A short lease: a lock taken by a request etcd applies after the
	// parent revoked the dead child's leases ends soon.
	b, err := New(ctx, os.Getenv(childURLEnv), Options{LeaseTTL: 2 * time.Second, Holder: fmt.Sprintf("kill-test child pid %d", os.Getpid())})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st := &store.Store{Path: filepath.Join(os.TempDir(), "etcdstore-child-unused.json"), Backend: b}
	rot := rotation(os.Getenv(childTokenEnv), http.DefaultClient, nil, false)
	refresh := rot.Refresh
	rot.Refresh = func(ctx context.Context, rt string, journal func([]byte)) (store.Grant, error) {
		return refresh(ctx, rt, func(body []byte) {
			journal(body)
			fmt.Println("journalled")
		})
	}
	fmt.Println("ready")
	if _, err := st.Rotate(ctx, rot); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// childHold takes the lock with a lease of $childTTLEnv, prints
// "locked", and waits to be killed.
func childHold() int {
	ttl, err := time.ParseDuration(os.Getenv(childTTLEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	b, err := New(context.Background(), os.Getenv(childURLEnv), Options{LeaseTTL: ttl, Holder: fmt.Sprintf("hold child pid %d", os.Getpid())})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := b.Lock(context.Background(), time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	select {}
}

// rotation is how internal/app refreshes: internal/oauth's client,
// journalling X's raw answer, against tokenURL. It counts calls of Refresh
// in calls (when not nil). fresh accepts an entry valid for 10 more
// minutes, as twauth token does.
func rotation(tokenURL string, hc *http.Client, calls *atomic.Int64, fresh bool) store.Rotation {
	oc := &oauth.Client{ClientID: testClient, TokenURL: tokenURL, HTTP: hc}
	rot := store.Rotation{
		Key: testClient,
		Refresh: func(ctx context.Context, rt string, journal func([]byte)) (store.Grant, error) {
			if calls != nil {
				calls.Add(1)
			}
			c := *oc
			c.OnRefreshAnswer = journal
			tok, err := c.Refresh(ctx, rt)
			if err != nil {
				return store.Grant{}, err
			}
			return store.Grant{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, Expiry: tok.Expiry, Scope: tok.Scope}, nil
		},
		Rejected: func(err error) bool {
			var se *oauth.ServerError
			return errors.As(err, &se) && se.Rejected()
		},
		Entry: func(g store.Grant, old *store.Entry) *store.Entry {
			return &store.Entry{
				ClientID: testClient, AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, TokenType: g.TokenType,
				Expiry: g.Expiry, Scope: g.Scope, TokenURL: tokenURL, UpdatedAt: time.Now().UTC().Truncate(time.Second),
			}
		},
	}
	if fresh {
		rot.Fresh = func(e *store.Entry) bool { return e != nil && time.Until(e.Expiry) > 10*time.Minute }
	}
	return rot
}

// rig is an etcd, a fake X with one client, and a raw etcd client to look
// at and meddle with the keys.
type rig struct {
	t     testing.TB
	etcd  *etcdtest.Cluster
	x     *xtest.Server
	raw   *etcdtest.Client
	url   string
	calls atomic.Int64
}

func newRig(t testing.TB, members int) *rig {
	t.Helper()
	r := &rig{t: t, etcd: etcdtest.Start(t, etcdtest.Options{Members: members})}
	r.x = xtest.Start(t, xtest.Options{Clients: []xtest.Client{{ID: testClient, RedirectURIs: []string{"http://127.0.0.1/callback"}}}})
	r.raw = r.etcd.Client()
	r.url = r.etcd.URL(testPrefix)
	return r
}

// backend opens the rig's store as one machine would, closed at the end.
func (r *rig) backend(holder string, opts Options) *Backend {
	r.t.Helper()
	opts.Holder = holder
	b, err := New(context.Background(), r.url, opts)
	if err != nil {
		r.t.Fatalf("New(%q): %v", r.url, err)
	}
	r.t.Cleanup(func() { b.Close() })
	return b
}

// store is a store.Store over b, as the CLI makes it.
func (r *rig) store(b *Backend) *store.Store {
	return &store.Store{Path: filepath.Join(r.t.TempDir(), "tokens.json"), Backend: b}
}

// rotation is rotation() against the rig's fake X, counting into r.calls.
func (r *rig) rotation(fresh bool) store.Rotation {
	return rotation(r.x.TokenURL(), r.x.Client(), &r.calls, fresh)
}

// seed logs in at the fake X and stores the entry, with an access token
// that expires in expiresIn.
func (r *rig) seed(expiresIn time.Duration) *store.Entry {
	r.t.Helper()
	access, refresh := r.x.IssueTokens(testClient, testScope)
	e := &store.Entry{
		ClientID: testClient, AccessToken: access, RefreshToken: refresh, TokenType: "bearer",
		Expiry: time.Now().Add(expiresIn).UTC().Truncate(time.Second), Scope: testScope, TokenURL: r.x.TokenURL(),
		UpdatedAt: time.Now().UTC().Truncate(time.Second),
	}
	st := r.store(r.backend("seed", Options{}))
	if err := st.Update(context.Background(), func(f *store.File) error {
		f.Clients[testClient] = e
		return nil
	}); err != nil {
		r.t.Fatalf("seed the store: %v", err)
	}
	return e
}

// stored is the store's key: its bytes and the entry they hold (nil when
// the key is missing).
func (r *rig) stored() ([]byte, *store.Entry) {
	r.t.Helper()
	kv, err := r.raw.Get(storeKey)
	if err != nil {
		r.t.Fatalf("get %s: %v", storeKey, err)
	}
	if kv == nil {
		return nil, nil
	}
	data := []byte(kv.Value)
	f, err := store.Decode(data)
	if err != nil {
		r.t.Fatalf("the store in etcd is torn: %v\n%s", err, data)
	}
	return data, f.Clients[testClient]
}

// journals are the journal keys and their values.
func (r *rig) journals() map[string]string {
	r.t.Helper()
	kvs, err := r.raw.GetPrefix(journalKey)
	if err != nil {
		r.t.Fatalf("get %s: %v", journalKey, err)
	}
	out := map[string]string{}
	for _, kv := range kvs {
		out[kv.Key] = kv.Value
	}
	return out
}

// refreshAnswers counts the answers the fake X gave to refresh requests,
// by status.
func (r *rig) refreshAnswers() (ok, refused int) {
	for _, q := range r.x.Requests() {
		if q.Path != xtest.TokenPath || q.Form.Get("grant_type") != "refresh_token" {
			continue
		}
		if q.Status == http.StatusOK {
			ok++
		} else {
			refused++
		}
	}
	return ok, refused
}

// readLine reads one line of a helper process's stdout.
func readLine(t testing.TB, sc *bufio.Scanner, want string) {
	t.Helper()
	if !sc.Scan() || sc.Text() != want {
		t.Fatalf("helper process: got %q (%v), want %q", sc.Text(), sc.Err(), want)
	}
}
