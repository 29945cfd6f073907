package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// The crash test kills `twauth refresh` with SIGKILL at random moments of
// its run and checks what docs/design.md promises of a crash:
//
//   - the store and Config.toml are replaced atomically, so each still
//     parses whatever the moment of the kill;
//   - the store is saved (fsynced, renamed) before Config.toml is touched,
//     so Config.toml never holds a token newer than the store;
//   - the refresh chain is lost only when the kill lands between the
//     refresh request leaving twauth (X rotates on receipt, whether or not
//     the answer is read) and X's answer reaching disk (the journal, then
//     the store): X has spent the old refresh token, and the new one dies
//     with the process. That window has two parts: (i) X's answer is still
//     in flight, which no client can help, and (ii) the answer is on
//     twauth's socket but not yet in the journal, which is twauth's. The
//     fake X runs behind an answerClock, which notes when each answer was
//     sent on the test process's monotonic clock, the clock the kills are
//     timed with.
const (
	// crashKillsEnv sets the number of kills (default crashKills, or
	// crashKillsShort with -short).
	crashKillsEnv   = "TWAUTH_CRASH_KILLS"
	crashKills      = 300
	crashKillsShort = 30
	// crashSeedEnv replays the kill delays of an earlier run (its seed is
	// logged).
	crashSeedEnv = "TWAUTH_CRASH_SEED"
	// crashBudget bounds the kill loop: when it is spent the loop stops
	// early and judges the kills made so far, so that a loaded machine
	// makes the test shorter, not slower.
	crashBudget = 35 * time.Second
	// crashCalibrations is how many refreshes run unkilled first to learn
	// the typical run time; crashWindow is how many of the latest unkilled
	// runs the typical run time is the median of.
	crashCalibrations = 7
	crashWindow       = 15
	// crashSpan stretches the kill delays past the typical run time, so
	// that kills also land on slow runs' ends and after the exit.
	crashSpan = 1.25
	// crashMinJudged is the fewest kills the loss share is judged on.
	crashMinJudged = 20
	// crashRunTimeout bounds one twauth process.
	crashRunTimeout = 30 * time.Second

	crashClientID = "crash-e2e-client"
)

// Where a kill landed, told from the server's record and the two files.
const (
	phaseExited       = "exited before the kill"
	phaseBeforeSend   = "before X saw the refresh"
	phaseInFlight     = "X rotated, its answer not yet sent"
	phaseCrossed      = "the kill crossed X's answer"
	phaseAnswered     = "X's answer sent, store not yet saved"
	phaseLate         = "X got the refresh after the kill"
	phaseConfigStale  = "store saved, Config.toml not yet"
	phaseBothSaved    = "store and Config.toml saved"
	phaseConfigAhead  = "Config.toml saved, store not (ordering bug)"
	phaseStoreChanged = "store changed, but not to X's answer"
)

// crashRig is a fake X, a Config.toml, a store and a built twauth.
type crashRig struct {
	t        *testing.T
	bin      string
	srv      *xtest.Server
	clock    *answerClock
	cfg      string
	store    string
	redirect string
	logins   int
}

