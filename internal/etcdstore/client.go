package etcdstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client speaks etcd's v3 API as JSON over HTTP: the gRPC gateway that
// every etcd since 3.4 serves on its client port (POST /v3/kv/range and
// so on, bytes in base64, 64-bit integers as strings). It costs twauth
// only net/http and encoding/json, where etcd's Go client links gRPC and
// protobuf into every command, etcd or not.
type client struct {
	hc *http.Client
	// bases are "http://HOST:PORT" or "https://HOST:PORT", in the order
	// of the store URL.
	bases []string
	// first is the endpoint tried first: the last one that answered.
	first atomic.Int32
	// user and password, when set, are exchanged for a token at New and
	// again when etcd no longer knows the token.
	user, password string
	mu             sync.Mutex
	token          string
}

// maxAnswer bounds what is read of one answer: etcd refuses requests
// over 1.5 MiB, and the largest answer is the journals of one client.
const maxAnswer = 64 << 20

func newClient(endpoints []string, sec security, timeout time.Duration) *client {
	scheme := "http://"
	if sec.tls != nil {
		scheme = "https://"
	}
	tr := &http.Transport{
		// No proxy: etcd is the cluster's own, and etcd's Go client
		// (which has its own dialer) never used one either.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}).DialContext,
		TLSClientConfig:     sec.tls,
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
	}
	c := &client{
		hc: &http.Client{
			Transport: tr,
			// etcd does not redirect: whatever does is not etcd, and
			// gets neither the token nor the request again.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		user:     sec.user,
		password: sec.password,
	}
	for _, ep := range endpoints {
		c.bases = append(c.bases, scheme+ep)
	}
	return c
}

// rpcError is an error etcd answered: the gRPC status code and etcd's
// message ("etcdserver: no leader").
type rpcError struct {
	Code    int
	Message string
}

func (e *rpcError) Error() string { return e.Message }

// gRPC status codes etcd answers with.
const (
	codeUnknown          = 2
	codeDeadlineExceeded = 4
	codePermissionDenied = 7
	codeUnavailable      = 14
	codeUnauthenticated  = 16
)

// etcd's messages that classify tells apart (go.etcd.io/etcd/api/v3/v3rpc/rpctypes).
const (
	msgNoLeader         = "etcdserver: no leader"
	msgLeaseNotFound    = "etcdserver: requested lease not found"
	msgInvalidToken     = "etcdserver: invalid auth token"
	msgAuthFailed       = "etcdserver: authentication failed, invalid user ID or password"
	msgUserEmpty        = "etcdserver: user name is empty"
	msgPermissionDenied = "etcdserver: permission denied"
	msgAuthNotEnabled   = "etcdserver: authentication is not enabled"
)

func isRPC(err error, msg string) bool {
	var re *rpcError
	return errors.As(err, &re) && re.Message == msg
}

// endpointsError is the failure of every endpoint to take a request.
type endpointsError struct{ errs []error }

func (e *endpointsError) Error() string {
	var s []string
	for _, err := range e.errs {
		s = append(s, err.Error())
	}
	return strings.Join(s, "; ")
}

func (e *endpointsError) Unwrap() []error { return e.errs }

// idempotent says whether a request may be sent again to another endpoint
// when the connection broke after it was sent: only when doing it twice
// is the same as doing it once.
type idempotent bool

// call POSTs req as JSON to path and decodes the answer into resp. It
// asks for a cluster with a leader, so that a member cut off from the
// majority refuses at once rather than when ctx runs out. The endpoints
// are tried in turn, from the one that answered last, while the request
// surely did not reach etcd (a refused connection, a member without a
// leader) or may be sent twice.
func (c *client) call(ctx context.Context, path string, req, resp any, again idempotent) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	n := len(c.bases)
	start := int(c.first.Load())
	var refused []error
	var answered error
	for i := range n {
		ep := (start + i) % n
		err := c.callAuth(ctx, ep, path, body, resp)
		if err == nil {
			c.first.Store(int32(ep))
			return nil
		}
		if ctx.Err() != nil || !failover(err, again) {
			return err
		}
		if isRPC(err, msgNoLeader) {
			answered = err
		} else {
			refused = append(refused, err)
		}
	}
	if answered != nil {
		return answered
	}
	return &endpointsError{refused}
}

