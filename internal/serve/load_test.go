package serve

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadAcrossAnExpiry: 50 clients send 10 000 requests between them; the
// token expires after the first 5 000 are sent. Every answer is a valid
// token, and the source refreshes exactly once.
func TestLoadAcrossAnExpiry(t *testing.T) {
	const clients, requests = 50, 10_000
	clock := newClock()
	src := newSource(clock.Now)
	var logs logBuffer
	addr := start(t, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now, Log: logs.logger()}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	body := "grant_type=refresh_token&refresh_token=" + testHandle
	auth := basic(testClientID, testSecret)

	var sent atomic.Int64
	var mu sync.Mutex
	errs, seen := 0, map[string]int{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				n := sent.Add(1)
				if n > requests {
					return
				}
				if n == requests/2 {
					clock.Advance(2 * time.Hour)
				}
				tok, err := post(client, addr, auth, body)
				mu.Lock()
				if err != nil {
					if errs++; errs <= 3 {
						t.Error(err)
					}
				} else {
					seen[tok]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if errs != 0 {
		t.Errorf("%d of %d requests failed", errs, requests)
	}
	if seen["x-access-token-1-SECRET"]+seen["x-access-token-2-SECRET"] != requests || seen["x-access-token-2-SECRET"] == 0 {
		t.Errorf("tokens handed out: %v", seen)
	}
	if src.refreshCount() != 1 || src.calls.Load() != 2 {
		t.Errorf("%d refreshes in %d calls to the source, want 1 in 2", src.refreshCount(), src.calls.Load())
	}
	if lines := strings.Count(logs.String(), "\n"); lines != requests {
		t.Errorf("%d log lines for %d requests", lines, requests)
	}
}

func post(client *http.Client, addr, auth, body string) (string, error) {
	req, err := http.NewRequest("POST", "http://"+addr+"/oauth2/token", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var answer struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &answer) != nil || answer.ExpiresIn <= 0 {
		return "", fmt.Errorf("answer %d %s", resp.StatusCode, b)
	}
	return answer.AccessToken, nil
}
