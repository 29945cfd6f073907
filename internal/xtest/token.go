package xtest

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// X's error descriptions.
const (
	descInvalidToken  = "Value passed for the token was invalid."
	descMissingHeader = "Missing valid authorization header"
)

// api records a request to TokenPath, RevokePath or UsersMePath, applies
// the next injected fault of that path, if any, and answers.
func (f *Fake) api(w http.ResponseWriter, r *http.Request) {
	raw, tooBig := readBody(r)
	rec := Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		RawBody:  string(raw),
		Time:     f.now(),
	}
	if len(raw) > 0 {
		if form, err := url.ParseQuery(string(raw)); err == nil {
			rec.Form = form
		}
	}
	f.mu.Lock()
	if rec.Path == TokenPath && rec.Form != nil {
		if gt := rec.Form.Get("grant_type"); gt != "" {
			f.grantCounts[gt]++
		}
	}
	var fault *Fault
	if q := f.faults[rec.Path]; len(q) > 0 {
		fc := q[0]
		fault = &fc
		f.faults[rec.Path] = q[1:]
		rc := fc
		rec.Fault = &rc
	}
	idx, gen := len(f.requests), f.requestsGen
	f.requests = append(f.requests, rec)
	f.mu.Unlock()

	status := f.serveAPI(w, r, raw, tooBig, fault)

	f.mu.Lock()
	if gen == f.requestsGen { // else ResetRequests dropped the record
		f.requests[idx].Status = status
	}
	f.mu.Unlock()
	if status == 0 && fault != nil && !fault.DropAfterProcessing {
		// A hang or delay cut short: close the connection rather than let
		// net/http send an empty 200.
		panic(http.ErrAbortHandler)
	}
}

// serveAPI answers r, shaped by fault, and returns the status sent (0 for
// none).
func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request, raw []byte, tooBig bool, fault *Fault) int {
	if fault != nil {
		if fault.Delay > 0 {
			t := time.NewTimer(fault.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return 0
			case <-f.stop:
				t.Stop()
				return 0
			}
		}
		if fault.Hang {
			select {
			case <-r.Context().Done():
			case <-f.stop:
			}
			return 0
		}
		if fault.DropAfterProcessing {
			f.handleAPI(r, raw, tooBig)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				// Not hijackable (HTTP/2): abort the stream without an answer.
				panic(http.ErrAbortHandler)
			}
			_ = conn.Close()
			return 0
		}
		if fault.answers() {
			for k, vs := range fault.Header {
				w.Header()[k] = slices.Clone(vs)
			}
			if w.Header().Get("Content-Type") == "" {
				if ct := sniffContentType(fault.Body); ct != "" {
					w.Header().Set("Content-Type", ct)
				}
			}
			status := fault.Status
			if status == 0 {
				status = http.StatusOK
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, fault.Body)
			return status
		}
	}
	rp := f.handleAPI(r, raw, tooBig)
	writeReply(w, rp)
	return rp.status
}

// readBody reads at most MaxBodyBytes+1 bytes of r's body.
func readBody(r *http.Request) (body []byte, tooBig bool) {
	if r.Body == nil {
		return nil, false
	}
	body, _ = io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	return body, len(body) > MaxBodyBytes
}

func (f *Fake) handleAPI(r *http.Request, raw []byte, tooBig bool) reply {
	switch r.URL.Path {
	case TokenPath:
		return f.token(r, raw, tooBig)
	case RevokePath:
		return f.revoke(r, raw, tooBig)
	default:
		return f.usersMe(r)
	}
}

// token serves POST TokenPath: grant_type authorization_code (RFC 6749
// section 4.1.3 with RFC 7636 section 4.5) and refresh_token (section 6).
//
// The client authenticates first (see authenticate); a failure there
// leaves the code or refresh token untouched. An authorization code is
// spent by the first exchange attempt that names it, successful or not, and
// an exchange of a spent code revokes every token issued from it (RFC 6749
// section 4.1.2). A code can be exchanged while its age is at most CodeTTL.
// A refresh returns a new access token and a new refresh token; the old
// refresh token is dead at once (rotation), the old access token lives on
// until it expires. A reused refresh token is refused without revoking the
// rest of its chain. Every invalid code, verifier, redirect URI or refresh
// token gets X's 400 invalid_request "Value passed for the token was
// invalid."; a missing parameter gets "Missing required parameter [name].".
func (f *Fake) token(r *http.Request, raw []byte, tooBig bool) reply {
	form, rp, ok := postForm(r, raw, tooBig)
	if !ok {
		return rp
	}
	c, rp, ok := f.authenticate(r, form)
	if !ok {
		return rp
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		return missingParam("grant_type")
	case "authorization_code":
		return f.exchange(c, form)
	case "refresh_token":
		return f.refresh(c, form)
	default:
		return oauthError(http.StatusBadRequest, "unsupported_grant_type", "Value passed for grant_type ["+gt+"] is not supported.")
	}
}

