package serve

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkCachedToken measures a cached answer over real loopback HTTP:
// keep-alive clients (1 and 4 per CPU) send ballerina/oauth2's request,
// each answered with the cached token and logged as JSON (to io.Discard).
// It reports the latency a client sees (p50, p99) and requests per second.
//
//	go test -run '^$' -bench CachedToken -benchtime 20000x -count 5 ./internal/serve/
func BenchmarkCachedToken(b *testing.B) {
	for _, perCPU := range []int{1, 4} {
		b.Run(fmt.Sprintf("clients=%d", perCPU*runtime.GOMAXPROCS(0)), func(b *testing.B) { benchmarkCachedToken(b, perCPU) })
	}
}

func benchmarkCachedToken(b *testing.B, perCPU int) {
	clock := newClock()
	src := newSource(clock.Now)
	addr := start(b, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: perCPU * runtime.GOMAXPROCS(0)}}
	defer client.CloseIdleConnections()
	auth := basic(testClientID, testSecret)
	body := "grant_type=refresh_token&refresh_token=" + testHandle
	if _, err := post(client, addr, auth, body); err != nil { // warm the cache
		b.Fatal(err)
	}

	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(perCPU)
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if _, err := post(client, addr, auth, body); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(begin)
	b.StopTimer()
	if src.calls.Load() != 1 {
		b.Errorf("%d calls to the source, want 1", src.calls.Load())
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
}
