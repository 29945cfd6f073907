package etcdstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// The kill test runs store.Rotate in helper processes (this test binary,
// re-executed) against a real etcd and the fake X, SIGKILLs each at a
// random moment of its refresh, and after every kill checks what issue 16
// promises of a killed lock holder:
//
//   - the store in etcd always decodes (a Put is atomic: never torn);
//   - X's answer, once journalled, is never lost: the next holder, on
//     another machine, recovers the chain from the etcd journal;
//   - no spent refresh token is ever sent (X refuses none);
//   - the chain is lost only when the kill lands between X rotating the
//     token and the journal's Put reaching etcd. Those kills are counted
//     and reported, not failed: no store can close that window.
const (
	// killsEnv sets the number of kills (default kills, or killsShort
	// with -short); killSeedEnv replays the delays of an earlier run.
	killsEnv    = "TWAUTH_ETCD_KILLS"
	killSeedEnv = "TWAUTH_ETCD_KILL_SEED"
	kills       = 100
	killsShort  = 20
	// killBudget bounds the loop on a slow machine: when it is spent the
	// test judges the kills made so far, and fails if they are too few.
	killBudget    = 40 * time.Second
	killMinJudged = 20
	// killCalibrations unkilled runs measure the typical run, from
	// "ready" to "done"; kills land uniformly over killSpan times it.
	killCalibrations = 5
	killSpan         = 1.25
)

// Where a kill landed, as the parent tells it after the fact.
const (
	phaseExited     = "exited before the kill"
	phaseBeforeX    = "before X rotated the token"
	phaseSaved      = "X rotated, store saved"
	phaseJournalled = "X rotated, answer journalled, store not saved (recovered)"
	phaseLost       = "X rotated, answer not yet journalled (chain lost)"
)

func TestKillHolder(t *testing.T) {
	n := kills
	if testing.Short() {
		n = killsShort
	}
	if s := os.Getenv(killsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("%s=%q: want a positive number", killsEnv, s)
		}
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(killSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", killSeedEnv, s)
		}
		seed = v
	}
	t.Logf("seed %d (%s=%d replays the kill delays)", seed, killSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	r := newRig(t, 1)
	conns := r.trackedX(t)
	r.seed(-time.Minute)
	// The parent's own runs close their connections, so that "no open
	// connection" means the fake X has read all a killed child sent.
	parentHTTP := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	parent := r.store(r.backend("kill-test parent", Options{}))

	var runs []time.Duration
	for range killCalibrations {
		k := r.startChild(t)
		k.wait(t)
		if !k.exitedOK() {
			t.Fatalf("an unkilled run failed: %v\n%s", k.waitErr, k.stderr.String())
		}
		runs = append(runs, k.ran)
	}
	slices.Sort(runs)
	span := time.Duration(float64(runs[len(runs)/2]) * killSpan)
	t.Logf("typical Rotate in a helper: %s; kills land over [0, %s)", runs[len(runs)/2].Round(time.Microsecond), span.Round(time.Microsecond))

	phases := map[string]int{}
	deadline := time.Now().Add(killBudget)
	judged := 0
	for ; judged < n && time.Now().Before(deadline); judged++ {
		okBefore, _ := r.refreshAnswers()
		k := r.startChild(t)
		time.Sleep(time.Duration(rng.Int64N(int64(span) + 1)))
		_ = k.cmd.Process.Kill()
		k.wait(t)
		if k.waitErr != nil && !k.killed() {
			t.Fatalf("kill %d: the helper failed on its own: %v\n%s", judged, k.waitErr, k.stderr.String())
		}
		conns.waitIdle(t)
		r.revokeLeases(t)

		_, e := r.stored() // fails on a torn store
		okAfter, refused := r.refreshAnswers()
		if refused != 0 {
			t.Fatalf("kill %d: X refused %d refreshes: a spent refresh token was sent", judged, refused)
		}
		rotated := okAfter > okBefore
		live := ""
		if e != nil && r.x.IsValidRefreshToken(e.RefreshToken) {
			live = "store"
		}
		for _, v := range r.journals() {
			if rt := store.RefreshTokenOf([]byte(v)); rt != "" && r.x.IsValidRefreshToken(rt) && (e == nil || rt != e.RefreshToken) {
				live = "journal"
			}
		}
		var phase string
		switch {
		case !k.killed():
			phase = phaseExited
		case !rotated:
			phase = phaseBeforeX
		case live == "store":
			phase = phaseSaved
		case live == "journal":
			phase = phaseJournalled
		default:
			phase = phaseLost
		}
		phases[phase]++
		switch {
		case !rotated && live != "store":
			t.Fatalf("kill %d: X did not rotate, yet the store's refresh token is dead (live in %q)", judged, live)
		case k.journalled && live == "":
			t.Fatalf("kill %d: the helper had journalled X's answer, yet no live refresh token is left", judged)
		case live == "":
			// Log in again, as the user would.
			r.reseed(t)
			continue
		}
		res, err := parent.Rotate(context.Background(), rotation(r.x.TokenURL(), parentHTTP, nil, false))
		if err != nil {
			t.Fatalf("kill %d (%s): the next Rotate failed: %v", judged, phase, err)
		}
		if (live == "journal") != (res.RecoveredFrom != "") {
			t.Fatalf("kill %d (%s): the next Rotate recovered from %q", judged, phase, res.RecoveredFrom)
		}
		if _, e := r.stored(); e == nil || e.RefreshToken != res.Entry.RefreshToken || !r.x.IsValidRefreshToken(e.RefreshToken) {
			t.Fatalf("kill %d: after the next Rotate the store holds %+v", judged, e)
		}
	}
	var report strings.Builder
	for _, p := range []string{phaseExited, phaseBeforeX, phaseSaved, phaseJournalled, phaseLost} {
		fmt.Fprintf(&report, "\n  %-60s %4d", p, phases[p])
	}
	afterX := phases[phaseSaved] + phases[phaseJournalled] + phases[phaseLost]
	lossShare := 0.0
	if afterX > 0 {
		lossShare = float64(phases[phaseLost]) / float64(afterX)
	}
	t.Logf("%d kills:%s\n  chain lost in %d of %d kills after X rotated (%.1f%%), 0 after the answer was journalled",
		judged, report.String(), phases[phaseLost], afterX, 100*lossShare)
	if judged < min(n, killMinJudged) {
		t.Fatalf("only %d kills in %s, want at least %d", judged, killBudget, min(n, killMinJudged))
	}
	if judged < n {
		t.Logf("the budget of %s was spent after %d of %d kills", killBudget, judged, n)
	}
}

