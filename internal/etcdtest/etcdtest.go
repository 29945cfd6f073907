// Package etcdtest runs real etcd servers for tests: a single node or a
// cluster, on free loopback ports with a temporary data directory, each
// member stopped by its PID when the test ends. It runs the etcd binary on
// PATH (Debian's etcd-server package: apt-get install etcd-server); a test
// that needs it fails, rather than skips, when it is missing.
package etcdtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the wait for a cluster to elect a leader and serve.
const startTimeout = 20 * time.Second

// Options say what to start.
type Options struct {
	// Members is the cluster's size; 0 means 1.
	Members int
	// TLS, when set, makes the client port HTTPS with these files and
	// requires client certificates signed by its CA.
	TLS *TLS
}

// TLS is the server side of a TLS etcd, and the client side the helper's
// own clients use.
type TLS struct {
	CAFile, CertFile, KeyFile string
	Client                    *tls.Config
}

// Cluster is a running etcd cluster.
type Cluster struct {
	Members []*Member
	t       testing.TB
	tls     *TLS
}

// Member is one etcd process.
type Member struct {
	Name string
	// Endpoint is the client address, 127.0.0.1:PORT.
	Endpoint string
	peerURL  string
	dir      string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
}

// Start runs an etcd cluster and waits until it serves linearizable
// reads. The members are stopped, and their data removed, at tb.Cleanup.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		tb.Fatalf("etcd is not installed (%v): install it with apt-get install etcd-server (CI does)", err)
	}
	// A port found free can be taken before etcd binds it: try again
	// with other ports then.
	var lastErr error
	for range 3 {
		c, err := start(tb, bin, opts)
		if err == nil {
			return c
		}
		lastErr = err
	}
	tb.Fatalf("etcdtest: %v", lastErr)
	return nil
}

func start(tb testing.TB, bin string, opts Options) (*Cluster, error) {
	n := max(opts.Members, 1)
	dir := tb.TempDir()
	c := &Cluster{t: tb, tls: opts.TLS}
	scheme := "http://"
	if opts.TLS != nil {
		scheme = "https://"
	}
	var initial []string
	token := fmt.Sprintf("etcdtest-%d-%d", os.Getpid(), time.Now().UnixNano())
	for i := range n {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		m := &Member{
			Name:     fmt.Sprintf("m%d", i),
			Endpoint: fmt.Sprintf("127.0.0.1:%d", ports[0]),
			peerURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
			dir:      filepath.Join(dir, fmt.Sprintf("m%d", i)),
		}
		m.logPath = m.dir + ".log"
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.peerURL)
	}
	for _, m := range c.Members {
		args := []string{
			"--name", m.Name,
			"--data-dir", m.dir,
			"--listen-client-urls", scheme + m.Endpoint,
			"--advertise-client-urls", scheme + m.Endpoint,
			"--listen-peer-urls", m.peerURL,
			"--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
		}
		if t := opts.TLS; t != nil {
			args = append(args, "--cert-file", t.CertFile, "--key-file", t.KeyFile, "--trusted-ca-file", t.CAFile, "--client-cert-auth")
		}
		if err := m.run(bin, args); err != nil {
			c.stopAll()
			return nil, err
		}
	}
	tb.Cleanup(c.stopAll)
	if err := c.waitReady(); err != nil {
		c.stopAll()
		return nil, fmt.Errorf("%v\n%s", err, c.logs())
	}
	return c, nil
}

func (m *Member) run(bin string, args []string) error {
	logf, err := os.Create(m.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	// Only PATH: an ETCD_* variable of the caller's would configure etcd.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start etcd: %w", err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func() {
		m.waitErr = cmd.Wait()
		logf.Close()
		close(m.done)
	}()
	return nil
}

