package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twauth/twauth/internal/store"
)

// lockState is what one holder of the lock knows.
type lockState struct {
	lease int64
	// key is the lock's key of this holder, PREFIX/lock/<lease>, and rev
	// its creation revision: the lock is this process's while that key
	// exists, which the writes compare.
	key string
	rev int64
	// stop ends the lease's renewal, and waits for it to end.
	stop func()
	// read is the store's revision each File was read at under the lock:
	// Save writes only over that revision.
	read map[*store.File]int64
	// journals numbers the journal keys of this holding.
	journals int
	// leftoversErr is why Leftovers could not read the journals: then
	// Reserve refuses, since the stored refresh token may be spent while
	// its successor sits in a journal unread.
	leftoversErr error
}

// owner is the condition of the writes made under the lock: the holder's
// key is still the one its lock created.
func (st *lockState) owner() compare {
	return compare{Key: []byte(st.key), Target: "CREATE", Result: "EQUAL", CreateRevision: st.rev}
}

// Lock takes the store's lock, waiting up to timeout for another holder:
// first this process's other goroutines, then a lease lock in etcd. The
// lease is renewed while the lock is held and ends DefaultLeaseTTL (or
// Options.LeaseTTL) after a holder dies. An etcd that does not answer
// within the request timeout fails the lock with *UnreachableError or
// *NoQuorumError, before anything is sent to X.
func (b *Backend) Lock(ctx context.Context, timeout time.Duration) (func() error, error) {
	start := time.Now()
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case b.turn <- struct{}{}:
	case <-wait.Done():
		return nil, b.lockTimeout(ctx, start)
	}
	st, err := b.acquire(ctx, wait, start)
	if err != nil {
		<-b.turn
		return nil, err
	}
	b.mu.Lock()
	b.held = st
	b.mu.Unlock()
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() {
			b.mu.Lock()
			b.held = nil
			b.mu.Unlock()
			uerr = b.release(st)
			<-b.turn
		})
		return uerr
	}, nil
}

// acquire grants a lease, keeps it alive, and takes etcd's lock with it.
func (b *Backend) acquire(ctx, wait context.Context, start time.Time) (*lockState, error) {
	var lease leaseResponse
	rctx, cancel := b.request(ctx)
	err := b.cli.call(rctx, "/v3/lease/grant", leaseRequest{TTL: b.ttl}, &lease, true)
	cancel()
	if err != nil {
		return nil, b.classify(ctx, "grant the lock's lease", err)
	}
	st := &lockState{lease: lease.ID, stop: b.renew(lease.ID), read: map[*store.File]int64{}}
	// The lock service waits, on etcd's side, until the keys under the
	// lock's name that are older than this lease's are gone. Asking again
	// with the same lease (on another endpoint) finds the same key.
	var locked lockResponse
	err = b.cli.call(wait, "/v3/lock/lock", lockRequest{Name: []byte(b.lockKey()), Lease: lease.ID}, &locked, true)
	if err != nil {
		_ = b.release(st)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case wait.Err() != nil:
			return nil, b.lockTimeout(ctx, start)
		case isRPC(err, msgLeaseNotFound):
			return nil, &LeaseLostError{Where: b.Where(), Lease: lease.ID}
		}
		return nil, b.classify(ctx, "take the lock", err)
	}
	st.key = string(locked.Key)
	// etcd 3.4's lock service answers even when the waiter's own key went
	// with its lease meanwhile: the lock is held only if the key is there.
	// The holder's key then says who holds it, for LockHolder.
	who := fmt.Sprintf("%s since %s", b.holder, time.Now().UTC().Format(time.RFC3339))
	var resp txnResponse
	rctx, cancel = b.request(ctx)
	err = b.cli.call(rctx, "/v3/kv/txn", txnRequest{
		Compare: []compare{{Key: locked.Key, Target: "CREATE", Result: "GREATER"}},
		Success: []requestOp{
			{Put: &putRequest{Key: locked.Key, Value: []byte(who), Lease: lease.ID}},
			{Range: &rangeRequest{Key: locked.Key, KeysOnly: true}},
		},
	}, &resp, true)
	cancel()
	switch {
	case err != nil:
		_ = b.release(st)
		return nil, b.classify(ctx, "take the lock", err)
	case !resp.Succeeded || len(resp.kvs(1)) == 0:
		_ = b.release(st)
		return nil, &LeaseLostError{Where: b.Where(), Lease: lease.ID}
	}
	st.rev = resp.kvs(1)[0].CreateRevision
	return st, nil
}

