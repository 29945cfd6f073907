// Package etcdstore keeps twauth's token store in etcd, so that several
// machines using one X account share one refresh chain (docs/design.md,
// "Where tokens live"). A *Backend is a store.Backend: store.Rotate runs
// the durable sequence over it, and the guarantees of the file store hold
// across machines. The lock is etcd's lock service (v3lock) on a lease
// that this process renews while it holds the lock, held from before the
// store is read until after it is written, i.e. across the call to X; the
// write is a compare-and-swap on the revision read and on the lock still
// being held; X's answer is written to etcd before it is decoded.
//
// It speaks to etcd through the JSON gateway of etcd's client port (etcd
// 3.4 or later) with net/http: etcd's Go client would link gRPC and
// protobuf into every twauth command, and the many users without etcd
// would pay for it in start-up time and binary size.
//
// A store URL is etcd://HOST:PORT[,HOST:PORT…]/PREFIX (a HOST without a
// port gets 2379). Under PREFIX live:
//
//	PREFIX/store                       the whole store, as store.Encode writes it
//	PREFIX/lock/<lease>                the lock's holders and waiters, oldest first; the
//	                                   holder's key says "HOST pid N since TIME"
//	PREFIX/journal/<hash>/<lease>-<n>  X's raw answer to a refresh of the client whose
//	                                   id's SHA-256 starts with <hash>
//
// TLS and authentication follow etcdctl's environment variables:
// ETCDCTL_CACERT (the CA that signed etcd's certificate; setting it turns
// TLS on), ETCDCTL_CERT and ETCDCTL_KEY (a client certificate),
// ETCDCTL_USER and ETCDCTL_PASSWORD (ETCDCTL_USER may also be
// NAME:PASSWORD). TWAUTH_ETCD_CACERT, TWAUTH_ETCD_CERT, TWAUTH_ETCD_KEY,
// TWAUTH_ETCD_USER and TWAUTH_ETCD_PASSWORD are twauth's own names for the
// same settings, for a shell where etcdctl is set up for another cluster:
// when any of them is set, the ETCDCTL_ variables are not read at all.
// Without TLS, tokens cross the network in plain text: Warnings says so
// when an endpoint is not on this machine.
//
// An etcd that requires client certificates (--client-cert-auth) serves
// its JSON gateway only when its own server certificate is good for
// client authentication too (extendedKeyUsage clientAuth: the gateway
// reaches etcd's gRPC server with it), and, when etcd's authentication is
// on, only to a client certificate without a Common Name: the user then
// comes from ETCDCTL_USER, as etcd cannot take the certificate's name as
// the user through the gateway.
package etcdstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twauth/twauth/internal/store"
)

// Defaults of Options.
const (
	// DefaultRequestTimeout bounds each request to etcd, and so how long
	// an unreachable etcd or a cluster without quorum takes to be told.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultLeaseTTL is the lock's lease: a holder that dies releases
	// the lock this long after its last renewal. A live holder renews it
	// every third of it, however long X takes.
	DefaultLeaseTTL = 15 * time.Second
)

// Options configure New. The zero value is the defaults.
type Options struct {
	// Getenv reads the TLS and authentication variables; nil means
	// os.Getenv.
	Getenv func(string) string
	// RequestTimeout bounds each request; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// LeaseTTL is the lock's lease, rounded up to a second (etcd may
	// raise it to its minimum); 0 means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Holder describes this process in the lock's key, for LockHolder;
	// "" means "HOST pid PID".
	Holder string
}

// Backend is a token store in etcd. It is safe for concurrent use: the
// goroutines of one process take its lock in turn, and the processes of
// all machines through etcd.
type Backend struct {
	cli      *client
	loc      location
	sec      security
	timeout  time.Duration
	ttl      int64
	holder   string
	warnings []string

	// turn is the in-process side of the lock: the goroutines of one
	// process queue here, so that each process has at most one lease
	// and one waiter in etcd, and held belongs to the one holder.
	turn chan struct{}
	mu   sync.Mutex
	held *lockState
	// closed ends the renewal of a lease still held at Close.
	closed    chan struct{}
	closeOnce sync.Once
}

// New opens the store at rawURL, etcd://HOST:PORT[,HOST:PORT…]/PREFIX.
// It reads TLS and authentication from the environment (see the package
// documentation) and connects lazily, except that a user name and password
// are checked at once. Cancelling ctx does not cut the connection (each
// request has its own context); Close does.
func New(ctx context.Context, rawURL string, opts Options) (*Backend, error) {
	loc, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	sec, err := readSecurity(getenv)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		loc:     loc,
		sec:     sec,
		timeout: opts.RequestTimeout,
		holder:  opts.Holder,
		turn:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
	}
	if b.timeout <= 0 {
		b.timeout = DefaultRequestTimeout
	}
	ttl := opts.LeaseTTL
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	b.ttl = int64((ttl + time.Second - 1) / time.Second)
	if b.holder == "" {
		host, _ := os.Hostname()
		b.holder = fmt.Sprintf("%s pid %d", host, os.Getpid())
	}
	b.warnings = b.plainText()
	b.cli = newClient(loc.endpoints, sec, b.timeout)
	if sec.user != "" {
		// Once X has answered, the journal and the store must still be
		// written after an interrupt: only this check heeds ctx.
		rctx, cancel := b.request(ctx)
		err := b.cli.authenticate(rctx)
		cancel()
		if err != nil {
			b.Close()
			return nil, b.classify(ctx, "authenticate", err)
		}
	}
	return b, nil
}

// Close closes the connections to etcd and stops renewing the lease of a
// lock still held, which is then released when the lease ends.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	b.cli.hc.CloseIdleConnections()
	return nil
}

// Where is "etcd://HOST:PORT[,HOST:PORT…]/PREFIX", without credentials.
func (b *Backend) Where() string {
	return Scheme + strings.Join(b.loc.endpoints, ",") + b.loc.prefix
}

// Warnings are what the user should know about the connection: plain
// text over a network.
func (b *Backend) Warnings() []string { return b.warnings }

// plainText warns of tokens (and a password) sent unencrypted over a
// network.
func (b *Backend) plainText() []string {
	if b.sec.tls != nil || b.loc.loopback() {
		return nil
	}
	w := fmt.Sprintf("etcd at %s is reached without TLS: the tokens cross the network in plain text", b.Where())
	if b.sec.user != "" {
		w += ", and so does the etcd password"
	}
	return []string{w + "; set TWAUTH_ETCD_CACERT (or ETCDCTL_CACERT) to the CA of etcd's certificate"}
}

// Keys, under the prefix.
func (b *Backend) storeKey() string { return b.loc.prefix + "/store" }
func (b *Backend) lockKey() string  { return b.loc.prefix + "/lock" }
func (b *Backend) journalDir(clientID string) string {
	return b.loc.prefix + "/journal/" + store.Fingerprint(clientID)[:16] + "/"
}

// request is a context for one request: ctx bounded by the request
// timeout.
func (b *Backend) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.timeout)
}

var _ store.Backend = (*Backend)(nil)
