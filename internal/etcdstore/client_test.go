package etcdstore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateway is a fake of etcd's JSON gateway: it records each request and
// answers with answer.
type gateway struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []gatewayRequest
	answer func(r gatewayRequest, w http.ResponseWriter)
}

type gatewayRequest struct {
	Path   string
	Header http.Header
	Body   string
}

func newGateway(t *testing.T, answer func(r gatewayRequest, w http.ResponseWriter)) *gateway {
	g := &gateway{t: t, answer: answer}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := gatewayRequest{Path: req.URL.Path, Header: req.Header.Clone(), Body: string(body)}
		g.mu.Lock()
		g.got = append(g.got, r)
		g.mu.Unlock()
		g.answer(r, w)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) endpoint() string { return strings.TrimPrefix(g.srv.URL, "http://") }

func (g *gateway) requests() []gatewayRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gatewayRequest(nil), g.got...)
}

// etcd 3.4.23's answers, as curl shows them.
const (
	answerPut      = `{"header":{"cluster_id":"7801232528081817440","member_id":"13458989633860879742","revision":"2","raft_term":"2"}}`
	answerNoLeader = `{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}`
	answerBadToken = `{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}`
	answerTxnFail  = `{"header":{"cluster_id":"7801232528081817440","member_id":"13458989633860879742","revision":"4","raft_term":"2"},` +
		`"responses":[{"response_range":{"header":{"revision":"4"},"kvs":[{"key":"L3Avc3RvcmU=","create_revision":"2","mod_revision":"4","version":"2"}],"count":"1"}},` +
		`{"response_range":{"header":{"revision":"4"}}}]}`
)

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// A compare-and-swap as etcd's gateway reads it: proto field names, enum
// names, bytes in base64, int64 in strings; the answer of a failed one
// read back.
func TestCallWire(t *testing.T) {
	g := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) { io.WriteString(w, answerTxnFail) })
	c := newClient([]string{g.endpoint()}, security{}, time.Second)
	var resp txnResponse
	err := c.call(testCtx(t), "/v3/kv/txn", txnRequest{
		Compare: []compare{
			{Key: []byte("/p/store"), Target: "MOD", Result: "EQUAL", ModRevision: 2},
			{Key: []byte("/p/lock/1f"), Target: "CREATE", Result: "EQUAL", CreateRevision: 3},
		},
		Success: []requestOp{{Put: &putRequest{Key: []byte("/p/store"), Value: []byte("v")}}},
		Failure: []requestOp{{Range: &rangeRequest{Key: []byte("/p/store"), KeysOnly: true}}, {Range: &rangeRequest{Key: []byte("/p/lock/1f"), KeysOnly: true}}},
	}, &resp, false)
	if err != nil {
		t.Fatal(err)
	}
	got := g.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	want := `{"compare":[{"key":"L3Avc3RvcmU=","target":"MOD","result":"EQUAL","mod_revision":"2"},` +
		`{"key":"L3AvbG9jay8xZg==","target":"CREATE","result":"EQUAL","create_revision":"3"}],` +
		`"success":[{"request_put":{"key":"L3Avc3RvcmU=","value":"dg=="}}],` +
		`"failure":[{"request_range":{"key":"L3Avc3RvcmU=","keys_only":true}},{"request_range":{"key":"L3AvbG9jay8xZg==","keys_only":true}}]}`
	if r := got[0]; r.Path != "/v3/kv/txn" || r.Body != want ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Grpc-Metadata-Hasleader") != "true" ||
		r.Header.Values("Authorization") != nil {
		t.Errorf("request = %s %q %v\nwant body %s", r.Path, r.Body, r.Header, want)
	}
	if resp.Succeeded || resp.Header.Revision != 4 || resp.Header.MemberID != 13458989633860879742 ||
		len(resp.kvs(0)) != 1 || string(resp.kvs(0)[0].Key) != "/p/store" || resp.kvs(0)[0].ModRevision != 4 || len(resp.kvs(1)) != 0 {
		t.Errorf("answer read as %+v", resp)
	}
}

// A refused connection and a member without a leader move the request to
// the next endpoint, which is then asked first.
func TestCallFailsOver(t *testing.T) {
	leaderless := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, answerNoLeader)
	})
	ok := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) { io.WriteString(w, answerPut) })
	c := newClient([]string{closedPort(t), leaderless.endpoint(), ok.endpoint()}, security{}, time.Second)
	for range 2 {
		var resp struct{}
		if err := c.call(testCtx(t), "/v3/kv/put", putRequest{Key: []byte("k")}, &resp, false); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := len(leaderless.requests()), len(ok.requests()); n != 1 || m != 2 {
		t.Errorf("the leaderless member got %d requests and the next one %d; want 1 and 2", n, m)
	}
	// All without a leader: etcd's answer, not a connection error.
	c = newClient([]string{closedPort(t), leaderless.endpoint()}, security{}, time.Second)
	var resp struct{}
	if err := c.call(testCtx(t), "/v3/kv/put", putRequest{Key: []byte("k")}, &resp, false); !isRPC(err, msgNoLeader) {
		t.Errorf("call with no leader anywhere = %v, want etcd's no leader", err)
	}
}

