package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/etcdtest"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// etcd unreachable: the lock fails, so nothing is sent to X; the token
// fast path fails too.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	x := xtest.Start(t, xtest.Options{Clients: []xtest.Client{{ID: testClient}}})
	b, err := New(context.Background(), "etcd://"+addr+"/twauth", Options{RequestTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var calls atomic.Int64
	st := &store.Store{Path: t.TempDir() + "/tokens.json", Backend: b}
	_, err = st.Rotate(context.Background(), rotation(x.TokenURL(), x.Client(), &calls, false))
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Where != "etcd://"+addr+"/twauth" || !strings.Contains(err.Error(), "grant the lock's lease") {
		t.Fatalf("Rotate with etcd down = %v, want an *UnreachableError from the lock", err)
	}
	t.Log(err)
	if calls.Load() != 0 || x.Count(xtest.TokenPath) != 0 {
		t.Errorf("with etcd down, Refresh was called %d times and X got %d requests", calls.Load(), x.Count(xtest.TokenPath))
	}
	if _, err := st.Load(); !errors.As(err, &ue) || !strings.Contains(err.Error(), "read the store") {
		t.Errorf("Load with etcd down = %v, want an *UnreachableError", err)
	}
}

// A three-member cluster refreshes with its leader down (SIGKILL, as a
// crash); with two members down it has no quorum: the lock fails, nothing
// is sent.
func TestQuorum(t *testing.T) {
	r := newRig(t, 3)
	r.seed(time.Minute)
	r.etcd.Leader().Kill()
	r.etcd.Leader() // the two left elect one
	st := r.store(r.backend("machine-a", Options{}))
	res, err := st.Rotate(context.Background(), r.rotation(false))
	if err != nil || !res.Refreshed {
		t.Fatalf("Rotate with one member of three stopped = %+v, %v; want a refresh", res, err)
	}
	if _, e := r.stored(); e == nil || e.AccessToken != res.Entry.AccessToken {
		t.Fatalf("the store after the refresh holds %+v", e)
	}
	r.etcd.Leader().Kill()
	// A twauth started now, as the next `twauth token` would be.
	st = r.store(r.backend("machine-b", Options{RequestTimeout: time.Second}))
	_, err = st.Rotate(context.Background(), r.rotation(false))
	var nq *NoQuorumError
	if !errors.As(err, &nq) || !strings.Contains(err.Error(), "has no leader") {
		t.Fatalf("Rotate with two members of three stopped = %v, want a *NoQuorumError", err)
	}
	t.Log(err)
	if n := r.calls.Load(); n != 1 {
		t.Errorf("Refresh was called %d times, want only the first refresh's 1", n)
	}
	if ok, refused := r.refreshAnswers(); ok != 1 || refused != 0 {
		t.Errorf("X answered %d refreshes and refused %d; want 1 and 0", ok, refused)
	}
	if _, err := st.Load(); !errors.As(err, &nq) {
		t.Errorf("Load without quorum = %v, want a *NoQuorumError", err)
	}
}

// Someone writes the store without the lock between the read and the
// write (an etcdctl put): the compare-and-swap refuses, nothing is
// overwritten, and X's answer waits in the journal for the next run.
func TestRevisionMoved(t *testing.T) {
	r := newRig(t, 1)
	seeded := r.seed(time.Minute)
	st := r.store(r.backend("machine-a", Options{}))
	rot := r.rotation(false)
	refresh := rot.Refresh
	var intruder []byte
	rot.Refresh = func(ctx context.Context, rt string, journal func([]byte)) (store.Grant, error) {
		old, _ := r.stored()
		intruder = bytes.Replace(old, []byte(`"scope"`), []byte(`"username": "intruder",`+"\n    "+`"scope"`), 1)
		if err := r.raw.Put(storeKey, string(intruder)); err != nil {
			t.Errorf("put: %v", err)
		}
		return refresh(ctx, rt, journal)
	}
	res, err := st.Rotate(context.Background(), rot)
	var se *store.SaveError
	var ce *ConflictError
	if !errors.As(err, &se) || !errors.As(err, &ce) || ce.Now <= ce.Read || ce.Key != "etcd://"+r.etcd.Members[0].Endpoint+storeKey {
		t.Fatalf("Rotate with the store written meanwhile = %v, want a *store.SaveError with a *ConflictError", err)
	}
	t.Log(err)
	if res.Entry == nil || res.Entry.RefreshToken == seeded.RefreshToken || !r.x.IsValidRefreshToken(res.Entry.RefreshToken) {
		t.Fatalf("the result does not carry X's new token: %+v", res.Entry)
	}
	if data, e := r.stored(); !bytes.Equal(data, intruder) || e.Username != "intruder" {
		t.Fatalf("the intruder's write was overwritten:\n%s", data)
	}
	// The next run recovers the chain from the journal, which is newer
	// than the intruder's write, and sends no spent token.
	res2, err := r.store(r.backend("machine-b", Options{})).Rotate(context.Background(), r.rotation(false))
	if err != nil || !strings.HasPrefix(res2.RecoveredFrom, "etcd://"+r.etcd.Members[0].Endpoint+journalKey) {
		t.Fatalf("the next Rotate = %+v, %v; want a recovery from the journal", res2, err)
	}
	if ok, refused := r.refreshAnswers(); ok != 2 || refused != 0 {
		t.Errorf("X answered %d refreshes and refused %d; want 2 and 0", ok, refused)
	}
	if js := r.journals(); len(js) != 0 {
		t.Errorf("journals left after the recovery: %q", js)
	}
}

// The lock's lease ends while X is being called (here: revoked from
// outside, as an expiry would): the write is refused, X's answer stays in
// the etcd journal, and the next holder recovers the chain from it.
func TestLeaseLost(t *testing.T) {
	r := newRig(t, 1)
	seeded := r.seed(time.Minute)
	before, _ := r.stored()
	st := r.store(r.backend("machine-a", Options{}))
	rot := r.rotation(false)
	refresh := rot.Refresh
	rot.Refresh = func(ctx context.Context, rt string, journal func([]byte)) (store.Grant, error) {
		g, err := refresh(ctx, rt, journal)
		kvs, gerr := r.raw.GetPrefix(lockPrefix)
		if gerr != nil || len(kvs) != 1 {
			t.Errorf("lock keys: %+v, %v", kvs, gerr)
			return g, err
		}
		if err := r.raw.Revoke(kvs[0].Lease); err != nil {
			t.Errorf("revoke: %v", err)
		}
		return g, err
	}
	res, err := st.Rotate(context.Background(), rot)
	var se *store.SaveError
	var ll *LeaseLostError
	if !errors.As(err, &se) || !errors.As(err, &ll) {
		t.Fatalf("Rotate that lost its lease = %v, want a *store.SaveError with a *LeaseLostError", err)
	}
	t.Log(err)
	if after, _ := r.stored(); !bytes.Equal(after, before) {
		t.Fatalf("the store was written without the lock:\n%s", after)
	}
	if js := r.journals(); len(js) != 1 {
		t.Fatalf("journals = %q, want X's answer", js)
	}
	res2, err := r.store(r.backend("machine-b", Options{})).Rotate(context.Background(), r.rotation(false))
	if err != nil || res2.RecoveredFrom == "" {
		t.Fatalf("the next Rotate = %+v, %v; want a recovery from the journal", res2, err)
	}
	if res2.Entry.RefreshToken == res.Entry.RefreshToken || res2.Entry.RefreshToken == seeded.RefreshToken {
		t.Errorf("the chain did not move on from the journalled token")
	}
	if ok, refused := r.refreshAnswers(); ok != 2 || refused != 0 {
		t.Errorf("X answered %d refreshes and refused %d; want 2 and 0 (no spent token sent)", ok, refused)
	}
}

// TLS with a client certificate and a user and password, from the
// environment as etcdctl reads it; a wrong password is an *AuthError.
func TestTLSAndAuth(t *testing.T) {
	pki := newPKI(t)
	c := etcdtest.Start(t, etcdtest.Options{TLS: &etcdtest.TLS{CAFile: pki.CA, CertFile: pki.ServerCert, KeyFile: pki.ServerKey, Client: pki.Client}})
	raw := c.Client()
	ctx := context.Background()
	for _, step := range []struct {
		path string
		req  any
	}{
		{"/v3/auth/user/add", map[string]string{"name": "root", "password": "root-pw"}},
		{"/v3/auth/user/grant", map[string]string{"user": "root", "role": "root"}},
		{"/v3/auth/user/add", map[string]string{"name": "twauth", "password": "s3cret"}},
		{"/v3/auth/role/add", map[string]string{"name": "twauth"}},
		{"/v3/auth/role/grant", map[string]any{"name": "twauth", "perm": map[string]any{
			"permType": "READWRITE", "key": []byte(testPrefix + "/"), "range_end": []byte(testPrefix + "0"),
		}}},
		{"/v3/auth/user/grant", map[string]string{"user": "twauth", "role": "twauth"}},
		{"/v3/auth/enable", struct{}{}},
	} {
		var resp struct{}
		if err := raw.Call(step.path, step.req, &resp); err != nil {
			t.Fatalf("set up etcd auth: %v", err)
		}
	}
	vars := map[string]string{
		"ETCDCTL_CACERT": pki.CA, "ETCDCTL_CERT": pki.ClientCert, "ETCDCTL_KEY": pki.ClientKey,
		"ETCDCTL_USER": "twauth", "ETCDCTL_PASSWORD": "s3cret",
	}
	b, err := New(ctx, c.URL(testPrefix), Options{Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if w := b.Warnings(); len(w) != 0 {
		t.Errorf("Warnings over TLS = %q", w)
	}
	st := &store.Store{Path: t.TempDir() + "/tokens.json", Backend: b}
	e := &store.Entry{ClientID: testClient, AccessToken: "a", RefreshToken: "r", TokenType: "bearer"}
	if err := st.Update(ctx, func(f *store.File) error { f.Clients[testClient] = e; return nil }); err != nil {
		t.Fatalf("Update over TLS with a password: %v", err)
	}
	if f, err := st.Load(); err != nil || f.Clients[testClient] == nil {
		t.Fatalf("Load over TLS = %v, %v", f, err)
	}
	vars["ETCDCTL_PASSWORD"] = "wrong"
	_, err = New(ctx, c.URL(testPrefix), Options{Getenv: env(vars)})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.From != "ETCDCTL_" || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("New with a wrong password = %v, want an *AuthError that does not show it", err)
	}
	t.Log(err)
	// A client certificate with a Common Name: etcd's JSON gateway
	// refuses it while authentication is on.
	vars["ETCDCTL_PASSWORD"] = "s3cret"
	vars["ETCDCTL_CERT"], vars["ETCDCTL_KEY"] = pki.NamedClientCert, pki.NamedClientKey
	_, err = New(ctx, c.URL(testPrefix), Options{Getenv: env(vars)})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Var != "ETCDCTL_CERT" || !strings.Contains(err.Error(), "without a Common Name") {
		t.Fatalf("New with a client certificate with a Common Name = %v, want a *ConfigError naming ETCDCTL_CERT", err)
	}
	t.Log(err)
	// Without the CA, the server's certificate is not trusted.
	vars["ETCDCTL_CERT"], vars["ETCDCTL_KEY"] = pki.ClientCert, pki.ClientKey
	delete(vars, "ETCDCTL_CACERT")
	_, err = New(ctx, c.URL(testPrefix), Options{Getenv: env(vars), RequestTimeout: time.Second})
	if !errors.As(err, &ce) || ce.Var != "ETCDCTL_CACERT" || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("New without the CA = %v, want a *ConfigError naming ETCDCTL_CACERT", err)
	}
	t.Log(err)
	// Without TLS at all: etcd closes a plain HTTP connection to its TLS
	// port without a word.
	_, err = New(ctx, c.URL(testPrefix), Options{Getenv: env(map[string]string{"ETCDCTL_USER": "twauth", "ETCDCTL_PASSWORD": "s3cret"})})
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "if it does, set ETCDCTL_CACERT to its CA") {
		t.Fatalf("New without TLS = %v, want an *UnreachableError that names ETCDCTL_CACERT", err)
	}
	t.Log(err)
}

// A waiter whose lease ends while it waits (etcd unreachable for longer
// than the lease, a revoke) does not take the lock when the holder
// leaves, although etcd 3.4's lock service then answers as if it had.
func TestWaiterLosesLease(t *testing.T) {
	r := newRig(t, 1)
	unlock, err := r.backend("machine-a", Options{}).Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := r.raw.GetPrefix(lockPrefix)
	if err != nil || len(holder) != 1 {
		t.Fatalf("lock keys: %+v, %v", holder, err)
	}
	b := r.backend("machine-b", Options{})
	locked := make(chan error, 1)
	go func() {
		_, err := b.Lock(context.Background(), 20*time.Second)
		locked <- err
	}()
	var waiter etcdtest.KV
	for waiter.Key == "" {
		kvs, err := r.raw.GetPrefix(lockPrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			if kv.Key != holder[0].Key {
				waiter = kv
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.raw.Revoke(waiter.Lease); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	err = <-locked
	var ll *LeaseLostError
	if !errors.As(err, &ll) || ll.Lease != waiter.Lease {
		t.Fatalf("Lock of a waiter whose lease was revoked = %v, want a *LeaseLostError of lease %x", err, waiter.Lease)
	}
	t.Log(err)
}