// renew keeps the lease alive, renewing it every third of its TTL, until
// the returned stop is called, the Backend is closed, or etcd says the
// lease has ended. Each renewal is one request: the gateway turns etcd's
// keep-alive stream into one answer per request.
func (b *Backend) renew(lease int64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Duration(b.ttl) * time.Second / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.closed:
				return
			case <-tick.C:
			}
			var resp keepAliveResponse
			rctx, rcancel := b.request(ctx)
			err := b.cli.call(rctx, "/v3/lease/keepalive", leaseRequest{ID: lease}, &resp, true)
			rcancel()
			if err == nil && resp.Error == nil && resp.Result.TTL <= 0 {
				// Ended: the writes under the lock will say so.
				return
			}
			// Another error: the next tick tries again, while the
			// lease lasts.
		}
	}()
	return func() { cancel(); <-done }
}

// lockTimeout is the error of a wait for the lock that ran out.
func (b *Backend) lockTimeout(ctx context.Context, start time.Time) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	holder, _ := b.LockHolder(context.Background())
	return &LockTimeoutError{Where: b.Where(), Waited: time.Since(start), Holder: holder}
}

// release ends the lease, which deletes the lock's key. It runs on a
// context of its own: the caller's may be cancelled by then. Should etcd
// not answer, the lease ends by itself after its TTL.
func (b *Backend) release(st *lockState) error {
	st.stop()
	ctx, cancel := b.request(context.Background())
	defer cancel()
	var resp leaseResponse
	err := b.cli.call(ctx, "/v3/lease/revoke", leaseRequest{ID: st.lease}, &resp, true)
	if err == nil || isRPC(err, msgLeaseNotFound) {
		// Not found: it ended already, and the lock with it.
		return nil
	}
	return b.classify(ctx, "release the lock", err)
}

// holding returns the lock state, or a *NotLockedError naming op.
func (b *Backend) holding(op string) (*lockState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held == nil {
		return nil, &NotLockedError{Op: op}
	}
	return b.held, nil
}

// keyURL names a key for messages: etcd://HOST:PORT/KEY.
func (b *Backend) keyURL(key string) string {
	return Scheme + strings.Join(b.loc.endpoints, ",") + key
}

// Load reads the whole store with one request; a missing key is an empty
// store. It needs no lock (etcd's reads are linearizable), but under the
// lock it records the revision read, which Save then writes over.
func (b *Backend) Load(ctx context.Context) (*store.File, error) {
	rctx, cancel := b.request(ctx)
	defer cancel()
	var resp rangeResponse
	if err := b.cli.call(rctx, "/v3/kv/range", rangeRequest{Key: []byte(b.storeKey())}, &resp, true); err != nil {
		return nil, b.classify(ctx, "read the store", err)
	}
	f := &store.File{Version: store.Version, Clients: map[string]*store.Entry{}}
	var rev int64
	if len(resp.KVs) > 0 {
		kv := resp.KVs[0]
		var err error
		if f, err = store.Decode(kv.Value); err != nil {
			return nil, &store.CorruptError{Path: b.keyURL(b.storeKey()), Reason: err.Error()}
		}
		rev = kv.ModRevision
	}
	b.mu.Lock()
	if b.held != nil {
		b.held.read[f] = rev
	}
	b.mu.Unlock()
	return f, nil
}

