package xtest

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// authRequest is a validated authorize request.
type authRequest struct {
	clientID    string
	redirectURI string
	state       string
	challenge   string
	method      string
	scope       []string
}

// authorize serves GET AuthorizePath.
//
// Problems with client_id or redirect_uri get a 400 HTML page and no
// redirect, as on X (and as RFC 6749 section 4.1.2.1 requires): the redirect
// URI must equal a registered one byte for byte. Every other problem is
// reported to the client by an error redirect (RFC 6749 section 4.1.2.1):
// invalid_request for a missing, repeated or malformed parameter (state
// over 500 characters, a code_challenge_method other than S256 or plain, a
// code_challenge that is not 43-128 characters of [A-Za-z0-9-._~]),
// unsupported_response_type, and invalid_scope for a scope outside X's
// documented set. X itself shows its "Something went wrong" page for some
// of these; the redirect keeps the client's error path testable.
func (f *Fake) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rp := errorPage(http.StatusMethodNotAllowed, "The authorize page answers GET only.")
		rp.header.Set("Allow", "GET, HEAD")
		writeReply(w, rp)
		return
	}
	q := r.URL.Query()
	f.mu.Lock()
	f.authorizations = append(f.authorizations, cloneValues(q))
	consent, deny := f.consent, f.deny
	f.mu.Unlock()

	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(q[k]) > 1 {
			writeReply(w, errorPage(http.StatusBadRequest, "Parameter "+k+" is repeated."))
			return
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		writeReply(w, errorPage(http.StatusBadRequest, "Parameter client_id is missing."))
		return
	}
	c, ok := f.client(clientID)
	if !ok {
		writeReply(w, errorPage(http.StatusBadRequest, "No app has the client_id "+clientID+"."))
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		writeReply(w, errorPage(http.StatusBadRequest, "Parameter redirect_uri is missing."))
		return
	}
	if !slices.Contains(c.RedirectURIs, redirectURI) {
		writeReply(w, errorPage(http.StatusBadRequest,
			"The redirect_uri "+redirectURI+" is not a callback URL registered for this app (they must match exactly)."))
		return
	}

	ar, code, desc := parseAuthRequest(q)
	ar.clientID, ar.redirectURI = clientID, redirectURI
	switch {
	case code != "":
		kv := []string{"error", code, "error_description", desc}
		if q.Has("state") {
			kv = append(kv, "state", q.Get("state"))
		}
		f.redirect(w, redirectURI, kv...)
	case consent:
		f.consentPage(w, ar)
	case deny:
		f.redirectDenied(w, redirectURI, ar.state)
	default:
		f.approve(w, ar)
	}
}

// parseAuthRequest checks every parameter but client_id and redirect_uri.
// It returns an OAuth error code and description on failure.
func parseAuthRequest(q url.Values) (ar authRequest, code, desc string) {
	for _, k := range []string{"response_type", "scope", "state", "code_challenge", "code_challenge_method"} {
		if len(q[k]) > 1 {
			return ar, "invalid_request", "Duplicate parameter [" + k + "]."
		}
	}
	for _, k := range []string{"response_type", "state", "scope", "code_challenge", "code_challenge_method"} {
		if q.Get(k) == "" {
			return ar, "invalid_request", "Missing required parameter [" + k + "]."
		}
	}
	if rt := q.Get("response_type"); rt != "code" {
		return ar, "unsupported_response_type", "Unsupported response_type [" + rt + "]; X supports code."
	}
	ar.state = q.Get("state")
	if len(ar.state) > MaxStateLength {
		return ar, "invalid_request", "Parameter [state] is longer than 500 characters."
	}
	ar.scope = uniqueFields(q.Get("scope"))
	if len(ar.scope) == 0 {
		return ar, "invalid_request", "Missing required parameter [scope]."
	}
	for _, s := range ar.scope {
		if !slices.Contains(knownScopes, s) {
			return ar, "invalid_scope", "Unknown scope [" + s + "]; scopes are space-separated."
		}
	}
	ar.method = q.Get("code_challenge_method")
	if ar.method != "S256" && ar.method != "plain" {
		return ar, "invalid_request", "Unsupported code_challenge_method [" + ar.method + "]; use S256 or plain."
	}
	ar.challenge = q.Get("code_challenge")
	if !validPKCEString(ar.challenge) || (ar.method == "S256" && len(ar.challenge) != 43) {
		return ar, "invalid_request", "Value passed for [code_challenge] was invalid."
	}
	return ar, "", ""
}