// TestRefreshCrash kills `twauth refresh` (a real process, built from
// cmd/twauth) with SIGKILL at random moments spread over its typical run
// time, and after each kill checks that the store and Config.toml still
// parse, that Config.toml is never ahead of the store, and whether the
// refresh chain survived (an unkilled `twauth refresh` exits 0) or was lost
// (exit 4, login needed). A lost chain is logged in again. It reports the
// kills, the losses while X's answer was in flight (i) and after it was
// sent (ii), the chains recovered from what a kill left, and the mean
// length of window (ii) those kills imply (TestRefreshCrashAfterAnswer
// measures its median directly). The shares are load-sensitive and only
// reported; what is judged kill by kill is not: the files parse, a
// journal is never torn, Config.toml is never ahead of the store, a kill
// before X began to answer always loses the chain and a kill after X's
// answer was on disk never does.
func TestRefreshCrash(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "plan9", "js", "wasip1":
		t.Skipf("SIGKILL and its wait status are Unix only; %s has no equivalent to test", runtime.GOOS)
	}
	kills := crashKills
	if testing.Short() {
		kills = crashKillsShort
	}
	if s := os.Getenv(crashKillsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive number", crashKillsEnv, s)
		}
		kills = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", crashSeedEnv, s)
		}
		seed = n
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	r := newCrashRig(t)
	r.login()

	// The typical run is the median of the last unkilled refreshes: the
	// calibration runs first, then the check run after each kill, so that
	// the kill delays follow the machine's load. tailShares is, for each
	// unkilled run, the share of it that came after X received the
	// refresh request: every loss must lie there, since a kill before
	// leaves the old refresh token unspent.
	var runs []time.Duration
	var tailShares []float64
	checked := func(start time.Time, elapsed time.Duration, calibration bool) {
		t.Helper()
		// The first refresh request since start is this run's: a request of
		// the killed run that X reads late, after this one, comes second
		// (one that came first would have made this run exit 4).
		reqs := r.refreshRequestsSince(start)
		if len(reqs) == 0 || calibration && len(reqs) != 1 {
			t.Fatalf("an unkilled twauth refresh made %d refresh requests, want 1", len(reqs))
		}
		runs = append(runs, elapsed)
		tailShares = append(tailShares, float64(start.Add(elapsed).Sub(reqs[0].Time))/float64(elapsed))
	}
	typical := func() time.Duration { return median(runs[max(0, len(runs)-crashWindow):]) }
	// The first run of a new binary pays for loading it: not typical.
	if code, stderr, _ := r.refresh(nil); code != 0 {
		t.Fatalf("unkilled twauth refresh: exit %d\n%s", code, stderr)
	}
	for range crashCalibrations {
		start := time.Now()
		code, stderr, elapsed := r.refresh(nil)
		if code != 0 {
			t.Fatalf("unkilled twauth refresh: exit %d\n%s", code, stderr)
		}
		checked(start, elapsed, true)
		r.checkFiles("after an unkilled refresh")
		r.checkInSync()
	}
	t.Logf("typical run of twauth refresh before the kills: %v (median of %v)",
		typical().Round(10*time.Microsecond), roundAll(runs))

	// Kill delays, as shares of the typical run: stratified over
	// [0, crashSpan) so that every part of the run gets its share, with
	// one kill at 0, in random order so that a change of machine load
	// meets every part of the run alike.
	fracs := make([]float64, kills)
	for i := range fracs {
		fracs[i] = (float64(i) + rng.Float64()) / float64(kills) * crashSpan
	}
	fracs[0] = 0
	rng.Shuffle(len(fracs), func(i, j int) { fracs[i], fracs[j] = fracs[j], fracs[i] })

	phases := map[string]int{}
	lostIn := map[string]int{}
	var killed, lost, tried, recovered, fromJournal int
	var lostAt []string
	// The kills that landed after X's answer was sent and before the store
	// was saved: how long after the answer each came, and whether it lost
	// the chain (the answer was not yet on disk) or not (it was, in a
	// journal or a temp store file). perKill adds up 1/(the span the
	// kill's delay was drawn from): the density of kills in time.
	type afterAnswer struct {
		delta time.Duration
		lost  bool
	}
	var after []afterAnswer
	var perKill float64
	loopStart := time.Now()
	for _, frac := range fracs {
		if time.Since(loopStart) > crashBudget {
			t.Logf("stopping after %d of %d kills: the %v budget is spent", tried, kills, crashBudget)
			break
		}
		tried++
		d := time.Duration(frac * float64(typical()))
		perKill += 1 / (crashSpan * float64(typical()))
		rt0, begin := r.load().RefreshToken, time.Now()
		out := r.killedRefresh(d)
		if out.killed {
			killed++
		}
		r.strays() // what the kill left must be private (0600)

		// Does the chain survive? An unkilled refresh tells.
		start := time.Now()
		code, stderr, elapsed := r.refresh(nil)
		switch code {
		case 0:
			checked(start, elapsed, false)
			r.checkInSync()
			if out.phase == phaseInFlight {
				// Not load-sensitive: the kill call had returned before X
				// began to write its answer, so no code of twauth ran with
				// the answer in hand.
				t.Errorf("a kill %v before X began to write its answer did not lose the chain: the answer clock is wrong", out.answer.writing.Sub(out.done))
			}
			if strings.Contains(stderr, "its successor was recovered from") {
				recovered++
				if strings.Contains(stderr, ".journal-") {
					fromJournal++
				}
			}
		case 4:
			if out.phase == phaseBeforeSend && r.countRefreshes(begin, rt0) >= 2 {
				// The killed process had sent its request, but X read it
				// only after the kill, and after the record was looked at:
				// the check run's request with the same token came second.
				out.phase = phaseLate
			}
			lost++
			lostIn[out.phase]++
			lostAt = append(lostAt, fmt.Sprintf("%.2f", frac))
			switch {
			case !out.killed:
				t.Errorf("the chain was lost by a twauth refresh that was not killed (it exited before the kill at %v)", d)
			case len(out.left) > 0:
				// Not load-sensitive: X's new refresh token was on disk
				// when the kill came, so the next refresh had it.
				t.Errorf("a kill at %v left X's new refresh token in %s, and the next refresh lost the chain anyway", d, strings.Join(out.left, " "))
			case out.phase != phaseInFlight && out.phase != phaseCrossed && out.phase != phaseAnswered && out.phase != phaseLate:
				// Only the window between the request and the store's
				// rename can lose the chain.
				t.Errorf("lost the chain on a kill at %v classed %q", d, out.phase)
			}
			r.login()
		default:
			t.Fatalf("unkilled twauth refresh after a kill at %v: exit %d, want 0 or 4\n%s", d, code, stderr)
		}
		if out.phase == phaseAnswered {
			after = append(after, afterAnswer{out.at.Sub(out.answer.sent), code == 4})
		}
		phases[out.phase]++
		r.checkFiles("after the check run")
	}
	slices.Sort(lostAt)
	strays := r.strays() // after the last check run

	share := 0.0
	if killed > 0 {
		share = float64(lost) / float64(killed)
	}
	lostInFlight, lostAnswered := lostIn[phaseInFlight]+lostIn[phaseLate], lostIn[phaseAnswered]
	// The most a kill can lose: a kill loses the chain only inside the
	// loss window, which lies within the tail of the run after X got the
	// request. The kills are spread evenly over crashSpan typical runs, so
	// the share cannot exceed the mean tail share / crashSpan by more than
	// chance.
	tailShare := 0.0
	for _, s := range tailShares {
		tailShare += s
	}
	tailShare /= float64(len(tailShares))
	bound := tailShare / crashSpan
	t.Logf("seed %d (replay with %s=%d %s=%d)", seed, crashSeedEnv, seed, crashKillsEnv, kills)
	t.Logf("typical run of twauth refresh: %v (median of the last %d unkilled runs; all %d: %v to %v); after X got the request: %.0f%% of a run",
		typical().Round(10*time.Microsecond), min(len(runs), crashWindow), len(runs),
		slices.Min(runs).Round(10*time.Microsecond), slices.Max(runs).Round(10*time.Microsecond), 100*tailShare)
	t.Logf("kill delays spread over [0, %.2f) of the typical run; %d runs, %d killed while running, %d exited first",
		crashSpan, tried, killed, phases[phaseExited])
	t.Logf("chain lost: %d of %d kills = %.1f%% (tail bound %.1f%%); logins %d; lost at shares of the run %v",
		lost, killed, 100*share, 100*bound, r.logins, lostAt)
	for _, p := range []string{phaseBeforeSend, phaseLate, phaseInFlight, phaseCrossed, phaseAnswered, phaseConfigStale, phaseBothSaved, phaseExited, phaseConfigAhead, phaseStoreChanged} {
		if phases[p] > 0 || lostIn[p] > 0 {
			t.Logf("  %-46s %4d kills, %3d lost", p+":", phases[p], lostIn[p])
		}
	}
	// Window (ii) runs from X's answer on the socket to the answer on disk.
	// A kill drawn at random lands in it with probability (its length) ×
	// (the density of kills): the mean length is the losses (ii) over that
	// density. The kills after the answer tell how long after it the last
	// loss and the first survivor came.
	var lostAfter, keptAfter []time.Duration
	for _, a := range after {
		if a.lost {
			lostAfter = append(lostAfter, a.delta)
		} else {
			keptAfter = append(keptAfter, a.delta)
		}
	}
	slices.Sort(lostAfter)
	slices.Sort(keptAfter)
	window := "no loss after the answer"
	if lostAnswered > 0 {
		window = fmt.Sprintf("mean ≈ %v", time.Duration(float64(lostAnswered)/perKill).Round(time.Microsecond))
	}
	t.Logf("after-answer loss window (random kills): kills %d, losses (i) answer in flight %d, losses (ii) answer sent %d, kill and answer crossed %d, recovered %d; window (ii) %s",
		killed, lostInFlight, lostAnswered, lostIn[phaseCrossed], recovered, window)
	t.Logf("  %d kills landed between X's answer sent and the store saved: lost at %v after the answer; answer on disk at %v",
		len(after), roundAll(lostAfter), roundAll(keptAfter[:min(len(keptAfter), 5)]))
	// Every iteration ends with a successful write under the lock (the
	// check refresh, or a new login), which sweeps the temp files kills
	// left: none may remain, since they can hold tokens.
	if len(strays) > 0 {
		t.Errorf("stray temp files left by kills and never removed: %d: %s", len(strays), strings.Join(strays, " "))
	} else {
		t.Logf("stray temp files: none")
	}
	t.Logf("chains saved by the next refresh from what a kill left: %d (from a journal of X's answer: %d, from a temp store file: %d)",
		recovered, fromJournal, recovered-fromJournal)

	if phases[phaseConfigAhead] > 0 {
		t.Errorf("%d kills left Config.toml with a newer token than the store: Config.toml was written before the store was saved", phases[phaseConfigAhead])
	}
	if phases[phaseStoreChanged] > 0 {
		t.Errorf("%d kills left a store whose refresh token is neither the old one nor X's new one", phases[phaseStoreChanged])
	}
	// The share itself is a measurement, reported, not judged: it depends
	// on the machine's load (under -race, with the fake X slowed down, one
	// full run in two landed above a bound computed from the unkilled
	// runs). What a correct twauth guarantees is judged kill by kill above:
	// a chain is lost only by a kill after X had the request and before the
	// store was replaced, and never once X's answer is on disk; Config.toml
	// is never ahead of the store; the files always parse; a journal is
	// never torn.
	if killed >= crashMinJudged {
		limit := min(1, 1.25*bound)
		n := float64(killed)
		if allowed := n*limit + 3*math.Sqrt(n*limit*(1-limit)); float64(lost) > allowed {
			t.Logf("note: the share lost (%.1f%%) is above %.1f%% (+3σ: %.0f kills), the tail of the unkilled runs after X got the request: the killed runs were slower than the unkilled ones",
				100*share, 100*limit, allowed)
		}
	}
}