func (f *Fake) exchange(c Client, form url.Values) reply {
	for _, k := range []string{"code", "redirect_uri", "code_verifier"} {
		if form.Get(k) == "" {
			return missingParam(k)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ac := f.codes[form.Get("code")]
	if ac == nil {
		return invalidToken()
	}
	if ac.used {
		f.revokeGrantLocked(ac.grant)
		return invalidToken()
	}
	ac.used = true
	verifier := form.Get("code_verifier")
	if f.now().Sub(ac.issued) > f.codeTTL ||
		ac.clientID != c.ID ||
		ac.redirectURI != form.Get("redirect_uri") ||
		!validPKCEString(verifier) ||
		!verifierMatches(verifier, ac.challenge, ac.method) {
		return invalidToken()
	}
	ac.grant = &grant{}
	a, rt := f.issueLocked(c.ID, ac.user, ac.scope, ac.grant)
	return f.tokenReply(a, rt)
}

func (f *Fake) refresh(c Client, form url.Values) reply {
	value := form.Get("refresh_token")
	if value == "" {
		return missingParam("refresh_token")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[value]
	if t == nil || t.access || t.used || t.revoked || t.clientID != c.ID {
		return invalidToken()
	}
	scope := t.scope
	if form.Has("scope") {
		scope = uniqueFields(form.Get("scope"))
		for _, s := range scope {
			if !slices.Contains(t.scope, s) {
				return oauthError(http.StatusBadRequest, "invalid_scope", "Scope ["+s+"] was not granted to this token.")
			}
		}
	}
	t.used = true
	a, rt := f.issueLocked(c.ID, t.user, scope, t.grant)
	return f.tokenReply(a, rt)
}

// verifierMatches checks verifier against challenge (RFC 7636 section 4.6).
func verifierMatches(verifier, challenge, method string) bool {
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// revoke serves POST RevokePath (RFC 7009) with the token endpoint's client
// authentication. It revokes an access token alone, or a refresh token
// with every token of its grant. Like X it answers 200 {"revoked":true}
// for an unknown, already revoked or foreign token too (which it leaves
// alone). token_type_hint is accepted and ignored (RFC 7009 section 2.1
// lets the server search all its tokens).
func (f *Fake) revoke(r *http.Request, raw []byte, tooBig bool) reply {
	form, rp, ok := postForm(r, raw, tooBig)
	if !ok {
		return rp
	}
	c, rp, ok := f.authenticate(r, form)
	if !ok {
		return rp
	}
	value := form.Get("token")
	if value == "" {
		return missingParam("token")
	}
	f.mu.Lock()
	if t := f.tokens[value]; t != nil && t.clientID == c.ID {
		f.revokeLocked(t)
	}
	f.mu.Unlock()
	return jsonReply(http.StatusOK, map[string]bool{"revoked": true})
}

// usersMe serves GET UsersMePath: 200 with the token's own user (see
// SetUser) for a valid, unexpired, unrevoked access token with tweet.read
// and users.read; 401 (X's problem JSON) for a missing, unknown, expired or
// revoked token; 403 when a scope is missing.
func (f *Fake) usersMe(r *http.Request) reply {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rp := problemReply(http.StatusMethodNotAllowed, "Method Not Allowed", "Method Not Allowed")
		rp.header.Set("Allow", "GET, HEAD")
		return rp
	}
	scheme, value, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || value == "" {
		return problemReply(http.StatusUnauthorized, "Unauthorized", "Unauthorized")
	}
	f.mu.Lock()
	t := f.tokens[value]
	valid := t != nil && t.access && !t.revoked && f.now().Before(t.expires)
	var missing []string
	var u User
	if valid {
		u = t.user
		for _, s := range []string{"tweet.read", "users.read"} {
			if !slices.Contains(t.scope, s) {
				missing = append(missing, s)
			}
		}
	}
	f.mu.Unlock()
	if !valid {
		return problemReply(http.StatusUnauthorized, "Unauthorized", "Unauthorized")
	}
	if len(missing) > 0 {
		return problemReply(http.StatusForbidden, "Forbidden",
			"The access token lacks the scopes this endpoint needs: "+strings.Join(missing, " ")+".")
	}
	return jsonReply(http.StatusOK, struct {
		Data User `json:"data"`
	}{u})
}

// postForm checks that r is a POST with a form body of one value per
// parameter (RFC 6749 section 3.2) and parses it.
func postForm(r *http.Request, raw []byte, tooBig bool) (url.Values, reply, bool) {
	if r.Method != http.MethodPost {
		rp := oauthError(http.StatusMethodNotAllowed, "invalid_request", "Method "+r.Method+" is not allowed; use POST.")
		rp.header.Set("Allow", "POST")
		return nil, rp, false
	}
	if tooBig {
		return nil, oauthError(http.StatusRequestEntityTooLarge, "invalid_request", "Request body is too large."), false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauthError(http.StatusBadRequest, "invalid_request",
			"Content-Type must be application/x-www-form-urlencoded."), false
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, oauthError(http.StatusBadRequest, "invalid_request", "The request body is not a valid form."), false
	}
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, oauthError(http.StatusBadRequest, "invalid_request", "Duplicate parameter ["+k+"]."), false
		}
	}
	return form, reply{}, true
}

// authenticate identifies the client of a token or revocation request.
//
// A confidential client (one with a secret) must send HTTP Basic with its
// id and secret, each form-encoded first (RFC 6749 section 2.3.1); a
// client_id in the body must then be the same, and a client_secret in the
// body is ignored. A public client must send client_id in the body and no
// Authorization header. Every failure is X's 401 unauthorized_client
// "Missing valid authorization header": a missing or malformed header, an
// unknown client, a wrong secret, a non-empty client_secret in the body, and Basic from
// a public client.
func (f *Fake) authenticate(r *http.Request, form url.Values) (Client, reply, bool) {
	fail := func() (Client, reply, bool) {
		return Client{}, oauthError(http.StatusUnauthorized, "unauthorized_client", descMissingHeader), false
	}
	bodyID := form.Get("client_id")
	if r.Header.Get("Authorization") != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return fail()
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return fail()
		}
		c, known := f.client(id)
		if !known || c.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
			return fail()
		}
		if bodyID != "" && bodyID != id {
			return fail()
		}
		return c, reply{}, true
	}
	c, known := f.client(bodyID)
	if bodyID == "" || !known || c.Secret != "" || form.Get("client_secret") != "" {
		return fail()
	}
	return c, reply{}, true
}