// validPKCEString reports whether s is 43-128 characters of
// [A-Za-z0-9-._~] (RFC 7636 section 4.1 and 4.2).
func validPKCEString(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func (f *Fake) client(id string) (Client, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clients[id]
	return c, ok
}

// approve issues a code for ar and redirects to the client with it.
func (f *Fake) approve(w http.ResponseWriter, ar authRequest) {
	code := mint("ac")
	f.mu.Lock()
	now := f.now()
	for k, c := range f.codes { // forget codes nobody can use or reuse any more
		if now.Sub(c.issued) > f.codeTTL+pendingTTL {
			delete(f.codes, k)
		}
	}
	f.codes[code] = &authCode{
		clientID:    ar.clientID,
		user:        f.user,
		redirectURI: ar.redirectURI,
		challenge:   ar.challenge,
		method:      ar.method,
		scope:       ar.scope,
		issued:      now,
	}
	f.mu.Unlock()
	f.redirect(w, ar.redirectURI, "state", ar.state, "code", code)
}

func (f *Fake) redirectDenied(w http.ResponseWriter, redirectURI, state string) {
	f.redirect(w, redirectURI, "error", "access_denied",
		"error_description", "The user denied the authorization request.", "state", state)
}

// redirect answers 302 to base with kv appended to its query (any query
// base has is kept as it is), plus iss when Options.Issuer is set.
func (f *Fake) redirect(w http.ResponseWriter, base string, kv ...string) {
	if f.issuer != "" {
		kv = append(kv, "iss", f.issuer)
	}
	loc := appendQuery(base, kv...)
	rp := htmlReply(http.StatusFound, []byte(`<a href="`+template.HTMLEscapeString(loc)+`">Found</a>.`+"\n"))
	rp.header.Set("Location", loc)
	writeReply(w, rp)
}

// appendQuery appends the pairs kv to the query of base, leaving the bytes
// of base as they are (its fragment, if any, is dropped).
func appendQuery(base string, kv ...string) string {
	base, _, _ = strings.Cut(base, "#")
	var b strings.Builder
	b.WriteString(base)
	sep := "?"
	if i := strings.IndexByte(base, '?'); i >= 0 {
		sep = "&"
		if i == len(base)-1 {
			sep = ""
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(sep)
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
		sep = "&"
	}
	return b.String()
}

// consentPage stores ar as pending and shows the consent page.
func (f *Fake) consentPage(w http.ResponseWriter, ar authRequest) {
	id := mint("cs")
	f.mu.Lock()
	now := f.now()
	for k, p := range f.pending {
		if now.Sub(p.created) > pendingTTL {
			delete(f.pending, k)
		}
	}
	f.pending[id] = &pending{
		clientID:    ar.clientID,
		redirectURI: ar.redirectURI,
		state:       ar.state,
		challenge:   ar.challenge,
		method:      ar.method,
		scope:       ar.scope,
		created:     now,
	}
	f.mu.Unlock()
	host := ar.redirectURI
	if u, err := url.Parse(ar.redirectURI); err == nil && u.Host != "" {
		host = u.Host
	}
	var buf bytes.Buffer
	err := consentTmpl.Execute(&buf, map[string]any{
		"ClientID": ar.clientID,
		"Scopes":   ar.scope,
		"Host":     host,
		"Action":   DecidePath,
		"ID":       id,
	})
	if err != nil {
		writeReply(w, errorPage(http.StatusInternalServerError, "Rendering the consent page failed: "+err.Error()))
		return
	}
	writeReply(w, htmlReply(http.StatusOK, buf.Bytes()))
}

// decide serves POST DecidePath: the consent page's "Authorize app" (decision
// "approve") or "Cancel" (decision "deny"). A pending request is answered
// once and lives 10 minutes; otherwise the answer is a 400 page.
func (f *Fake) decide(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rp := errorPage(http.StatusMethodNotAllowed, "The consent form is sent with POST.")
		rp.header.Set("Allow", "POST")
		writeReply(w, rp)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeReply(w, errorPage(http.StatusBadRequest, "The consent form could not be read."))
		return
	}
	decision := r.PostForm.Get("decision")
	if decision != "approve" && decision != "deny" {
		writeReply(w, errorPage(http.StatusBadRequest, "The consent form carries no decision."))
		return
	}
	id := r.PostForm.Get("id")
	f.mu.Lock()
	p := f.pending[id]
	delete(f.pending, id)
	expired := p != nil && f.now().Sub(p.created) > pendingTTL
	f.mu.Unlock()
	if p == nil || expired {
		writeReply(w, errorPage(http.StatusBadRequest,
			"This authorization request has expired or was already answered. Go back to the app and start again."))
		return
	}
	if decision == "deny" {
		f.redirectDenied(w, p.redirectURI, p.state)
		return
	}
	f.approve(w, authRequest{
		clientID:    p.clientID,
		redirectURI: p.redirectURI,
		state:       p.state,
		challenge:   p.challenge,
		method:      p.method,
		scope:       p.scope,
	})
}

// errorPage is X's "Something went wrong" page with the reason for a
// developer underneath.
func errorPage(status int, reason string) reply {
	var buf bytes.Buffer
	if err := errorTmpl.Execute(&buf, reason); err != nil {
		buf.Reset()
		buf.WriteString(template.HTMLEscapeString(reason))
	}
	return htmlReply(status, buf.Bytes())
}

const pageStyle = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f7f9f9;color:#0f1419;margin:0}
main{max-width:26rem;margin:3rem auto;background:#fff;border:1px solid #cfd9de;border-radius:16px;padding:2rem}
h1{font-size:1.4rem;margin:0 0 1rem}
.logo{font-size:2rem;font-weight:800;margin-bottom:1rem}
code{background:#eff3f4;border-radius:4px;padding:0 .25rem}
ul{padding-left:1.2rem}
form{display:inline}
button{font:inherit;font-weight:700;border-radius:9999px;padding:.6rem 1.4rem;cursor:pointer;margin:.5rem .5rem 0 0}
#authorize{background:#0f1419;color:#fff;border:1px solid #0f1419}
#cancel{background:#fff;color:#0f1419;border:1px solid #cfd9de}
.reason{color:#536471;font-size:.9rem}`

var consentTmpl = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize app - twauth dev server</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<div class="logo">𝕏</div>
<h1>The app <code id="client-id">{{.ClientID}}</code> wants to access your X account.</h1>
<p>It will be able to:</p>
<ul id="scopes">{{range .Scopes}}
<li><code>{{.}}</code></li>{{end}}
</ul>
<p>You will be sent back to <code>{{.Host}}</code>.</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="decision" value="approve"><button type="submit" id="authorize">Authorize app</button></form>
<form method="post" action="{{.Action}}"><input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="decision" value="deny"><button type="submit" id="cancel">Cancel</button></form>
<p class="reason">This is the twauth dev server, a fake of X. No real account is involved.</p>
</main>
</body>
</html>
`))

var errorTmpl = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Something went wrong - twauth dev server</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<div class="logo">𝕏</div>
<h1>Something went wrong</h1>
<p>You weren't able to give access to the App. Go back and try logging in again.</p>
<p class="reason" id="reason">{{.}}</p>
</main>
</body>
</html>
`))
