package xtest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"
)

// Server is a Fake served over HTTP/1.1 on 127.0.0.1 (tcp4) at a random
// port. The Fake's methods are promoted.
type Server struct {
	*Fake
	// HTTP is the underlying test server.
	HTTP *httptest.Server
}

// TB is the part of testing.TB that Start uses.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// NewServer starts a Server for a new Fake(opts). It panics if it cannot
// listen, as httptest.NewServer does. Close it when done.
func NewServer(opts Options) *Server {
	s, err := newServer(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// Start is NewServer for a test: it fails tb instead of panicking and
// closes the server in tb.Cleanup.
func Start(tb TB, opts Options) *Server {
	tb.Helper()
	s, err := newServer(opts)
	if err != nil {
		tb.Fatalf("%v", err)
		return nil
	}
	tb.Cleanup(s.Close)
	return s
}

func newServer(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("xtest: listen on 127.0.0.1: %w", err)
	}
	f := New(opts)
	ts := httptest.NewUnstartedServer(f)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Start()
	return &Server{Fake: f, HTTP: ts}, nil
}

// URL returns the server's base URL, "http://127.0.0.1:<port>".
func (s *Server) URL() string { return s.HTTP.URL }

// AuthURL returns the authorize endpoint, URL()+AuthorizePath.
func (s *Server) AuthURL() string { return s.HTTP.URL + AuthorizePath }

// TokenURL returns the token endpoint, URL()+TokenPath.
func (s *Server) TokenURL() string { return s.HTTP.URL + TokenPath }

// RevokeURL returns the revocation endpoint, URL()+RevokePath.
func (s *Server) RevokeURL() string { return s.HTTP.URL + RevokePath }

// APIURL returns the API base URL (the counterpart of https://api.x.com);
// GET APIURL()+"/2/users/me" is served.
func (s *Server) APIURL() string { return s.HTTP.URL }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.HTTP.Client() }

// Close releases requests held by faults, closes every connection and
// stops the server. It is safe to call more than once.
func (s *Server) Close() {
	s.Fake.Close()
	s.HTTP.CloseClientConnections()
	s.HTTP.Close()
}