// connTracker counts the fake X's open connections.
type connTracker struct {
	mu   sync.Mutex
	open int
}

func (c *connTracker) state(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open++
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

// waitIdle waits until the fake X has no open connection: it has read,
// and acted on, whatever a killed helper had sent.
func (c *connTracker) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		open := c.open
		c.mu.Unlock()
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake X still has %d open connections", open)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// trackedX replaces the rig's fake X with one whose connections are
// counted.
func (r *rig) trackedX(t *testing.T) *connTracker {
	c := &connTracker{}
	f := xtest.New(xtest.Options{Clients: []xtest.Client{{ID: testClient, RedirectURIs: []string{"http://127.0.0.1/callback"}}}})
	ts := httptest.NewUnstartedServer(f)
	ts.Config.ConnState = c.state
	ts.Start()
	t.Cleanup(func() { ts.Close(); f.Close() })
	r.x = &xtest.Server{Fake: f, HTTP: ts}
	return c
}

// revokeLeases ends every lease, as their TTL would: a killed holder's
// lock is released at once rather than 15 s later.
func (r *rig) revokeLeases(t *testing.T) {
	t.Helper()
	ids, err := r.raw.Leases()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := r.raw.Revoke(id); err != nil {
			t.Fatal(err)
		}
	}
}

// reseed logs in again after a lost chain, and sweeps the journals.
func (r *rig) reseed(t *testing.T) {
	t.Helper()
	access, refresh := r.x.IssueTokens(testClient, testScope)
	st := r.store(r.backend("reseed", Options{}))
	err := st.Update(context.Background(), func(f *store.File) error {
		f.Clients[testClient] = &store.Entry{ClientID: testClient, AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: time.Now().Add(-time.Minute).UTC().Truncate(time.Second)}
		st.ClearJournals(context.Background(), testClient)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// child is a helper process running one Rotate.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	ready  time.Time
	// ran is the time from "ready" to "done".
	ran     time.Duration
	waitErr error
	// journalled: the helper had written X's answer to the journal (it
	// said so on stdout before it died).
	journalled bool
	lines      chan string
}

// startChild starts a helper and returns once it is about to take the
// lock.
func (r *rig) startChild(t *testing.T) *child {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	k := &child{lines: make(chan string, 8)}
	k.cmd = exec.Command(os.Args[0], "-test.run=^$")
	// Under the race detector a process sleeps a second before it exits,
	// to catch late races; the helper has no goroutine left by then.
	k.cmd.Env = append(os.Environ(), childEnv+"=rotate", childURLEnv+"="+r.url, childTokenEnv+"="+r.x.TokenURL(),
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	k.cmd.Stdout, k.cmd.Stderr = pw, &k.stderr
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		defer close(k.lines)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			k.lines <- sc.Text()
		}
	}()
	if line, ok := <-k.lines; !ok || line != "ready" {
		_ = k.cmd.Process.Kill()
		_ = k.cmd.Wait()
		t.Fatalf("helper: got %q, want ready\n%s", line, k.stderr.String())
	}
	k.ready = time.Now()
	return k
}

// wait reaps the helper and reads what it said.
func (k *child) wait(t *testing.T) {
	t.Helper()
	for line := range k.lines {
		switch line {
		case "journalled":
			k.journalled = true
		case "done":
			k.ran = time.Since(k.ready)
		}
	}
	k.waitErr = k.cmd.Wait()
}

func (k *child) exitedOK() bool { return k.waitErr == nil }

func (k *child) killed() bool {
	var ee *exec.ExitError
	return errors.As(k.waitErr, &ee) && !ee.Exited()
}