// Save writes f with a compare-and-swap: only if the store's key is still
// at the revision f was read at under this lock, and the lock is still
// this process's. Otherwise nothing is written, and the error is a
// *ConflictError (someone wrote the key without the lock) or a
// *LeaseLostError. etcd answers once a majority of its members has the
// write on disk.
func (b *Backend) Save(ctx context.Context, f *store.File) error {
	st, err := b.holding("Save")
	if err != nil {
		return err
	}
	b.mu.Lock()
	rev, ok := st.read[f]
	b.mu.Unlock()
	if !ok {
		return errors.New("etcdstore: Save of a store that was not read under this lock: read it with Load after Lock")
	}
	data, err := store.Encode(f)
	if err != nil {
		return err
	}
	key := []byte(b.storeKey())
	rctx, cancel := b.request(ctx)
	defer cancel()
	var resp txnResponse
	// Not sent again after a broken connection: a write that was done
	// would then fail its own compare.
	err = b.cli.call(rctx, "/v3/kv/txn", txnRequest{
		Compare: []compare{{Key: key, Target: "MOD", Result: "EQUAL", ModRevision: rev}, st.owner()},
		Success: []requestOp{{Put: &putRequest{Key: key, Value: data}}},
		Failure: []requestOp{
			{Range: &rangeRequest{Key: key, KeysOnly: true}},
			{Range: &rangeRequest{Key: []byte(st.key), KeysOnly: true}},
		},
	}, &resp, false)
	if err != nil {
		return b.classify(ctx, "write the store", err)
	}
	if !resp.Succeeded {
		if len(resp.kvs(1)) == 0 {
			return &LeaseLostError{Where: b.Where(), Lease: st.lease}
		}
		var now int64
		if kvs := resp.kvs(0); len(kvs) > 0 {
			now = kvs[0].ModRevision
		}
		return &ConflictError{Key: b.keyURL(string(key)), Read: rev, Now: now}
	}
	b.mu.Lock()
	st.read[f] = resp.Header.Revision
	b.mu.Unlock()
	return nil
}

// Reserve creates an empty journal key for the answer to a refresh of
// clientID, if the lock is still this process's. An error means nothing
// may be sent: etcd does not answer, the lock was lost, or Leftovers
// could not read the journals of killed runs.
func (b *Backend) Reserve(ctx context.Context, clientID string) (store.Journal, error) {
	st, err := b.holding("Reserve")
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if err := st.leftoversErr; err != nil {
		b.mu.Unlock()
		return nil, err
	}
	st.journals++
	key := fmt.Sprintf("%s%x-%d", b.journalDir(clientID), st.lease, st.journals)
	b.mu.Unlock()
	rctx, cancel := b.request(ctx)
	defer cancel()
	var resp txnResponse
	err = b.cli.call(rctx, "/v3/kv/txn", txnRequest{
		Compare: []compare{st.owner()},
		Success: []requestOp{{Put: &putRequest{Key: []byte(key)}}},
	}, &resp, true)
	if err != nil {
		return nil, b.classify(ctx, "reserve the journal", err)
	}
	if !resp.Succeeded {
		return nil, &LeaseLostError{Where: b.Where(), Lease: st.lease}
	}
	return &journal{b: b, key: key}, nil
}

// journal is a reserved journal key.
type journal struct {
	b    *Backend
	key  string
	body []byte
}

// Fill writes X's answer into the journal. It is not bound to the lock:
// once X has answered, its answer is the only copy of the chain, and it
// is kept even when the lock was lost meanwhile.
func (j *journal) Fill(body []byte) error {
	j.body = body
	ctx, cancel := j.b.request(context.Background())
	defer cancel()
	var resp struct{}
	if err := j.b.cli.call(ctx, "/v3/kv/put", putRequest{Key: []byte(j.key), Value: body}, &resp, true); err != nil {
		return j.b.classify(ctx, "journal X's answer", err)
	}
	return nil
}

// Close deletes the journal unless keep is set and it holds a refresh
// token.
func (j *journal) Close(keep bool) error {
	if keep && store.RefreshTokenOf(j.body) != "" {
		return nil
	}
	ctx, cancel := j.b.request(context.Background())
	defer cancel()
	var resp struct{}
	if err := j.b.cli.call(ctx, "/v3/kv/deleterange", deleteRangeRequest{Key: []byte(j.key)}, &resp, true); err != nil {
		return j.b.classify(ctx, "delete the journal", err)
	}
	return nil
}