// A connection that breaks after a write was sent: the write may have been
// done, so only a request that may be done twice goes to the next
// endpoint.
func TestCallDoesNotResendAWrite(t *testing.T) {
	broken := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	ok := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) { io.WriteString(w, answerPut) })
	c := newClient([]string{broken.endpoint(), ok.endpoint()}, security{}, time.Second)
	var resp struct{}
	if err := c.call(testCtx(t), "/v3/kv/txn", txnRequest{}, &resp, false); err == nil {
		t.Fatal("a write whose connection broke was sent again")
	}
	if n := len(ok.requests()); n != 0 {
		t.Fatalf("the next endpoint got %d requests", n)
	}
	if err := c.call(testCtx(t), "/v3/kv/range", rangeRequest{Key: []byte("k")}, &resp, true); err != nil {
		t.Fatalf("a read whose connection broke = %v, want the next endpoint's answer", err)
	}
	if n := len(ok.requests()); n != 1 {
		t.Fatalf("the next endpoint got %d requests, want 1", n)
	}
}

// A token etcd has forgotten is exchanged again for a new one, once, and
// the request sent again with it.
func TestCallAuthenticatesAgain(t *testing.T) {
	tokens := 0
	g := newGateway(t, func(r gatewayRequest, w http.ResponseWriter) {
		switch {
		case r.Path == authenticatePath:
			tokens++
			io.WriteString(w, `{"header":{"revision":"1"},"token":"tok`+string(rune('0'+tokens))+`"}`)
		case r.Header.Get("Authorization") == "tok2":
			io.WriteString(w, answerPut)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, answerBadToken)
		}
	})
	c := newClient([]string{g.endpoint()}, security{user: "twauth", password: "s3cret"}, time.Second)
	if err := c.authenticate(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var resp struct{}
	if err := c.call(testCtx(t), "/v3/kv/put", putRequest{Key: []byte("k")}, &resp, false); err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, r := range g.requests() {
		seq = append(seq, r.Path+" "+r.Header.Get("Authorization")+" "+r.Body)
	}
	want := []string{
		`/v3/auth/authenticate  {"name":"twauth","password":"s3cret"}`,
		`/v3/kv/put tok1 {"key":"aw=="}`,
		`/v3/auth/authenticate  {"name":"twauth","password":"s3cret"}`,
		`/v3/kv/put tok2 {"key":"aw=="}`,
	}
	if strings.Join(seq, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seq, "\n"), strings.Join(want, "\n"))
	}
}

// What is not etcd's JSON is said to be so, and no other endpoint is
// asked: it is the wrong port, not a failed member.
func TestCallNotEtcd(t *testing.T) {
	other := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) { http.NotFound(w, nil) })
	ok := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) { io.WriteString(w, answerPut) })
	c := newClient([]string{other.endpoint(), ok.endpoint()}, security{}, time.Second)
	var resp struct{}
	err := c.call(testCtx(t), "/v3/kv/range", rangeRequest{Key: []byte("k")}, &resp, true)
	var ne *notEtcdError
	if !errors.As(err, &ne) || ne.Status != "404 Not Found" || ne.Body != "404 page not found " ||
		!strings.Contains(err.Error(), "is it the client port of etcd 3.4 or later, with its gRPC gateway on") {
		t.Fatalf("call to a server that is not etcd = %v, want a *notEtcdError", err)
	}
	// A proxy's error page that echoes the request does not put its
	// tokens in the message.
	echo := newGateway(t, func(r gatewayRequest, w http.ResponseWriter) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "bad gateway for "+r.Body)
	})
	c = newClient([]string{echo.endpoint()}, security{}, time.Second)
	err = c.call(testCtx(t), "/v3/kv/put", putRequest{Key: []byte("k"), Value: []byte(`{"refresh_token":"rt-secret"}`)}, &resp, false)
	if !errors.As(err, &ne) || strings.Contains(err.Error(), "rt-secret") || strings.Contains(err.Error(), "InJ0LXNlY3JldCJ9") {
		t.Fatalf("call to an echo server = %v, want a *notEtcdError without the request", err)
	}
	if n := len(ok.requests()); n != 0 {
		t.Errorf("the next endpoint got %d requests", n)
	}
}

// A redirect is not followed: the request (and a token) stays with the
// endpoint named.
func TestCallRefusesRedirect(t *testing.T) {
	ok := newGateway(t, func(_ gatewayRequest, w http.ResponseWriter) { io.WriteString(w, answerPut) })
	redirect := newGateway(t, func(r gatewayRequest, w http.ResponseWriter) {
		w.Header().Set("Location", ok.srv.URL+r.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	c := newClient([]string{redirect.endpoint()}, security{}, time.Second)
	var resp struct{}
	err := c.call(testCtx(t), "/v3/kv/range", rangeRequest{Key: []byte("k")}, &resp, true)
	var ne *notEtcdError
	if !errors.As(err, &ne) || ne.Status != "307 Temporary Redirect" {
		t.Fatalf("call to a redirect = %v, want a *notEtcdError", err)
	}
	if n := len(ok.requests()); n != 0 {
		t.Errorf("the redirect was followed: %d requests", n)
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ prefix, end string }{
		{"/p/journal/ab/", "/p/journal/ab0"},
		{"a\xff", "b"},
		{"\xff\xff", "\x00"},
	} {
		if got := string(prefixEnd(tc.prefix)); got != tc.end {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.prefix, got, tc.end)
		}
	}
}
