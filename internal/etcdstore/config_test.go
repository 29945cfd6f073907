package etcdstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url       string
		endpoints []string
		prefix    string
	}{
		{"etcd://127.0.0.1:2379/twauth", []string{"127.0.0.1:2379"}, "/twauth"},
		{"etcd://a.example:1,b.example:2,c.example:3/x/y/", []string{"a.example:1", "b.example:2", "c.example:3"}, "/x/y"},
		{"etcd://etcd.internal/twauth", []string{"etcd.internal:2379"}, "/twauth"},
		{"etcd://[::1]:23790,[::1]/p", []string{"[::1]:23790", "[::1]:2379"}, "/p"},
		{"etcd://a:1,,b:2//p", []string{"a:1", "b:2"}, "/p"},
	} {
		loc, err := parseURL(tc.url)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.url, err)
			continue
		}
		if !slices.Equal(loc.endpoints, tc.endpoints) || loc.prefix != tc.prefix {
			t.Errorf("parseURL(%q) = %q %q, want %q %q", tc.url, loc.endpoints, loc.prefix, tc.endpoints, tc.prefix)
		}
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, tc := range []struct{ url, reason string }{
		{"http://127.0.0.1:2379/twauth", "does not start with etcd://"},
		{"etcd:///twauth", "names no endpoint"},
		{"etcd://,/twauth", "names no endpoint"},
		{"etcd://127.0.0.1:2379", "names no prefix"},
		{"etcd://127.0.0.1:2379/", "names no prefix"},
		{"etcd://127.0.0.1:2379///", "names no prefix"},
		{"etcd://root:s3cret@127.0.0.1:2379/twauth", "holds credentials: set TWAUTH_ETCD_USER"},
		{"etcd://127.0.0.1:port/twauth", `port "port" is not a number`},
		{"etcd://127.0.0.1:/twauth", `port "" is not a number`},
		{"etcd://::1/twauth", "IPv6 address is written in brackets"},
		{"etcd://:2379/twauth", "no host"},
		{"etcd://127.0.0.1:2379/twauth?x=1", "has a query"},
	} {
		_, err := parseURL(tc.url)
		var ue *URLError
		if !errors.As(err, &ue) {
			t.Errorf("parseURL(%q) = %v, want a *URLError", tc.url, err)
			continue
		}
		if !strings.Contains(ue.Error(), tc.reason) {
			t.Errorf("parseURL(%q): %q does not say %q", tc.url, ue.Error(), tc.reason)
		}
		if strings.Contains(ue.Error(), "s3cret") {
			t.Errorf("parseURL(%q): the error shows the password: %q", tc.url, ue.Error())
		}
	}
}

// env is a Getenv over a map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestReadSecurity(t *testing.T) {
	pki := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		vars       map[string]string
		user, pass string
		tls        bool
		certs      int
		from       string
	}{
		{name: "nothing", from: "ETCDCTL_"},
		{name: "etcdctl user and password", vars: map[string]string{"ETCDCTL_USER": "u", "ETCDCTL_PASSWORD": "p:q"}, user: "u", pass: "p:q", from: "ETCDCTL_"},
		{name: "etcdctl NAME:PASSWORD", vars: map[string]string{"ETCDCTL_USER": "u:p:q"}, user: "u", pass: "p:q", from: "ETCDCTL_"},
		{name: "CA only", vars: map[string]string{"ETCDCTL_CACERT": pki.CA}, tls: true, from: "ETCDCTL_"},
		{name: "client certificate", vars: map[string]string{"ETCDCTL_CACERT": pki.CA, "ETCDCTL_CERT": pki.ClientCert, "ETCDCTL_KEY": pki.ClientKey}, tls: true, certs: 1, from: "ETCDCTL_"},
		{
			name: "TWAUTH_ETCD_ wins as a whole",
			vars: map[string]string{"TWAUTH_ETCD_USER": "tw", "TWAUTH_ETCD_PASSWORD": "twp", "ETCDCTL_CACERT": "/nonexistent/ca.pem", "ETCDCTL_USER": "other:pw"},
			user: "tw", pass: "twp", from: "TWAUTH_ETCD_",
		},
		{name: "TWAUTH_ETCD_CACERT alone", vars: map[string]string{"TWAUTH_ETCD_CACERT": pki.CA, "ETCDCTL_USER": "other:pw"}, tls: true, from: "TWAUTH_ETCD_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := readSecurity(env(tc.vars))
			if err != nil {
				t.Fatal(err)
			}
			if s.user != tc.user || s.password != tc.pass || (s.tls != nil) != tc.tls || s.from != tc.from {
				t.Fatalf("got user %q password %q tls %v from %q, want %q %q %v %q", s.user, s.password, s.tls != nil, s.from, tc.user, tc.pass, tc.tls, tc.from)
			}
			if s.tls != nil && (s.tls.RootCAs == nil || len(s.tls.Certificates) != tc.certs) {
				t.Fatalf("tls: RootCAs %v, %d certificates, want %d", s.tls.RootCAs != nil, len(s.tls.Certificates), tc.certs)
			}
		})
	}
}