func (f *Fake) tokenReply(a, rt *token) reply {
	expiresIn := int64((f.accessTTL + time.Second - 1) / time.Second)
	rp := jsonReply(http.StatusOK, struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		AccessToken  string `json:"access_token"`
		Scope        string `json:"scope"`
		RefreshToken string `json:"refresh_token,omitempty"`
	}{"bearer", expiresIn, a.value, strings.Join(a.scope, " "), refreshValue(rt)})
	rp.header.Set("Pragma", "no-cache")
	return rp
}

func invalidToken() reply {
	return oauthError(http.StatusBadRequest, "invalid_request", descInvalidToken)
}

func missingParam(name string) reply {
	return oauthError(http.StatusBadRequest, "invalid_request", "Missing required parameter ["+name+"].")
}

func oauthError(status int, code, desc string) reply {
	return jsonReply(status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
}

// problemReply is the problem JSON of X's API v2 (RFC 7807 fields).
func problemReply(status int, title, detail string) reply {
	rp := jsonReply(status, struct {
		Title  string `json:"title"`
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{title, "about:blank", status, detail})
	rp.header.Set("Content-Type", "application/problem+json")
	return rp
}

// jsonReply answers v as compact JSON, uncached.
func jsonReply(status int, v any) reply {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("xtest: encoding JSON: " + err.Error())
	}
	return reply{status: status, header: http.Header{
		"Content-Type":  {"application/json;charset=utf-8"},
		"Cache-Control": {"no-store"},
	}, body: bytes.TrimSuffix(buf.Bytes(), []byte("\n"))}
}