// waitReady waits until every member answers a linearizable read.
func (c *Cluster) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cl := c.newClient()
	defer cl.hc.CloseIdleConnections()
	for _, m := range c.Members {
		for {
			select {
			case <-m.done:
				return fmt.Errorf("etcd member %s exited at start: %v", m.Name, m.waitErr)
			default:
			}
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			var resp struct{}
			err := cl.call(rctx, m, "/v3/kv/range", map[string]any{"key": []byte("etcdtest-ready")}, &resp)
			rcancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("etcd member %s not ready after %s: %v", m.Name, startTimeout, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// Endpoints are the members' client addresses.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoint)
	}
	return eps
}

// URL is the store URL of prefix on the cluster:
// etcd://HOST:PORT,…/PREFIX.
func (c *Cluster) URL(prefix string) string {
	return "etcd://" + strings.Join(c.Endpoints(), ",") + "/" + strings.TrimPrefix(prefix, "/")
}

// Client is a client of the whole cluster, its connections closed at the
// test's end.
func (c *Cluster) Client() *Client {
	cl := c.newClient()
	c.t.Cleanup(cl.hc.CloseIdleConnections)
	return cl
}

// Leader returns the member that leads the cluster, among the running
// ones, waiting up to startTimeout for an election.
func (c *Cluster) Leader() *Member {
	c.t.Helper()
	deadline := time.Now().Add(startTimeout)
	cl := c.newClient()
	defer cl.hc.CloseIdleConnections()
	for time.Now().Before(deadline) {
		if m := cl.leader(); m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("etcdtest: no leader after %s\n%s", startTimeout, c.logs())
	return nil
}

// Stopped reports whether the member's process has exited.
func (m *Member) Stopped() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Stop ends the member as an administrator would: SIGTERM to its PID
// (etcd hands its leadership over first), SIGKILL if it is still running
// after 5 s. It waits for the exit.
func (m *Member) Stop() {
	if m.cmd == nil || m.Stopped() {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// Kill ends the member as a crash would: SIGKILL to its PID, with no
// handing over of the leadership. It waits for the exit.
func (m *Member) Kill() {
	if m.cmd == nil || m.Stopped() {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

func (c *Cluster) stopAll() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// logs is the tail of every member's log, for a failure message.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, m := range c.Members {
		data, _ := os.ReadFile(m.logPath)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- etcd %s (%s) log:\n%s\n", m.Name, m.Endpoint, data)
	}
	return b.String()
}

// freePorts returns n distinct loopback ports free at the time of the
// call.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(errors.New("etcdtest: no free loopback port"), err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Client speaks etcd's v3 API as JSON over HTTP, the gateway of etcd's
// client port, for tests to look at and meddle with the keys. It is
// written apart from internal/etcdstore's client, so that a test checks
// etcdstore's requests against another reading of etcd's API.
type Client struct {
	c  *Cluster
	hc *http.Client
}

func (c *Cluster) newClient() *Client {
	tr := &http.Transport{Proxy: nil}
	if c.tls != nil {
		tr.TLSClientConfig = c.tls.Client
	}
	return &Client{c: c, hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// Call POSTs req as JSON to path (such as "/v3/kv/put") and decodes the
// answer into resp. It asks each running member in turn until one
// answers 200 OK. Bytes go as []byte (base64), int64 as strings.
func (cl *Client) Call(path string, req, resp any) error {
	var errs []error
	for _, m := range cl.c.Members {
		if m.Stopped() {
			continue
		}
		err := cl.call(context.Background(), m, path, req, resp)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("etcdtest: every member is stopped")
	}
	return errors.Join(errs...)
}

func (cl *Client) call(ctx context.Context, m *Member, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	scheme := "http://"
	if cl.c.tls != nil {
		scheme = "https://"
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+m.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hresp, err := cl.hc.Do(hreq)
	if err != nil {
		return err
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(hresp.Body)
	if err != nil {
		return err
	}
	if hresp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s %s: %s: %s", m.Name, path, hresp.Status, data)
	}
	return json.Unmarshal(data, resp)
}

// KV is a key as etcd holds it.
type KV struct {
	Key            string
	Value          string
	CreateRevision int64
	ModRevision    int64
	Lease          int64
}

type wireKV struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision int64  `json:"create_revision,string"`
	ModRevision    int64  `json:"mod_revision,string"`
	Lease          int64  `json:"lease,string"`
}

// Get returns the key, or nil when it is missing.
func (cl *Client) Get(key string) (*KV, error) {
	kvs, err := cl.rangeOf(map[string]any{"key": []byte(key)})
	if err != nil || len(kvs) == 0 {
		return nil, err
	}
	return &kvs[0], nil
}

// GetPrefix returns the keys that start with prefix, in key order.
func (cl *Client) GetPrefix(prefix string) ([]KV, error) {
	end := []byte(prefix)
	end[len(end)-1]++ // the prefixes of the tests end in "/"
	return cl.rangeOf(map[string]any{"key": []byte(prefix), "range_end": end})
}

func (cl *Client) rangeOf(req map[string]any) ([]KV, error) {
	var resp struct {
		KVs []wireKV `json:"kvs"`
	}
	if err := cl.Call("/v3/kv/range", req, &resp); err != nil {
		return nil, err
	}
	var out []KV
	for _, kv := range resp.KVs {
		out = append(out, KV{Key: string(kv.Key), Value: string(kv.Value), CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Lease: kv.Lease})
	}
	return out, nil
}

// Put writes key.
func (cl *Client) Put(key, value string) error {
	var resp struct{}
	return cl.Call("/v3/kv/put", map[string]any{"key": []byte(key), "value": []byte(value)}, &resp)
}

// Leases lists the leases etcd holds.
func (cl *Client) Leases() ([]int64, error) {
	var resp struct {
		Leases []struct {
			ID int64 `json:"ID,string"`
		} `json:"leases"`
	}
	if err := cl.Call("/v3/lease/leases", struct{}{}, &resp); err != nil {
		return nil, err
	}
	var ids []int64
	for _, l := range resp.Leases {
		ids = append(ids, l.ID)
	}
	return ids, nil
}

// Revoke ends a lease, and deletes its keys. A lease that has ended
// already is no error.
func (cl *Client) Revoke(id int64) error {
	var resp struct{}
	err := cl.Call("/v3/lease/revoke", map[string]string{"ID": fmt.Sprint(id)}, &resp)
	if err != nil && strings.Contains(err.Error(), "lease not found") {
		return nil
	}
	return err
}

// leader returns the running member that says it leads, or nil.
func (cl *Client) leader() *Member {
	for _, m := range cl.c.Members {
		if m.Stopped() {
			continue
		}
		var st struct {
			Header struct {
				MemberID uint64 `json:"member_id,string"`
			} `json:"header"`
			Leader uint64 `json:"leader,string"`
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cl.call(ctx, m, "/v3/maintenance/status", struct{}{}, &st)
		cancel()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberID {
			return m
		}
	}
	return nil
}
