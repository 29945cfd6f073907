// Package wirelog traces HTTP requests and answers with every secret
// redacted: Authorization and cookie headers, and the token, code, verifier
// and secret fields of form bodies and JSON answers. Everything it writes is
// safe for a terminal (termtext.Safe): a server cannot send escape sequences
// through it.
package wirelog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twauth/twauth/internal/termtext"
)

// Redacted replaces every secret value in a trace.
const Redacted = "[redacted]"

// secretFields are the form and JSON fields whose values are never shown.
var secretFields = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true, "token": true,
	"code": true, "code_verifier": true, "client_secret": true, "client_assertion": true,
	"password": true, "assertion": true,
}

// secretHeaders are the headers whose values are never shown.
var secretHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
}

// maxShown bounds how much of a body is shown.
const maxShown = 4 << 10

// Transport wraps Base and writes a redacted trace of each exchange to Out.
type Transport struct {
	Base http.RoundTripper
	Out  io.Writer
	mu   sync.Mutex
}

// RoundTrip sends req through Base and traces both directions.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var reqBody []byte
	if req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(io.LimitReader(rc, maxShown+1))
			rc.Close()
		}
	}
	start := time.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "> %s %s\n", termtext.Safe(req.Method), RedactURL(req.URL))
	writeHeaders(&b, "> ", req.Header)
	if len(reqBody) > 0 {
		fmt.Fprintf(&b, "> %s\n", RedactBody(req.Header.Get("Content-Type"), reqBody))
	}
	t.write(b.String())

	// A server may echo what it was sent (an error_description quoting the
	// token): the secrets of the request are hidden in the answer too.
	sent := requestSecrets(req, reqBody)

	resp, err := base.RoundTrip(req)
	b.Reset()
	if err != nil {
		fmt.Fprintf(&b, "< error after %s: %s\n", time.Since(start).Round(time.Millisecond), termtext.Safe(err.Error()))
		t.write(scrub(b.String(), sent))
		return nil, err
	}
	fmt.Fprintf(&b, "< %s (%s)\n", termtext.Safe(resp.Status), time.Since(start).Round(time.Millisecond))
	writeHeaders(&b, "< ", resp.Header)
	// Read what is shown and put it back in front of the rest of the body.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxShown+1))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if len(head) > 0 {
		fmt.Fprintf(&b, "< %s\n", RedactBody(resp.Header.Get("Content-Type"), head))
	}
	t.write(scrub(b.String(), sent))
	return resp, nil
}

// minSecret is the shortest value scrub hides: shorter ones would hide
// ordinary text, and no credential is that short.
const minSecret = 8

// requestSecrets returns the secret values req carries: those of secret
// query and form fields, and the credentials of its Authorization headers
// (for Basic, the decoded password too, form-decoded as RFC 6749 sends it).
func requestSecrets(req *http.Request, body []byte) []string {
	var out []string
	add := func(form url.Values) {
		for k, vs := range form {
			if secretFields[k] {
				out = append(out, vs...)
			}
		}
	}
	add(req.URL.Query())
	if strings.Contains(strings.ToLower(req.Header.Get("Content-Type")), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(body)); err == nil {
			add(form)
		}
	}
	for _, h := range []string{"Authorization", "Proxy-Authorization"} {
		for _, v := range req.Header.Values(h) {
			scheme, cred, ok := strings.Cut(v, " ")
			if !ok {
				out = append(out, v)
				continue
			}
			out = append(out, cred, strings.TrimRight(cred, "="))
			if strings.EqualFold(scheme, "Basic") {
				if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
					if _, pass, ok := strings.Cut(string(raw), ":"); ok {
						out = append(out, pass)
						if p, err := url.QueryUnescape(pass); err == nil {
							out = append(out, p)
						}
					}
				}
			}
		}
	}
	return out
}

// scrub replaces every occurrence of a secret in s: as is, form-encoded,
// or escaped as RedactBody's JSON output escapes it. s is already safe for
// a terminal, and so is what scrub leaves.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) < minSecret {
			continue
		}
		j, _ := json.Marshal(v)
		for _, form := range []string{v, url.QueryEscape(v), string(j[1 : len(j)-1])} {
			s = strings.ReplaceAll(s, form, Redacted)
		}
	}
	return s
}

func (t *Transport) write(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.Out, s)
}

func writeHeaders(b *strings.Builder, prefix string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			if secretHeaders[http.CanonicalHeaderKey(k)] {
				v = redactCredentials(v)
			}
			fmt.Fprintf(b, "%s%s: %s\n", prefix, termtext.Safe(k), termtext.Safe(v))
		}
	}
}

// redactCredentials keeps the scheme of an Authorization value
// ("Basic", "Bearer") and hides the rest.
func redactCredentials(v string) string {
	if i := strings.IndexByte(v, ' '); i > 0 && !strings.ContainsAny(v[:i], "=;") {
		return v[:i] + " " + Redacted
	}
	return Redacted
}

// RedactURL hides secret query parameters; the result is safe for a
// terminal.
func RedactURL(u *url.URL) string {
	if u.RawQuery == "" {
		return termtext.Safe(u.String())
	}
	c := *u
	c.RawQuery = redactForm(u.RawQuery)
	return termtext.Safe(c.String())
}

// RedactBody returns a one-line, redacted view of a form or JSON body,
// safe for a terminal; other bodies are summarised by type and size, not
// shown.
func RedactBody(contentType string, body []byte) string {
	truncated := len(body) > maxShown
	if truncated {
		body = body[:maxShown]
	}
	ct := strings.ToLower(contentType)
	var out string
	switch {
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		out = redactForm(string(body))
	case strings.Contains(ct, "json") || json.Valid(body):
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Sprintf("[%d bytes of unparsable JSON]", len(body))
		}
		redactJSON(v)
		enc, _ := json.Marshal(v)
		// Marshal escapes C0 controls but not C1 ones or bidi overrides.
		out = termtext.Safe(string(enc))
	default:
		return fmt.Sprintf("[%d bytes of %s]", len(body), termtext.Clip(orUnknown(contentType), 100))
	}
	if truncated {
		out += " …"
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown type"
	}
	return s
}

// redactForm decodes each key=value pair of a form, in order, hides the
// values of secret keys, and encodes the pair again, so that no byte of it
// reaches the terminal raw. A pair that does not decode is shown escaped
// with its value hidden.
func redactForm(raw string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		key, kerr := url.QueryUnescape(k)
		val, verr := url.QueryUnescape(v)
		switch {
		case kerr != nil:
			parts[i] = termtext.Safe(k) + "=" + Redacted
		case secretFields[key] || verr != nil:
			parts[i] = url.QueryEscape(key) + "=" + Redacted
		case !hasValue:
			parts[i] = url.QueryEscape(key)
		default:
			parts[i] = url.QueryEscape(key) + "=" + url.QueryEscape(val)
		}
	}
	return strings.Join(parts, "&")
}

func redactJSON(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if secretFields[k] {
				x[k] = Redacted
				continue
			}
			redactJSON(val)
		}
	case []any:
		for _, e := range x {
			redactJSON(e)
		}
	}
}