// Leftovers lists, newest first, the refresh tokens other than current in
// the journals of clientID: answers of X that a killed holder (on any
// machine) journalled but did not save. Every journal is Newer: the save
// of its answer removes it, so one that is still there holds an answer
// that was never saved (the store key's revision would not tell: a save
// of another app or account moves it too).
// When they cannot be read, the list is empty and, under the lock, the
// next Reserve fails (store.Backend's Leftovers returns no error).
func (b *Backend) Leftovers(ctx context.Context, clientID, current string) []store.Leftover {
	rctx, cancel := b.request(ctx)
	defer cancel()
	dir := b.journalDir(clientID)
	var resp txnResponse
	err := b.cli.call(rctx, "/v3/kv/txn", txnRequest{Success: []requestOp{
		{Range: &rangeRequest{Key: []byte(dir), RangeEnd: prefixEnd(dir)}},
	}}, &resp, true)
	if err != nil {
		err = b.classify(ctx, "read the journals of killed runs", err)
		b.mu.Lock()
		if b.held != nil {
			b.held.leftoversErr = err
		}
		b.mu.Unlock()
		return nil
	}
	kvs := resp.kvs(0)
	sort.SliceStable(kvs, func(i, j int) bool { return kvs[i].ModRevision > kvs[j].ModRevision })
	var out []store.Leftover
	for _, kv := range kvs {
		if rt := store.RefreshTokenOf(kv.Value); rt != "" && rt != current {
			out = append(out, store.Leftover{Where: b.keyURL(string(kv.Key)), RefreshToken: rt, Newer: true})
		}
	}
	return out
}

// ClearJournals deletes clientID's journals, if the lock is still this
// process's: another holder's journal may hold the chain. Without the
// lock it does nothing.
func (b *Backend) ClearJournals(ctx context.Context, clientID string) {
	st, err := b.holding("ClearJournals")
	if err != nil {
		return
	}
	rctx, cancel := b.request(ctx)
	defer cancel()
	dir := b.journalDir(clientID)
	var resp txnResponse
	_ = b.cli.call(rctx, "/v3/kv/txn", txnRequest{
		Compare: []compare{st.owner()},
		Success: []requestOp{{DeleteRange: &deleteRangeRequest{Key: []byte(dir), RangeEnd: prefixEnd(dir)}}},
	}, &resp, true)
}

// LockHolder describes the holder of the lock ("HOST pid N since TIME
// (lease …, ends in 12s unless renewed)"), or "" when nobody holds it.
func (b *Backend) LockHolder(ctx context.Context) (string, error) {
	rctx, cancel := b.request(ctx)
	defer cancel()
	dir := b.lockKey() + "/"
	var resp rangeResponse
	// The oldest key is the holder's.
	err := b.cli.call(rctx, "/v3/kv/range", rangeRequest{
		Key: []byte(dir), RangeEnd: prefixEnd(dir), Limit: 1, SortOrder: "ASCEND", SortTarget: "CREATE",
	}, &resp, true)
	if err != nil {
		return "", b.classify(ctx, "read the lock", err)
	}
	if len(resp.KVs) == 0 {
		return "", nil
	}
	kv := resp.KVs[0]
	who := printable(string(kv.Value))
	if who == "" {
		who = "a twauth taking the lock"
	}
	var ttl leaseResponse
	err = b.cli.call(rctx, "/v3/lease/timetolive", leaseRequest{ID: kv.Lease}, &ttl, true)
	if err == nil && ttl.TTL > 0 {
		return fmt.Sprintf("%s (lease %x, ends in %ds unless renewed)", who, kv.Lease, ttl.TTL), nil
	}
	return fmt.Sprintf("%s (lease %x)", who, kv.Lease), nil
}

// printable keeps a value read from etcd from rewriting the terminal:
// control characters become spaces, and it is cut to 200 bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}
