package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// UnreachableError: etcd did not answer in time. Op says what was being
// done; when it was the lock or the journal, nothing was sent to X.
type UnreachableError struct {
	Where string
	Op    string
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("etcd at %s did not answer (%s: %v): check that etcd runs and that --store names its client endpoints", e.Where, e.Op, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NoQuorumError: etcd answers, but its cluster has no leader (a majority
// of its members is down or cut off), so it can neither read nor write.
type NoQuorumError struct {
	Where string
	Op    string
	Err   error
}

func (e *NoQuorumError) Error() string {
	return fmt.Sprintf("the etcd cluster at %s has no leader (%s: %v): a majority of its members is down or cut off; bring them back", e.Where, e.Op, e.Err)
}

func (e *NoQuorumError) Unwrap() error { return e.Err }

// AuthError: etcd refused the credentials, or the user may not use the
// prefix.
type AuthError struct {
	Where string
	// From is the prefix of the variables the credentials came from,
	// "TWAUTH_ETCD_" or "ETCDCTL_".
	From string
	Err  error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("etcd at %s refused access (%v): check %sUSER and %sPASSWORD, and that the user's role may read and write the prefix", e.Where, e.Err, e.From, e.From)
}

func (e *AuthError) Unwrap() error { return e.Err }

// ConflictError: the store's key changed between the read under the lock
// and the write, so someone wrote it without the lock (an etcdctl put, an
// older twauth). Nothing was overwritten.
type ConflictError struct {
	Key string
	// Read is the revision the store was read at; Now the one it has.
	Read, Now int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("the etcd key %s changed while twauth held the lock (revision %d, read at %d): something wrote it without the lock; nothing was overwritten, run the command again", e.Key, e.Now, e.Read)
}

// LeaseLostError: the lock's lease expired or was revoked while it was
// held (etcd unreachable for longer than the lease, or a revoke from
// outside), so another twauth may hold the lock now. The write was
// refused; an answer from X stays in the journal, where the next refresh
// finds it.
type LeaseLostError struct {
	Where string
	Lease int64
}

func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("the etcd lock of %s was lost (lease %x expired or was revoked) before the store was written: nothing was overwritten; a new token from X stays in the etcd journal and the next refresh recovers it", e.Where, e.Lease)
}

// LockTimeoutError: another twauth held the lock for the whole wait.
type LockTimeoutError struct {
	Where  string
	Waited time.Duration
	// Holder describes the holder, as LockHolder does ("" when unknown).
	Holder string
}

func (e *LockTimeoutError) Error() string {
	who := "another twauth"
	if e.Holder != "" {
		who += " (" + e.Holder + ")"
	}
	return fmt.Sprintf("timed out after %s waiting for the etcd lock of %s: %s holds it; its lease ends it if that twauth died", e.Waited.Round(time.Millisecond), e.Where, who)
}

// NotLockedError: a primitive that store.Backend calls with the lock held
// was called without it.
type NotLockedError struct{ Op string }

func (e *NotLockedError) Error() string {
	return fmt.Sprintf("etcdstore: %s needs the lock: take it with Lock first", e.Op)
}

// classify turns an error of a request to etcd into one of the typed
// errors above. A request that timed out is told apart by asking each
// endpoint for its status: one that answers without a leader means a lost
// quorum, none answering means etcd is unreachable.
func (b *Backend) classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ctx.Err()
	}
	var re *rpcError
	var cv *tls.CertificateVerificationError
	var ne *notEtcdError
	switch {
	case errors.As(err, &re):
		switch {
		case re.Code == codeUnauthenticated || re.Code == codePermissionDenied ||
			re.Message == msgAuthFailed || re.Message == msgUserEmpty ||
			re.Message == msgInvalidToken || re.Message == msgPermissionDenied:
			return &AuthError{Where: b.Where(), From: b.sec.from, Err: err}
		case re.Message == msgNoLeader:
			return &NoQuorumError{Where: b.Where(), Op: op, Err: err}
		case re.Code == codeUnavailable || re.Code == codeDeadlineExceeded ||
			// etcd's own deadline for a proposal, as the gateway passes it on.
			re.Code == codeUnknown && re.Message == context.DeadlineExceeded.Error():
			return b.unanswered(op, err)
		}
	case errors.As(err, &cv):
		return &ConfigError{Var: b.sec.from + "CACERT", Reason: fmt.Sprintf("etcd's certificate is not trusted (%v): set it to the CA that signed etcd's certificate", cv.Err)}
	case errors.As(err, &ne) && strings.HasPrefix(ne.Body, gatewayCommonName):
		return &ConfigError{Var: b.sec.from + "CERT", Reason: "etcd refuses a client certificate with a Common Name on its JSON API while its authentication is on, since it cannot take the name as the user there: use a client certificate without a Common Name, and name the user in " + b.sec.from + "USER"}
	case errors.Is(err, context.DeadlineExceeded), isConnection(err):
		return b.unanswered(op, err)
	}
	return fmt.Errorf("etcd at %s: %s: %w", b.Where(), op, err)
}

// isConnection reports whether err is the failure of every endpoint to
// take or answer a request.
func isConnection(err error) bool {
	var ee *endpointsError
	return errors.As(err, &ee)
}

// unanswered is the error of a request that etcd did not answer.
func (b *Backend) unanswered(op string, err error) error {
	if b.sec.tls == nil && errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: the connection was closed unanswered, as etcd does to plain HTTP when it serves TLS; if it does, set %sCACERT to its CA", err, b.sec.from)
	}
	if b.leaderless() {
		return &NoQuorumError{Where: b.Where(), Op: op, Err: err}
	}
	return &UnreachableError{Where: b.Where(), Op: op, Err: err}
}

// maxProbe bounds the status probe of classify; so does the request
// timeout.
const maxProbe = time.Second

// leaderless reports whether some endpoint answers a status request but
// none of those that answer is the leader: the members left know no
// leader, or one that does not answer (so the request that timed out had
// nowhere to go).
func (b *Backend) leaderless() bool {
	ctx, cancel := context.WithTimeout(context.Background(), min(maxProbe, b.timeout))
	defer cancel()
	var mu sync.Mutex
	answered, leader := 0, false
	var wg sync.WaitGroup
	for ep := range b.loc.endpoints {
		wg.Go(func() {
			var resp statusResponse
			err := b.cli.callOne(ctx, ep, "/v3/maintenance/status", []byte("{}"), &resp, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case isRPC(err, msgNoLeader):
				answered++
				return
			case err != nil:
				return
			}
			answered++
			if resp.Leader != 0 && resp.Leader == resp.Header.MemberID && len(resp.Errors) == 0 {
				leader = true
			}
		})
	}
	wg.Wait()
	return answered > 0 && !leader
}