// failover reports whether a request that failed with err is to be sent
// to the next endpoint.
func failover(err error, again idempotent) bool {
	var re *rpcError
	if errors.As(err, &re) {
		// A member without a leader refuses before it does anything.
		return re.Message == msgNoLeader
	}
	var ne *notEtcdError
	if errors.As(err, &ne) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var cv *tls.CertificateVerificationError
	return bool(again) && !errors.As(err, &cv)
}

// callAuth is callOne with the token of the user, authenticating again
// when etcd has forgotten the token (it does after --auth-token-ttl of
// disuse, or on a restart).
func (c *client) callAuth(ctx context.Context, ep int, path string, body []byte, resp any) error {
	if c.user == "" || path == authenticatePath {
		return c.callOne(ctx, ep, path, body, resp, "")
	}
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	err := c.callOne(ctx, ep, path, body, resp, token)
	if !isRPC(err, msgInvalidToken) {
		return err
	}
	if err := c.authenticate(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	token = c.token
	c.mu.Unlock()
	return c.callOne(ctx, ep, path, body, resp, token)
}

// authenticate exchanges the user's name and password for a token. An
// etcd without authentication takes the requests without one.
func (c *client) authenticate(ctx context.Context) error {
	var resp struct {
		Token string `json:"token"`
	}
	err := c.call(ctx, authenticatePath, authenticateRequest{Name: c.user, Password: c.password}, &resp, true)
	if isRPC(err, msgAuthNotEnabled) {
		err = nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.token = resp.Token
	c.mu.Unlock()
	return nil
}

const authenticatePath = "/v3/auth/authenticate"

type authenticateRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// callOne sends one request to one endpoint.
func (c *client) callOne(ctx context.Context, ep int, path string, body []byte, resp any, token string) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.bases[ep]+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	// gRPC metadata, through the gateway: etcd refuses at once when it
	// has no leader (clientv3.WithRequireLeader).
	hreq.Header.Set("Grpc-Metadata-Hasleader", "true")
	if token != "" {
		hreq.Header.Set("Authorization", token)
	}
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// "Post "URL": dial tcp …" names the endpoint twice.
			err = ue.Err
		}
		return err
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s: %w", c.bases[ep], err)
	}
	if hresp.StatusCode != http.StatusOK {
		return answerError(c.bases[ep]+path, hresp.Status, data)
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return &notEtcdError{URL: c.bases[ep] + path, Status: hresp.Status, Body: printable(string(data))}
	}
	return nil
}

// notEtcdError is an answer that is not etcd's JSON.
type notEtcdError struct {
	URL, Status string
	// Body is the start of the answer, made printable. It is not in the
	// message: a server that echoes would put the request's tokens there.
	Body string
}

func (e *notEtcdError) Error() string {
	return fmt.Sprintf("%s answered %s, not etcd's JSON: is it the client port of etcd 3.4 or later, with its gRPC gateway on (etcd --enable-grpc-gateway, the default)?", e.URL, e.Status)
}

// gatewayCommonName is the start of etcd's refusal of a client
// certificate with a Common Name, when client certificates are required
// and authentication is on: the gateway cannot pass the name on as the
// user (etcd's embed/serve.go).
const gatewayCommonName = "CommonName of client sending a request against gateway"

// answerError reads the error etcd's gateway answers: {"code": 14,
// "message": "etcdserver: no leader"}, with "error" for the message in
// etcd 3.4 and 3.5.
func answerError(where, status string, data []byte) error {
	var e struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Code == nil {
		return &notEtcdError{URL: where, Status: status, Body: printable(string(data))}
	}
	msg := e.Message
	if msg == "" {
		msg = e.Error
	}
	return &rpcError{Code: *e.Code, Message: msg}
}