// The staircase of TestRefreshCrashAfterAnswer.
const (
	afterKills      = 60
	afterKillsShort = 20
	afterBudget     = 15 * time.Second
	// afterFirst is the first kill's delay after X's answer; afterStep
	// the factor it grows by after a loss and shrinks by after a kept
	// chain; afterSettle the reversals discarded before the estimate.
	afterFirst  = 100 * time.Microsecond
	afterStep   = 1.4
	afterSettle = 2
	afterMin    = time.Microsecond
	afterMax    = 50 * time.Millisecond
)

// TestRefreshCrashAfterAnswer measures window (ii) of the refresh, from X's
// answer on the socket to the answer on disk, where a kill loses the chain
// although X's answer had arrived. The fake X itself kills `twauth refresh`
// a set delay after it has sent its answer, and the delay follows an
// up-and-down staircase: a lost chain makes the next kill later, a kept
// one sooner. The staircase settles where half the kills lose the chain:
// the median length of the window. The figure depends on the machine's
// load and is reported, not judged; what is judged kill by kill holds
// under any load: a kill after X's answer is in a journal or a temp store
// file never loses the chain, a lost chain was lost in window (ii) only,
// Config.toml is never ahead of the store, and every file parses.
func TestRefreshCrashAfterAnswer(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "plan9", "js", "wasip1":
		t.Skipf("SIGKILL and its wait status are Unix only; %s has no equivalent to test", runtime.GOOS)
	}
	kills := afterKills
	if testing.Short() {
		kills = afterKillsShort
	}
	r := newCrashRig(t)
	r.login()
	// The first run of a new binary pays for loading it.
	if code, stderr, _ := r.refresh(nil); code != 0 {
		t.Fatalf("unkilled twauth refresh: exit %d\n%s", code, stderr)
	}

	type trial struct {
		delta time.Duration // from X's answer sent to the kill
		lost  bool
	}
	var trials []trial
	var bands []time.Duration // sent - writing: how long the answer's write took
	settledAt := 0
	prevLost := false
	reversals, exited := 0, 0
	delay := afterFirst
	start := time.Now()
	for i := range kills {
		if time.Since(start) > afterBudget {
			t.Logf("stopping after %d of %d kills: the %v budget is spent", i, kills, afterBudget)
			break
		}
		out := r.killAfterAnswer(delay)
		code, stderr, _ := r.refresh(nil)
		lost := false
		switch code {
		case 0:
			r.checkInSync()
		case 4:
			lost = true
			switch {
			case !out.killed:
				t.Errorf("the chain was lost by a twauth refresh that exited before the kill %v after X's answer", delay)
			case len(out.left) > 0:
				t.Errorf("a kill %v after X's answer left its new refresh token in %s, and the next refresh lost the chain anyway",
					out.at.Sub(out.answer.sent), strings.Join(out.left, " "))
			case out.phase != phaseAnswered:
				t.Errorf("lost the chain on a kill %v after X's answer classed %q", out.at.Sub(out.answer.sent), out.phase)
			}
			r.login()
		default:
			t.Fatalf("unkilled twauth refresh after a kill %v after X's answer: exit %d, want 0 or 4\n%s", delay, code, stderr)
		}
		r.checkFiles("after the check run")
		if !out.killed {
			exited++
		} else {
			trials = append(trials, trial{out.at.Sub(out.answer.sent), lost})
			bands = append(bands, out.answer.sent.Sub(out.answer.writing))
		}
		if i > 0 && lost != prevLost {
			reversals++
			if reversals == afterSettle {
				settledAt = len(trials)
			}
		}
		prevLost = lost
		if lost {
			delay = min(afterMax, time.Duration(float64(delay)*afterStep))
		} else {
			delay = max(afterMin, time.Duration(float64(delay)/afterStep))
		}
	}
	settled := trials[min(settledAt, len(trials)):]
	var deltas, lostAt, keptAt []time.Duration
	lostN := 0
	for _, tr := range settled {
		deltas = append(deltas, tr.delta)
	}
	for _, tr := range trials {
		if tr.lost {
			lostN++
			lostAt = append(lostAt, tr.delta)
		} else {
			keptAt = append(keptAt, tr.delta)
		}
	}
	slices.Sort(lostAt)
	slices.Sort(keptAt)
	if len(deltas) == 0 {
		t.Fatalf("no kill landed while twauth ran (%d exited first)", exited)
	}
	t.Logf("after-answer loss window (kills a set delay after X's answer was sent): median window (ii) ≈ %v (staircase, %d kills after %d reversals); kills %d, lost %d, exited before the kill %d; logins %d",
		median(deltas).Round(time.Microsecond), len(deltas), afterSettle, len(trials), lostN, exited, r.logins)
	t.Logf("  lost at up to %v after the answer; answer on disk from %v after it; X's write of its answer took %v (median)",
		maxOf(lostAt).Round(time.Microsecond), minOf(keptAt).Round(time.Microsecond), median(bands).Round(time.Microsecond))
}

