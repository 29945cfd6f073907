package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// ListenError means a listen address is malformed or not loopback.
type ListenError struct {
	Addr   string
	Reason string
}

func (e *ListenError) Error() string {
	return "listen address " + e.Addr + ": " + e.Reason + "; use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT"
}

// CheckListen returns a *ListenError unless addr is HOST:PORT with a
// loopback IP address or "localhost" as HOST: the token endpoint hands out
// X tokens to whoever holds the local credential, so it must not be
// reachable from other machines.
func CheckListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return &ListenError{Addr: addr, Reason: "not HOST:PORT"}
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "":
		return &ListenError{Addr: addr, Reason: "no host means every interface"}
	case err != nil:
		return &ListenError{Addr: addr, Reason: "the host is not an IP address"}
	case !ip.IsLoopback():
		return &ListenError{Addr: addr, Reason: "not a loopback address"}
	}
	return nil
}

// writeTimeout bounds every answer, the wait of Options.Timeout included.
const writeTimeout = 45 * time.Second

// NewServer returns an http.Server for h on addr with limits fit for a
// token endpoint: 5 s to send the headers (16 KiB at most), 10 s for the
// whole request, 45 s for the answer, 2 min idle.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// Run serves h on ln with NewServer's limits until ctx is done, then shuts
// down gracefully: it stops accepting, lets the answers in flight finish
// (for 45 s at most, after which it closes what is left) and
// returns nil. It returns Serve's error if serving fails first.
func Run(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := NewServer(ln.Addr().String(), h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
