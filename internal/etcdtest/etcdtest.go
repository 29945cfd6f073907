// Package etcdtest runs real etcd servers for tests: a single node or a
// cluster, on free loopback ports with a temporary data directory, each
// member stopped by its PID when the test ends. It runs the etcd binary on
// PATH (Debian's etcd-server package: apt-get install etcd-server); a test
// that needs it fails, rather than skips, when it is missing.
package etcdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
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

// waitReady waits until every member answers and a linearizable read
// through all of them succeeds.
func (c *Cluster) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// gRPC waits a second before it dials again a port that refused it:
	// dial each port until it listens first.
	for _, m := range c.Members {
		for {
			conn, err := net.DialTimeout("tcp", m.Endpoint, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-m.done:
				return fmt.Errorf("etcd member %s exited at start: %v", m.Name, m.waitErr)
			case <-ctx.Done():
				return fmt.Errorf("etcd member %s does not listen on %s after %s: %v", m.Name, m.Endpoint, startTimeout, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	cli, err := c.newClient(c.Endpoints(), time.Second)
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		for _, m := range c.Members {
			select {
			case <-m.done:
				return fmt.Errorf("etcd member %s exited at start: %v", m.Name, m.waitErr)
			default:
			}
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		_, err := cli.Get(rctx, "etcdtest-ready")
		rcancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("etcd cluster not ready after %s: %v", startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) newClient(endpoints []string, dial time.Duration) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: endpoints, Logger: zap.NewNop(), DialTimeout: dial}
	if c.tls != nil {
		cfg.TLS = c.tls.Client
	}
	return clientv3.New(cfg)
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

// Client is a client of the whole cluster, closed at the test's end.
func (c *Cluster) Client() *clientv3.Client {
	c.t.Helper()
	cli, err := c.newClient(c.Endpoints(), 5*time.Second)
	if err != nil {
		c.t.Fatalf("etcdtest: client: %v", err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

// Leader returns the member that leads the cluster, among the running
// ones, waiting up to startTimeout for an election.
func (c *Cluster) Leader() *Member {
	c.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if m := c.leader(); m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("etcdtest: no leader after %s\n%s", startTimeout, c.logs())
	return nil
}

func (c *Cluster) leader() *Member {
	for _, m := range c.Members {
		if m.Stopped() {
			continue
		}
		cli, err := c.newClient([]string{m.Endpoint}, time.Second)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.Endpoint)
		cancel()
		cli.Close()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			return m
		}
	}
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