// killAfterAnswer runs `twauth refresh` and has the fake X kill it delay
// after its answer was sent, then checks both files and tells where the
// kill landed.
func (r *crashRig) killAfterAnswer(delay time.Duration) killOutcome {
	t := r.t
	t.Helper()
	before := r.load()
	oldCfg := r.configToken()
	plan := newKillPlan(delay)
	r.clock.arm(plan)
	code, stderr, _ := r.refresh(func(cmd *exec.Cmd) { plan.proc <- cmd.Process })
	r.clock.arm(nil)
	if code != -1 && code != 0 {
		t.Fatalf("twauth refresh, to be killed %v after X's answer, exited %d\n%s", delay, code, stderr)
	}
	select {
	case <-plan.done:
	case <-time.After(crashRunTimeout):
		t.Fatalf("twauth refresh exited %d, and X got no refresh request to kill it after", code)
	}
	r.checkFiles(fmt.Sprintf("after a kill %v after X's answer", delay))
	out := killOutcome{at: plan.at, done: plan.sent, answer: &plan.answer}
	if code != -1 {
		out.phase = phaseExited
		return out
	}
	out.killed = true
	out.left = r.holding(plan.answer.issued)
	out.phase = r.phaseAfter(before, oldCfg, out)
	return out
}

// newCrashRig builds twauth, starts the fake X and writes Config.toml.
func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build twauth with: %v", err)
	}
	dir := t.TempDir()
	r := &crashRig{
		t:        t,
		bin:      filepath.Join(dir, "bin", "twauth"),
		cfg:      filepath.Join(dir, "app", "Config.toml"),
		store:    filepath.Join(dir, "state", "tokens.json"),
		redirect: fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t)),
	}
	build := exec.Command(gobin, "build", "-o", r.bin, "github.com/twauth/twauth/cmd/twauth")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build twauth: %v\n%s", err, out)
	}
	r.srv, r.clock = startAnswerClock(t, xtest.Options{
		Clients: []xtest.Client{{ID: crashClientID, RedirectURIs: []string{r.redirect}}},
	})
	if err := os.MkdirAll(filepath.Dir(r.cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	config := "# Ballerina config of the X client\n" +
		"clientId = \"" + crashClientID + "\"\n" +
		"\n" +
		"[myorg.app]\n" +
		"level = \"DEBUG\" # keep me\n"
	if err := os.WriteFile(r.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// login runs `twauth login` in-process, with an HTTP "browser" that
// approves on the fake X.
func (r *crashRig) login() {
	t := r.t
	t.Helper()
	r.logins++
	b := &xtest.HTTPBrowser{}
	var stdout, stderr bytes.Buffer
	deps := cli.Deps{
		Stdin:  strings.NewReader(""),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(string) string { return "" },
		Open:   b.OpenContext,
		GOOS:   "linux",
	}
	ctx, cancel := context.WithTimeout(context.Background(), crashRunTimeout)
	defer cancel()
	code := cli.Run(ctx, deps, append([]string{"login", "--redirect-uri", r.redirect, "--timeout", "20s",
		"--browser", "http-browser"}, r.flags()...))
	if code != 0 {
		t.Fatalf("twauth login: exit %d\n%s", code, stderr.String())
	}
	r.checkFiles("after login")
	r.checkInSync()
}

func (r *crashRig) flags() []string {
	return []string{
		"--auth-url", r.srv.AuthURL(), "--token-url", r.srv.TokenURL(),
		"--revoke-url", r.srv.RevokeURL(), "--api-url", r.srv.APIURL(),
		"--store", r.store, "--config", r.cfg,
	}
}

// command is `twauth refresh` as a process, with an environment stripped
// of anything that could point twauth elsewhere.
func (r *crashRig) command(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, append([]string{"refresh"}, r.flags()...)...)
	env := []string{"HOME=" + filepath.Dir(r.cfg), "XDG_CONFIG_HOME=" + filepath.Dir(r.cfg)}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TWAUTH_"), k == "BAL_CONFIG_FILES", k == "HOME", k == "XDG_CONFIG_HOME",
			strings.EqualFold(k, "HTTP_PROXY"), strings.EqualFold(k, "HTTPS_PROXY"), strings.EqualFold(k, "ALL_PROXY"):
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	return cmd
}

// refresh runs `twauth refresh` to its end; started, when not nil, is
// called once the process runs. It returns the exit code (-1 when killed),
// stderr, and the time from the start to the exit.
func (r *crashRig) refresh(started func(*exec.Cmd)) (int, string, time.Duration) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), crashRunTimeout)
	defer cancel()
	cmd := r.command(ctx)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start twauth refresh: %v", err)
	}
	start := time.Now()
	if started != nil {
		started(cmd)
	}
	err := cmd.Wait()
	elapsed := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("twauth refresh: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("twauth refresh ran longer than %v\n%s", crashRunTimeout, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String(), elapsed
}

