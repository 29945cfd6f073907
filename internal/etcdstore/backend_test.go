package etcdstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/store"
)

// Three machines (three Backends, three connections) run 20 `twauth
// token` each at once, with the stored access token near its expiry:
// exactly one of the 60 refreshes, the others wait for the lock, re-read,
// and take the new token without calling X.
func TestOneRefreshForThreeMachines(t *testing.T) {
	r := newRig(t, 1)
	seeded := r.seed(time.Minute)
	type result struct {
		access    string
		refreshed bool
		err       error
	}
	results := make(chan result, 60)
	var wg sync.WaitGroup
	for m := range 3 {
		st := r.store(r.backend(fmt.Sprintf("machine-%d", m), Options{}))
		for range 20 {
			wg.Go(func() {
				res, err := st.Rotate(context.Background(), r.rotation(true))
				if err != nil {
					results <- result{err: err}
					return
				}
				results <- result{access: res.Entry.AccessToken, refreshed: res.Refreshed}
			})
		}
	}
	wg.Wait()
	close(results)
	var tokens []string
	refreshed := 0
	for res := range results {
		if res.err != nil {
			t.Fatalf("Rotate: %v", res.err)
		}
		tokens = append(tokens, res.access)
		if res.refreshed {
			refreshed++
		}
	}
	if n := r.calls.Load(); n != 1 || refreshed != 1 {
		t.Errorf("Refresh was called %d times, %d results say refreshed; want 1 and 1", n, refreshed)
	}
	if ok, refused := r.refreshAnswers(); ok != 1 || refused != 0 {
		t.Errorf("X answered %d refreshes and refused %d; want 1 and 0", ok, refused)
	}
	slices.Sort(tokens)
	if tokens = slices.Compact(tokens); len(tokens) != 1 {
		t.Fatalf("the 60 runs got %d different access tokens, want 1", len(tokens))
	}
	if tokens[0] == seeded.AccessToken || !r.x.IsValidAccessToken(tokens[0]) {
		t.Errorf("the token all got is not the new valid one")
	}
	if _, e := r.stored(); e == nil || e.AccessToken != tokens[0] || !r.x.IsValidRefreshToken(e.RefreshToken) {
		t.Errorf("the store does not hold the new token and a live refresh token: %+v", e)
	}
	if j := r.journals(); len(j) != 0 {
		t.Errorf("journals left after a saved refresh: %q", j)
	}
}

// token with a valid token reads the store without the lock: it answers
// while another machine holds the lock.
func TestLoadNeedsNoLock(t *testing.T) {
	r := newRig(t, 1)
	seeded := r.seed(time.Hour)
	holder := r.backend("machine-a", Options{})
	unlock, err := holder.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	st := r.store(r.backend("machine-b", Options{}))
	f, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Clients[testClient]; e == nil || e.AccessToken != seeded.AccessToken {
		t.Fatalf("Load while another machine holds the lock = %+v, want the seeded entry", e)
	}
	if holder, err := st.Backend.(*Backend).LockHolder(context.Background()); err != nil || !strings.HasPrefix(holder, "machine-a since ") {
		t.Errorf("LockHolder = %q, %v; want machine-a", holder, err)
	}
}

func TestEmptyAndCorruptStore(t *testing.T) {
	r := newRig(t, 1)
	b := r.backend("m", Options{})
	f, err := b.Load(context.Background())
	if err != nil || f.Version != store.Version || len(f.Clients) != 0 {
		t.Fatalf("Load of a missing key = %+v, %v; want an empty store", f, err)
	}
	if err := r.raw.Put(storeKey, `{"version":1,"clients":{`); err != nil {
		t.Fatal(err)
	}
	_, err = b.Load(context.Background())
	var ce *store.CorruptError
	if !errors.As(err, &ce) || ce.Path != "etcd://"+r.etcd.Members[0].Endpoint+storeKey || !strings.Contains(ce.Reason, "it ends too soon") {
		t.Fatalf("Load of a torn store = %v, want a *store.CorruptError naming the key", err)
	}
}

