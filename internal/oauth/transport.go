package oauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"

	"golang.org/x/oauth2"
)

// attempt records what happened to one HTTP request: whether it reached the
// wire, and what came back. The difference between "never sent" and "sent,
// no answer" decides whether a refresh may be retried.
type attempt struct {
	wrote    atomic.Bool
	status   int
	header   http.Header
	mimeType string
	// secrets are the credentials the request carries: text from the
	// server is scrubbed of them before it reaches an error message.
	secrets []string
	// onOK, when set, gets the body of a 200 answer as soon as it is read.
	onOK func(body []byte)
}

// scrub hides the request's credentials in text from the server (an
// error_description that quotes the token it refuses).
func (a *attempt) scrub(s string) string {
	for _, v := range a.secrets {
		if len(v) < 8 {
			continue
		}
		s = strings.ReplaceAll(s, v, "[redacted]")
		if e := url.QueryEscape(v); e != v {
			s = strings.ReplaceAll(s, e, "[redacted]")
		}
	}
	return s
}

var errTooLarge = errors.New("the answer is larger than 1 MB")

// bind returns ctx carrying an HTTP client for golang.org/x/oauth2 whose
// transport records into a.
func (a *attempt) bind(ctx context.Context, base *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, a.client(base))
}

func (a *attempt) client(base *http.Client) *http.Client {
	hc := *base
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = &recorder{base: rt, a: a}
	return &hc
}

type recorder struct {
	base http.RoundTripper
	a    *attempt
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { r.a.wrote.Store(true) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	// The whole answer is read here, at most maxBody bytes of it, so that a
	// huge answer is refused by name rather than truncated into bad JSON.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.a.status = resp.StatusCode
	r.a.header = resp.Header
	r.a.mimeType = mimeType(resp.Header.Get("Content-Type"))
	if len(body) > maxBody {
		return nil, errTooLarge
	}
	if r.a.onOK != nil && resp.StatusCode == http.StatusOK {
		r.a.onOK(body)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
