package oauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
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

// minSecret is the shortest value scrub hides: shorter ones would hide
// ordinary words, and no credential X issues is that short.
const minSecret = 8

// scrub hides the request's credentials in text from the server (an
// error_description that quotes the token it refuses, or echoes the
// request): each as sent, form-encoded (url.QueryEscape, and PathEscape's
// %20 for a space), and, for base64, without its padding too; the longest
// first, so that no part of a longer one is left behind.
func (a *attempt) scrub(s string) string {
	if s == "" {
		return s
	}
	var forms []string
	for _, v := range a.secrets {
		if len(v) < minSecret {
			continue
		}
		forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v), strings.TrimRight(v, "="))
	}
	slices.SortFunc(forms, func(x, y string) int { return len(y) - len(x) })
	for _, f := range forms {
		if len(f) >= minSecret {
			s = strings.ReplaceAll(s, f, "[redacted]")
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