// The requests and answers of etcd's API that twauth uses, as the gateway
// writes them: proto field names, bytes in base64, int64 in strings, and
// fields at their zero value left out.

type header struct {
	MemberID uint64 `json:"member_id,string"`
	Revision int64  `json:"revision,string"`
}

type keyValue struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision int64  `json:"create_revision,string"`
	ModRevision    int64  `json:"mod_revision,string"`
	Lease          int64  `json:"lease,string"`
}

type rangeRequest struct {
	Key      []byte `json:"key"`
	RangeEnd []byte `json:"range_end,omitempty"`
	Limit    int64  `json:"limit,omitempty,string"`
	// SortOrder "ASCEND", SortTarget "CREATE".
	SortOrder  string `json:"sort_order,omitempty"`
	SortTarget string `json:"sort_target,omitempty"`
	KeysOnly   bool   `json:"keys_only,omitempty"`
}

type rangeResponse struct {
	Header header     `json:"header"`
	KVs    []keyValue `json:"kvs"`
}

type putRequest struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value,omitempty"`
	Lease int64  `json:"lease,omitempty,string"`
}

type deleteRangeRequest struct {
	Key      []byte `json:"key"`
	RangeEnd []byte `json:"range_end,omitempty"`
}

// compare is a condition of a txn: Target "MOD" or "CREATE", Result
// "EQUAL" or "GREATER", against Revision. A missing key has revision 0.
type compare struct {
	Key            []byte `json:"key"`
	Target         string `json:"target"`
	Result         string `json:"result"`
	ModRevision    int64  `json:"mod_revision,omitempty,string"`
	CreateRevision int64  `json:"create_revision,omitempty,string"`
}

type requestOp struct {
	Range       *rangeRequest       `json:"request_range,omitempty"`
	Put         *putRequest         `json:"request_put,omitempty"`
	DeleteRange *deleteRangeRequest `json:"request_delete_range,omitempty"`
}

type txnRequest struct {
	Compare []compare   `json:"compare,omitempty"`
	Success []requestOp `json:"success,omitempty"`
	Failure []requestOp `json:"failure,omitempty"`
}

type txnResponse struct {
	Header    header `json:"header"`
	Succeeded bool   `json:"succeeded"`
	Responses []struct {
		Range *rangeResponse `json:"response_range"`
	} `json:"responses"`
}

// kvs are the keys the i-th operation of a txn read.
func (r *txnResponse) kvs(i int) []keyValue {
	if i >= len(r.Responses) || r.Responses[i].Range == nil {
		return nil
	}
	return r.Responses[i].Range.KVs
}

type leaseRequest struct {
	ID  int64 `json:"ID,string"`
	TTL int64 `json:"TTL,omitempty,string"`
}

type leaseResponse struct {
	ID int64 `json:"ID,string"`
	// TTL is the lease's seconds left; 0 or -1 when it has ended.
	TTL int64 `json:"TTL,string"`
}

// keepAliveResponse is one message of the keep-alive stream: the gateway
// wraps each in "result", or sends "error" instead.
type keepAliveResponse struct {
	Result leaseResponse   `json:"result"`
	Error  json.RawMessage `json:"error"`
}

type lockRequest struct {
	Name  []byte `json:"name"`
	Lease int64  `json:"lease,string"`
}

type lockResponse struct {
	Key []byte `json:"key"`
}

type statusResponse struct {
	Header header   `json:"header"`
	Leader uint64   `json:"leader,string"`
	Errors []string `json:"errors"`
}

// prefixEnd is the end of the range of the keys that start with p
// (clientv3.GetPrefixRangeEnd).
func prefixEnd(p string) []byte {
	end := []byte(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	// Every byte is 0xff: the range runs to the end of the keys.
	return []byte{0}
}
