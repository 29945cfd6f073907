package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/atomicfile"
)

// holdLockUntilTokenAnswered holds path's lock until the token endpoint has
// answered, then cancels the run's context (Ctrl-C) and lets go of the lock
// a little later: the interrupt lands after X spent the code or rotated the
// refresh token, while twauth waits to write.
func holdLockUntilTokenAnswered(t *testing.T, w *world, path string, cancel context.CancelFunc) {
	t.Helper()
	unlock, err := atomicfile.Lock(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer unlock()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			reqs := w.tokenRequests()
			if len(reqs) > 0 && reqs[len(reqs)-1].Status != 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // twauth is now waiting for the lock
		cancel()
		time.Sleep(100 * time.Millisecond)
	}()
}

// Once X has spent the code, Ctrl-C no longer throws the grant away: the
// tokens are saved, both files, and the login succeeds.
func TestInterruptAfterTheExchangeStillSaves(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	holdLockUntilTokenAnswered(t, w, w.cfg, cancel)
	r := w.runCtx(ctx, "", "login")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.stderr)
	}
	if ctx.Err() == nil {
		t.Fatal("the context was not cancelled during the run: the test did not test anything")
	}
	e := w.entry(publicID)
	if e == nil || !w.srv.IsValidRefreshToken(e.RefreshToken) {
		t.Fatalf("store entry %+v", e)
	}
	if want := "clientId = \"" + publicID + "\"\ntoken = \"" + e.AccessToken + "\"\n"; w.readConfig() != want {
		t.Errorf("Config.toml = %q, want %q", w.readConfig(), want)
	}
}

// Once the store holds the rotated tokens, Ctrl-C no longer leaves
// Config.toml behind (nor claims that nothing was saved).
func TestInterruptAfterTheRefreshKeepsConfigInStep(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\ntoken = \"old\"\n")
	w.seed(publicID, scopes, t0.Add(time.Minute), false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	holdLockUntilTokenAnswered(t, w, w.cfg, cancel)
	r := w.runCtx(ctx, "", "refresh")
	if r.code != 0 || strings.Contains(r.stderr, "nothing was saved") {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.stderr)
	}
	if ctx.Err() == nil {
		t.Fatal("the context was not cancelled during the run: the test did not test anything")
	}
	e := w.entry(publicID)
	if want := "clientId = \"" + publicID + "\"\ntoken = \"" + e.AccessToken + "\"\n"; w.readConfig() != want {
		t.Errorf("Config.toml = %q, want %q", w.readConfig(), want)
	}
}