// killOutcome is where a kill landed and what it left.
type killOutcome struct {
	phase  string
	killed bool
	// The kill was sent between at and done (the kill call returned).
	at, done time.Time
	// answer is X's answer to the killed run's refresh request; nil when
	// X did not get the request before the kill.
	answer *answer
	// left lists the files beside the store that hold X's new refresh
	// token after the kill: the journal of its answer, a temp store file.
	left []string
}

// killedRefresh runs `twauth refresh`, kills it d after its start, checks
// both files and tells where the kill landed.
func (r *crashRig) killedRefresh(d time.Duration) killOutcome {
	t := r.t
	t.Helper()
	before := r.load()
	oldCfg := r.configToken()
	begin := time.Now()
	var out killOutcome
	code, stderr, _ := r.refresh(func(cmd *exec.Cmd) {
		waitUntil(time.Now().Add(d))
		out.at = time.Now()
		// The process may have exited already: it is a zombie until Wait,
		// so the signal cannot reach another process.
		_ = cmd.Process.Kill()
		out.done = time.Now()
	})
	if code != -1 && code != 0 {
		// It exited before the kill: it must have succeeded.
		t.Fatalf("twauth refresh, killed after %v, exited %d before the kill\n%s", d, code, stderr)
	}
	r.checkFiles(fmt.Sprintf("after a kill at %v", d))
	if code != -1 {
		out.phase = phaseExited
		return out
	}
	out.killed = true
	if r.countRefreshes(begin, before.RefreshToken) > 0 {
		a := r.waitAnswer(before.RefreshToken, begin)
		out.answer = &a
		if a.issued != "" {
			out.left = r.holding(a.issued)
		}
	}
	out.phase = r.phaseAfter(before, oldCfg, out)
	return out
}

