package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
)

// Scheme starts the store URLs this package opens.
const Scheme = "etcd://"

// DefaultPort is the port an endpoint without one gets: etcd's client port.
const DefaultPort = "2379"

// URLError is a store URL this package cannot use.
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("bad etcd store %q: %s (the form is etcd://HOST:PORT[,HOST:PORT…]/PREFIX)", e.URL, e.Reason)
}

// ConfigError is a TLS or authentication setting from the environment
// that cannot be used.
type ConfigError struct {
	// Var names the variable.
	Var    string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %s", e.Var, e.Reason)
}

// location is a parsed store URL.
type location struct {
	endpoints []string // HOST:PORT
	prefix    string   // "/PREFIX", no trailing slash
}

// parseURL reads etcd://HOST:PORT[,HOST:PORT…]/PREFIX. The URL is parsed
// by hand: net/url reads "a:1,b:2" as one host with port 2, and cannot
// read a list of bracketed IPv6 addresses at all.
func parseURL(raw string) (location, error) {
	bad := func(format string, args ...any) (location, error) {
		return location{}, &URLError{URL: redact(raw), Reason: fmt.Sprintf(format, args...)}
	}
	rest, ok := strings.CutPrefix(raw, Scheme)
	if !ok {
		return bad("it does not start with %s", Scheme)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		return bad("it holds credentials: set TWAUTH_ETCD_USER and TWAUTH_ETCD_PASSWORD (or ETCDCTL_USER and ETCDCTL_PASSWORD) instead, which no process list shows")
	}
	if strings.ContainsAny(path, "?#") {
		return bad("it has a query or a fragment; the prefix is a plain path")
	}
	var loc location
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			continue
		}
		ep, err := endpoint(h)
		if err != nil {
			return bad("endpoint %q: %v", h, err)
		}
		loc.endpoints = append(loc.endpoints, ep)
	}
	if len(loc.endpoints) == 0 {
		return bad("it names no endpoint")
	}
	path = strings.Trim(path, "/")
	if path == "" {
		return bad("it names no prefix: give one, such as /twauth, so that twauth's keys stay apart from the cluster's other keys")
	}
	loc.prefix = "/" + path
	return loc, nil
}

// endpoint checks HOST[:PORT] and returns HOST:PORT.
func endpoint(h string) (string, error) {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: "host", or "[::1]".
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), DefaultPort
		if strings.Contains(host, ":") && !strings.HasPrefix(h, "[") {
			return "", fmt.Errorf("an IPv6 address is written in brackets, [ADDR]:PORT")
		}
	}
	if host == "" {
		return "", fmt.Errorf("no host")
	}
	if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
		return "", fmt.Errorf("port %q is not a number", port)
	}
	return net.JoinHostPort(host, port), nil
}

// redact drops the credentials of a URL that holds some, for messages.
func redact(raw string) string {
	rest, ok := strings.CutPrefix(raw, Scheme)
	if !ok {
		return raw
	}
	hosts, path, slash := strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		hosts = "…@" + hosts[at+1:]
	}
	if slash {
		path = "/" + path
	}
	return Scheme + hosts + path
}

// loopback reports whether every endpoint is on this machine.
func (l location) loopback() bool {
	for _, ep := range l.endpoints {
		host, _, _ := net.SplitHostPort(ep)
		if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			return false
		}
	}
	return true
}

// Environment variables, read with Options.Getenv. The TWAUTH_ETCD_ set
// wins as a whole: when any of its variables is set, the ETCDCTL_ ones are
// not read at all, so that a CA of one never meets a user of the other.
var (
	twauthVars  = envNames{"TWAUTH_ETCD_CACERT", "TWAUTH_ETCD_CERT", "TWAUTH_ETCD_KEY", "TWAUTH_ETCD_USER", "TWAUTH_ETCD_PASSWORD"}
	etcdctlVars = envNames{"ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY", "ETCDCTL_USER", "ETCDCTL_PASSWORD"}
)

type envNames struct{ CACert, Cert, Key, User, Password string }

// security is the TLS and authentication the environment asks for.
type security struct {
	tls            *tls.Config
	user, password string
	// from is the prefix of the variables read ("TWAUTH_ETCD_" or
	// "ETCDCTL_"), for messages.
	from string
}

// readSecurity reads the TLS files and credentials from the environment.
func readSecurity(getenv func(string) string) (security, error) {
	names := etcdctlVars
	for _, v := range []string{twauthVars.CACert, twauthVars.Cert, twauthVars.Key, twauthVars.User, twauthVars.Password} {
		if getenv(v) != "" {
			names = twauthVars
			break
		}
	}
	s := security{from: strings.TrimSuffix(names.CACert, "CACERT")}
	s.user, s.password = getenv(names.User), getenv(names.Password)
	if s.password == "" {
		// etcdctl's --user takes "name:password" too.
		if u, p, ok := strings.Cut(s.user, ":"); ok {
			s.user, s.password = u, p
		}
	}
	switch {
	case s.user == "" && s.password != "":
		return security{}, &ConfigError{Var: names.Password, Reason: "is set without " + names.User}
	case s.user != "" && s.password == "":
		return security{}, &ConfigError{Var: names.User, Reason: "is set without a password: set " + names.Password + " too (or " + names.User + " to NAME:PASSWORD)"}
	}
	ca, cert, key := getenv(names.CACert), getenv(names.Cert), getenv(names.Key)
	if ca == "" && cert == "" && key == "" {
		return s, nil
	}
	s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return security{}, &ConfigError{Var: names.CACert, Reason: fmt.Sprintf("cannot read the CA certificate: %v", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return security{}, &ConfigError{Var: names.CACert, Reason: ca + " holds no PEM certificate"}
		}
		s.tls.RootCAs = pool
	}
	switch {
	case cert != "" && key == "":
		return security{}, &ConfigError{Var: names.Cert, Reason: "is set without " + names.Key + " (the client certificate's private key)"}
	case cert == "" && key != "":
		return security{}, &ConfigError{Var: names.Key, Reason: "is set without " + names.Cert + " (the client certificate)"}
	case cert != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return security{}, &ConfigError{Var: names.Cert, Reason: fmt.Sprintf("cannot load the client certificate and key: %v", err)}
		}
		s.tls.Certificates = []tls.Certificate{pair}
	}
	return s, nil
}