func TestReadSecurityRefuses(t *testing.T) {
	pki := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vars   map[string]string
		varErr string
		says   string
	}{
		{map[string]string{"ETCDCTL_USER": "u"}, "ETCDCTL_USER", "without a password"},
		{map[string]string{"ETCDCTL_PASSWORD": "p"}, "ETCDCTL_PASSWORD", "without ETCDCTL_USER"},
		{map[string]string{"TWAUTH_ETCD_USER": "u", "ETCDCTL_PASSWORD": "p"}, "TWAUTH_ETCD_USER", "set TWAUTH_ETCD_PASSWORD"},
		{map[string]string{"ETCDCTL_CACERT": "/nonexistent/ca.pem"}, "ETCDCTL_CACERT", "cannot read the CA certificate"},
		{map[string]string{"ETCDCTL_CACERT": notPEM}, "ETCDCTL_CACERT", "holds no PEM certificate"},
		{map[string]string{"ETCDCTL_CACERT": pki.CA, "ETCDCTL_CERT": pki.ClientCert}, "ETCDCTL_CERT", "without ETCDCTL_KEY"},
		{map[string]string{"TWAUTH_ETCD_KEY": pki.ClientKey}, "TWAUTH_ETCD_KEY", "without TWAUTH_ETCD_CERT"},
		{map[string]string{"ETCDCTL_CERT": pki.ClientCert, "ETCDCTL_KEY": pki.ServerKey}, "ETCDCTL_CERT", "cannot load the client certificate"},
	} {
		_, err := readSecurity(env(tc.vars))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Var != tc.varErr || !strings.Contains(ce.Error(), tc.says) {
			t.Errorf("readSecurity(%v) = %v, want a *ConfigError on %s saying %q", tc.vars, err, tc.varErr, tc.says)
		}
	}
}

// New does not contact etcd without credentials: it names the store and
// warns about plain text at once.
func TestNewWarnsOfPlainText(t *testing.T) {
	pki := newPKI(t)
	for _, tc := range []struct {
		url   string
		vars  map[string]string
		where string
		warn  string
	}{
		{url: "etcd://127.0.0.1:1,localhost:2,[::1]:3/twauth/", where: "etcd://127.0.0.1:1,localhost:2,[::1]:3/twauth"},
		{url: "etcd://10.0.0.7:2379,127.0.0.1:2379/twauth", where: "etcd://10.0.0.7:2379,127.0.0.1:2379/twauth", warn: "etcd at etcd://10.0.0.7:2379,127.0.0.1:2379/twauth is reached without TLS: the tokens cross the network in plain text; set TWAUTH_ETCD_CACERT (or ETCDCTL_CACERT) to the CA of etcd's certificate"},
		{url: "etcd://etcd.internal/twauth", vars: map[string]string{"TWAUTH_ETCD_CACERT": pki.CA}, where: "etcd://etcd.internal:2379/twauth"},
	} {
		b, err := New(context.Background(), tc.url, Options{Getenv: env(tc.vars)})
		if err != nil {
			t.Fatalf("New(%q): %v", tc.url, err)
		}
		if b.Where() != tc.where {
			t.Errorf("Where() = %q, want %q", b.Where(), tc.where)
		}
		var want []string
		if tc.warn != "" {
			want = []string{tc.warn}
		}
		if !slices.Equal(b.Warnings(), want) {
			t.Errorf("New(%q).Warnings() = %q, want %q", tc.url, b.Warnings(), want)
		}
		b.Close()
	}
}

func TestPlainTextWarnsOfThePassword(t *testing.T) {
	loc, err := parseURL("etcd://etcd.internal:2379/twauth")
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{loc: loc, sec: security{user: "root", password: "pw"}}
	want := []string{"etcd at etcd://etcd.internal:2379/twauth is reached without TLS: the tokens cross the network in plain text, and so does the etcd password; set TWAUTH_ETCD_CACERT (or ETCDCTL_CACERT) to the CA of etcd's certificate"}
	if got := b.plainText(); !slices.Equal(got, want) {
		t.Errorf("plainText() = %q, want %q", got, want)
	}
}