// waitAnswer waits for X's answer to the request that spent rt since
// since: X got it, and its handler may still be writing.
func (r *crashRig) waitAnswer(rt string, since time.Time) answer {
	t := r.t
	t.Helper()
	deadline := time.Now().Add(crashRunTimeout)
	for {
		if a, ok := r.clock.answerTo(rt, since); ok {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("X got a refresh request but did not answer it in %v", crashRunTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// phaseAfter tells where the kill out landed from the files and X's
// record: before is the entry and oldCfg the Config.toml token from before
// the killed run.
func (r *crashRig) phaseAfter(before *store.Entry, oldCfg string, out killOutcome) string {
	after := r.load()
	newCfg := r.configToken()
	storeSaved := after.RefreshToken != before.RefreshToken
	cfgSaved := newCfg != oldCfg
	a := out.answer
	switch {
	case cfgSaved && (!storeSaved || newCfg != after.AccessToken):
		return phaseConfigAhead
	case storeSaved && a == nil:
		return phaseStoreChanged
	case storeSaved && cfgSaved:
		return phaseBothSaved
	case storeSaved:
		return phaseConfigStale
	case a == nil:
		return phaseBeforeSend
	case out.done.Before(a.writing):
		return phaseInFlight
	case !out.at.Before(a.sent):
		return phaseAnswered
	}
	return phaseCrossed
}

// holding lists the journals and temp store files beside the store that
// hold the refresh token rt.
func (r *crashRig) holding(rt string) []string {
	var out []string
	for _, p := range r.leftovers(".journal-") {
		if data, err := os.ReadFile(p); err == nil && answerToken(data) == rt {
			out = append(out, filepath.Base(p))
		}
	}
	for _, p := range r.leftovers(".tmp-") {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f, err := store.Decode(data); err == nil {
			if e := f.Entry(crashClientID); e != nil && e.RefreshToken == rt {
				out = append(out, filepath.Base(p))
			}
		}
	}
	return out
}

// leftovers lists the files beside the store named ".<store><infix>*".
func (r *crashRig) leftovers(infix string) []string {
	t := r.t
	t.Helper()
	dir, base := filepath.Split(r.store)
	matches, err := filepath.Glob(filepath.Join(dir, "."+base+infix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

// answerToken is the refresh token of a journal: X's answer, then at most
// the zero bytes of the reservation it was written over.
func answerToken(journal []byte) string {
	var a struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(bytes.TrimRight(journal, "\x00"), &a) != nil {
		return ""
	}
	return a.RefreshToken
}

// refreshRequestsSince returns the refresh requests X received since t.
func (r *crashRig) refreshRequestsSince(since time.Time) []xtest.Request {
	var out []xtest.Request
	for _, q := range r.srv.Requests() {
		if q.Path == xtest.TokenPath && q.Form.Get("grant_type") == "refresh_token" && !q.Time.Before(since) {
			out = append(out, q)
		}
	}
	return out
}

// countRefreshes counts the refresh requests X received since t with the
// refresh token rt.
func (r *crashRig) countRefreshes(since time.Time, rt string) int {
	n := 0
	for _, q := range r.refreshRequestsSince(since) {
		if q.Form.Get("refresh_token") == rt {
			n++
		}
	}
	return n
}

// load returns the store's entry; the store must parse.
func (r *crashRig) load() *store.Entry {
	t := r.t
	t.Helper()
	f, err := (&store.Store{Path: r.store}).Load()
	if err != nil {
		t.Fatalf("the store does not parse: %v", err)
	}
	e := f.Entry(crashClientID)
	if e == nil {
		t.Fatalf("the store lost the entry of %s: %v", crashClientID, f.ClientIDs())
	}
	return e
}

// configToken returns the token key of Config.toml, which must parse as
// TOML.
func (r *crashRig) configToken() string {
	t := r.t
	t.Helper()
	data, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatalf("read Config.toml: %v", err)
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		t.Fatalf("Config.toml does not parse as TOML: %v\n%s", err, data)
	}
	tok, _ := m["token"].(string)
	return tok
}

// checkFiles fails the test unless the store and Config.toml parse, the
// Config.toml has a token, and the rest of Config.toml is intact.
func (r *crashRig) checkFiles(when string) {
	t := r.t
	t.Helper()
	data, err := os.ReadFile(r.store)
	if err != nil {
		t.Fatalf("%s: read the store: %v", when, err)
	}
	if _, err := store.Decode(data); err != nil {
		t.Fatalf("%s: the store does not parse: %v\n%s", when, err, data)
	}
	if r.configToken() == "" {
		t.Fatalf("%s: Config.toml has no token", when)
	}
	// A journal is filled with one write over its reservation: a kill
	// leaves the bare reservation or X's whole answer, never a torn one.
	for _, p := range r.leftovers(".journal-") {
		data, err := os.ReadFile(p)
		if err == nil && len(bytes.TrimRight(data, "\x00")) > 0 && answerToken(data) == "" {
			t.Fatalf("%s: the journal %s (%d bytes) is neither the bare reservation nor a whole answer of X", when, filepath.Base(p), len(data))
		}
	}
	cfg, _ := os.ReadFile(r.cfg)
	for _, want := range []string{"# Ballerina config of the X client\n", "level = \"DEBUG\" # keep me\n"} {
		if !bytes.Contains(cfg, []byte(want)) {
			t.Fatalf("%s: Config.toml lost %q:\n%s", when, want, cfg)
		}
	}
}

// checkInSync checks the state after a twauth that finished: Config.toml
// holds the stored access token, and X takes the stored refresh token.
func (r *crashRig) checkInSync() {
	t := r.t
	t.Helper()
	e := r.load()
	if got := r.configToken(); got != e.AccessToken {
		t.Fatalf("Config.toml's token is not the stored access token")
	}
	if !r.srv.IsValidRefreshToken(e.RefreshToken) {
		t.Fatalf("X does not take the stored refresh token after a finished twauth")
	}
	if !r.srv.IsValidAccessToken(e.AccessToken) {
		t.Fatalf("X does not take the stored access token after a finished twauth")
	}
}

// strays lists the temporary files of atomic writes (atomicfile names them
// ".<name>.tmp-*") beside the store and Config.toml. A kill between their
// creation and the rename leaves one behind. They hold tokens, so each
// must be 0600.
func (r *crashRig) strays() []string {
	t := r.t
	t.Helper()
	var out []string
	for _, pattern := range []string{r.store + "|.tmp-*", r.store + "|.journal-*", r.cfg + "|.tmp-*"} {
		p, suffix, _ := strings.Cut(pattern, "|")
		matches, err := filepath.Glob(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+suffix))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				continue
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("stray temp file %s has mode %o: it may hold a token", m, fi.Mode().Perm())
			}
			out = append(out, filepath.Base(m))
		}
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func minOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Min(ds)
}

func maxOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Microsecond)
	}
	return out
}

// answerClock serves the fake X and notes, on the test process's monotonic
// clock, when each answer to a refresh was on the socket: the handler
// writes it whole (with its Content-Length) and flushes it, so that when
// the flush returns the kernel holds every byte for twauth to read. It
// also runs what the fake has no hooks for: onRefresh when a refresh
// request arrives, before X acts on it, and a kill a set time after the
// answer was sent.
type answerClock struct {
	fake *xtest.Fake

	mu        sync.Mutex
	answers   []answer
	onRefresh func()
	plan      *killPlan
}

// answer is one refresh request X answered.
type answer struct {
	// spent is the refresh token the request carried, issued the one X's
	// answer carries ("" when X refused).
	spent, issued string
	// received is when the handler got the request; the answer reached
	// the socket between writing (the handler began to write it) and sent
	// (the flush returned): microseconds apart, unless the test process
	// lost the CPU in between.
	received, writing, sent time.Time
}

// killPlan kills the process the next refresh request comes from, delay
// after X's answer to it was sent.
type killPlan struct {
	delay time.Duration
	proc  chan *os.Process
	done  chan struct{}
	// Set by the handler before done is closed: X's answer, and the kill
	// was sent between at and sent.
	answer   answer
	at, sent time.Time
}

func newKillPlan(delay time.Duration) *killPlan {
	return &killPlan{delay: delay, proc: make(chan *os.Process, 1), done: make(chan struct{})}
}

// startAnswerClock starts the fake X behind an answerClock on 127.0.0.1.
func startAnswerClock(t *testing.T, opts xtest.Options) (*xtest.Server, *answerClock) {
	t.Helper()
	c := &answerClock{fake: xtest.New(opts)}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	ts := httptest.NewUnstartedServer(c)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	srv := &xtest.Server{Fake: c.fake, HTTP: ts}
	t.Cleanup(srv.Close)
	return srv, c
}

func (c *answerClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != xtest.TokenPath {
		c.fake.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, xtest.MaxBodyBytes+1))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	if form.Get("grant_type") != "refresh_token" {
		c.fake.ServeHTTP(w, r)
		return
	}
	received := time.Now()
	c.mu.Lock()
	hook, plan := c.onRefresh, c.plan
	c.plan = nil
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	rec := httptest.NewRecorder()
	c.fake.ServeHTTP(rec, r)
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()))
	writing := time.Now()
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	_ = http.NewResponseController(w).Flush()
	sent := time.Now()
	var issued struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &issued)
	a := answer{spent: form.Get("refresh_token"), issued: issued.RefreshToken, received: received, writing: writing, sent: sent}
	c.mu.Lock()
	c.answers = append(c.answers, a)
	c.mu.Unlock()
	if plan != nil {
		proc := <-plan.proc
		// Sleep rather than spin: a spinning test process takes a CPU
		// from twauth and lengthens the very window it measures.
		waitUntil(sent.Add(plan.delay))
		plan.answer, plan.at = a, time.Now()
		_ = proc.Kill()
		plan.sent = time.Now()
		close(plan.done)
	}
}

// answerTo returns X's answer to the first refresh request received since
// since that spent rt; false when there is none (yet).
func (c *answerClock) answerTo(rt string, since time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.answers {
		if a.spent == rt && !a.received.Before(since) {
			return a, true
		}
	}
	return answer{}, false
}

// arm makes the next refresh request's process be killed as p says.
func (c *answerClock) arm(p *killPlan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plan = p
}

// setOnRefresh sets the hook run when a refresh request arrives.
func (c *answerClock) setOnRefresh(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onRefresh = f
}

// waitUntil returns at deadline (sleepUntil), or at once when it has
// passed.
func waitUntil(deadline time.Time) {
	for time.Now().Before(deadline) {
		sleepUntil(deadline)
	}
}