// The primitives store.Rotate uses, one by one.
func TestJournalAndLeftovers(t *testing.T) {
	r := newRig(t, 1)
	ctx := context.Background()
	b := r.backend("m", Options{})
	var nl *NotLockedError
	if _, err := b.Reserve(ctx, testClient); !errors.As(err, &nl) {
		t.Fatalf("Reserve without the lock = %v, want a *NotLockedError", err)
	}
	if err := b.Save(ctx, &store.File{}); !errors.As(err, &nl) {
		t.Fatalf("Save without the lock = %v, want a *NotLockedError", err)
	}
	unlock, err := b.Lock(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, &store.File{}); err == nil || !strings.Contains(err.Error(), "not read under this lock") {
		t.Fatalf("Save of a store not read under the lock = %v, want a refusal", err)
	}
	f, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Clients[testClient] = &store.Entry{ClientID: testClient, AccessToken: "a1", RefreshToken: "r1"}
	if err := b.Save(ctx, f); err != nil {
		t.Fatal(err)
	}
	// A form-encoded answer, kept; a JSON one without a refresh token,
	// dropped; one whose refresh failed before it held a token, dropped.
	fill := func(body string, keep bool) {
		t.Helper()
		j, err := b.Reserve(ctx, testClient)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			if err := j.Fill([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Close(keep); err != nil {
			t.Fatal(err)
		}
	}
	fill("access_token=a2&refresh_token=r2&token_type=bearer", true)
	fill(`{"access_token":"a3","token_type":"bearer"}`, true)
	fill(`{"access_token":"a4","refresh_token":"r4","token_type":"bearer"}`, false)
	fill("", false)
	fill(`{"access_token":"a5","refresh_token":"r1","token_type":"bearer"}`, true)
	fill(`{"access_token":"a6","refresh_token":"r6","token_type":"bearer"}`, true)
	js := r.journals()
	if len(js) != 3 {
		t.Fatalf("journals = %q, want the three that hold a refresh token", js)
	}
	got := b.Leftovers(ctx, testClient, "r1")
	var tokens []string
	for _, l := range got {
		tokens = append(tokens, l.RefreshToken)
		if !l.Newer || !strings.HasPrefix(l.Where, "etcd://"+r.etcd.Members[0].Endpoint+journalKey) {
			t.Errorf("leftover %+v: want Newer, named by its key", l)
		}
		if js[strings.TrimPrefix(l.Where, "etcd://"+r.etcd.Members[0].Endpoint)] == "" {
			t.Errorf("leftover %+v names no journal key", l)
		}
	}
	if !slices.Equal(tokens, []string{"r6", "r2"}) {
		t.Errorf("Leftovers = %q, want r6 then r2 (newest first, the current one left out)", tokens)
	}
	// A save of the store (another app's or account's) leaves them
	// Newer: only their own save removes them. Another client's journals
	// are not this client's.
	if err := b.Save(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, l := range b.Leftovers(ctx, testClient, "r1") {
		if !l.Newer {
			t.Errorf("leftover %+v is not Newer after another save", l)
		}
	}
	if l := b.Leftovers(ctx, "another-client", ""); len(l) != 0 {
		t.Errorf("Leftovers of another client = %+v", l)
	}
	b.ClearJournals(ctx, testClient)
	if js := r.journals(); len(js) != 0 {
		t.Errorf("journals after ClearJournals: %q", js)
	}
	unlock()
	if err := b.Save(ctx, f); !errors.As(err, &nl) {
		t.Fatalf("Save after unlock = %v, want a *NotLockedError", err)
	}
}

// When the journals of killed runs cannot be read, the stored refresh
// token may be spent while its successor sits unread in one: nothing may
// be sent, so the next Reserve fails.
func TestUnreadLeftoversRefuseReserve(t *testing.T) {
	r := newRig(t, 1)
	b := r.backend("m", Options{})
	unlock, err := b.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if l := b.Leftovers(cancelled, testClient, "r1"); l != nil {
		t.Fatalf("Leftovers on a cancelled context = %+v", l)
	}
	if _, err := b.Reserve(context.Background(), testClient); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reserve after unread leftovers = %v, want their error", err)
	}
}

// A machine that waits past its lock timeout is told who holds the lock;
// Rotate then sends nothing.
func TestLockTimeoutNamesHolder(t *testing.T) {
	r := newRig(t, 1)
	r.seed(time.Minute)
	a := r.backend("machine-a pid 1", Options{})
	unlock, err := a.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b := r.backend("machine-b pid 2", Options{})
	holder, err := b.LockHolder(context.Background())
	if err != nil || !strings.HasPrefix(holder, "machine-a pid 1 since ") || !strings.Contains(holder, "unless renewed)") {
		t.Fatalf("LockHolder = %q, %v; want machine-a's key with its lease", holder, err)
	}
	st := r.store(b)
	st.LockTimeout = 200 * time.Millisecond
	_, err = st.Rotate(context.Background(), r.rotation(false))
	var lt *LockTimeoutError
	if !errors.As(err, &lt) || !strings.HasPrefix(lt.Holder, "machine-a pid 1 since ") {
		t.Fatalf("Rotate while machine-a holds the lock = %v, want a *LockTimeoutError naming it", err)
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("Refresh called %d times without the lock", n)
	}
	// The waiter's own key is gone: it does not queue ahead of the next.
	if kvs, err := r.raw.GetPrefix(lockPrefix); err != nil || len(kvs) != 1 {
		t.Errorf("lock keys after the timeout: %+v, %v; want only the holder's", kvs, err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if holder, err := b.LockHolder(context.Background()); holder != "" || err != nil {
		t.Errorf("LockHolder after unlock = %q, %v; want none", holder, err)
	}
	if _, err := st.Rotate(context.Background(), r.rotation(false)); err != nil {
		t.Fatalf("Rotate after unlock: %v", err)
	}
}

// A holder that dies (SIGKILL of a process that holds the lock) releases
// it when its lease ends.
func TestDeadHolderReleasedByLease(t *testing.T) {
	r := newRig(t, 1)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=hold", childURLEnv+"="+r.url, childTTLEnv+"=2s")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	readLine(t, bufio.NewScanner(out), "locked")
	b := r.backend("machine-b", Options{})
	want := fmt.Sprintf("hold child pid %d since ", cmd.Process.Pid)
	if holder, err := b.LockHolder(context.Background()); err != nil || !strings.HasPrefix(holder, want) {
		t.Fatalf("LockHolder = %q, %v; want %q…", holder, err, want)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	start := time.Now()
	unlock, err := b.Lock(context.Background(), 30*time.Second)
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	t.Logf("the dead holder's lock was released %s after the kill", time.Since(start).Round(time.Millisecond))
	unlock()
}

// A live holder keeps its lease however long X takes to answer, even
// after the command's context (the one New got) was cancelled by an
// interrupt: once the refresh is sent, the sequence must finish.
func TestLeaseOutlivesSlowX(t *testing.T) {
	r := newRig(t, 1)
	r.seed(-time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(ctx, r.url, Options{LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cancel()
	rot := r.rotation(false)
	refresh := rot.Refresh
	rot.Refresh = func(ctx context.Context, rt string, journal func([]byte)) (store.Grant, error) {
		time.Sleep(3 * time.Second) // X answers after the lease's TTL
		return refresh(ctx, rt, journal)
	}
	if res, err := r.store(b).Rotate(context.Background(), rot); err != nil || !res.Refreshed {
		t.Fatalf("Rotate with X slower than the lease's TTL = %+v, %v", res, err)
	}
}
