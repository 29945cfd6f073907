package wirelog

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestTraceRedactsSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session=COOKIE-SECRET")
		io.WriteString(w, `{"token_type":"bearer","access_token":"AT-SECRET","refresh_token":"RT-SECRET","nested":{"id_token":"ID-SECRET"},"scope":"tweet.read"}`)
	}))
	defer srv.Close()
	var out bytes.Buffer
	c := &http.Client{Transport: &Transport{Out: &out}}
	form := url.Values{"code": {"CODE-SECRET"}, "code_verifier": {"VERIFIER-SECRET"}, "grant_type": {"authorization_code"}, "client_secret": {"CS-SECRET"}, "refresh_token": {"RT-OLD-SECRET"}}
	req, _ := http.NewRequest("POST", srv.URL+"/2/oauth2/token?code=Q-SECRET&x=1", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cid", "BASIC-SECRET")
	req.Header.Set("Cookie", "a=COOKIE2-SECRET")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "AT-SECRET") {
		t.Fatal("the trace consumed the answer's body")
	}
	trace := out.String()
	if strings.Contains(trace, "SECRET") || strings.Contains(trace, "Y2lkOkJBU0lD") {
		t.Fatalf("secret in trace:\n%s", trace)
	}
	for _, want := range []string{
		"> POST " + srv.URL + "/2/oauth2/token?code=[redacted]&x=1",
		"> Authorization: Basic [redacted]",
		"grant_type=authorization_code",
		`"scope":"tweet.read"`,
		"< 200 OK",
		"< Set-Cookie: [redacted]",
	} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
}

func TestRedactBodyOtherTypes(t *testing.T) {
	if got := RedactBody("text/html", []byte("<html>secret</html>")); got != "[19 bytes of text/html]" {
		t.Fatalf("html body = %q", got)
	}
	if got := RedactBody("application/json", []byte(`{"access_token":`)); !strings.Contains(got, "unparsable") {
		t.Fatalf("broken json = %q", got)
	}
	if got := RedactBody("", []byte(`[{"token":"x"}]`)); got != `[{"token":"[redacted]"}]` {
		t.Fatalf("json array = %q", got)
	}
}
