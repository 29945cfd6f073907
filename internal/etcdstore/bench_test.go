package etcdstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/store"
)

// BenchmarkLoad is `twauth token` with a valid token: one linearizable
// read of the store, no lock.
func BenchmarkLoad(b *testing.B) {
	r := newRig(b, 1)
	r.seed(time.Hour)
	st := r.store(r.backend("bench", Options{}))
	for b.Loop() {
		f, err := st.Load()
		if err != nil || f.Clients[testClient] == nil {
			b.Fatalf("Load = %v, %v", f, err)
		}
	}
}

// BenchmarkRotate is a refresh under the etcd lock with X answering
// in-process: grant a lease, lock, read, read the journals, reserve and
// fill a journal, compare-and-swap the store, clear the journals, revoke
// the lease. It is what etcd adds to the round trip to X.
func BenchmarkRotate(b *testing.B) {
	r := newRig(b, 1)
	r.seed(-time.Minute)
	st := r.store(r.backend("bench", Options{}))
	rot := r.rotation(false)
	n := 0
	rot.Refresh = func(_ context.Context, _ string, journal func([]byte)) (store.Grant, error) {
		n++
		journal(fmt.Appendf(nil, `{"token_type":"bearer","access_token":"a%d","refresh_token":"r%d","expires_in":7200}`, n, n))
		return store.Grant{AccessToken: fmt.Sprint("a", n), RefreshToken: fmt.Sprint("r", n), TokenType: "bearer", Expiry: time.Now().Add(2 * time.Hour)}, nil
	}
	for b.Loop() {
		if res, err := st.Rotate(context.Background(), rot); err != nil || !res.Refreshed {
			b.Fatalf("Rotate = %+v, %v", res, err)
		}
	}
}

// BenchmarkRotateFresh is the path of a twauth that waited for the lock
// while another refreshed: lock, re-read, take the fresh token, unlock.
func BenchmarkRotateFresh(b *testing.B) {
	r := newRig(b, 1)
	r.seed(time.Hour)
	st := r.store(r.backend("bench", Options{}))
	rot := r.rotation(true)
	for b.Loop() {
		if res, err := st.Rotate(context.Background(), rot); err != nil || res.Refreshed {
			b.Fatalf("Rotate = %+v, %v", res, err)
		}
	}
}

// BenchmarkLoadNew is `twauth token` with a valid token as each new
// process runs it: open the store (a new connection), one read, close.
func BenchmarkLoadNew(b *testing.B) {
	r := newRig(b, 1)
	r.seed(time.Hour)
	ctx := context.Background()
	for b.Loop() {
		be, err := New(ctx, r.url, Options{})
		if err != nil {
			b.Fatal(err)
		}
		f, err := be.Load(ctx)
		if err != nil || f.Clients[testClient] == nil {
			b.Fatalf("Load = %v, %v", f, err)
		}
		be.Close()
	}
}
