package app

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgressOnATerminal(t *testing.T) {
	var out lockedBuffer
	p := newProgress(&out, true)
	stop := p.start("Waiting for the browser", time.Now().Add(5*time.Minute))
	p.line("Opened the browser.")
	stop()
	stop() // idempotent
	got := out.String()

	// The status line: what it waits for, the time left, how to cancel.
	first := "\r\033[KWaiting for the browser · 4:59 left · Ctrl-C to cancel"
	alt := "\r\033[KWaiting for the browser · 5:00 left · Ctrl-C to cancel"
	if !strings.HasPrefix(got, first) && !strings.HasPrefix(got, alt) {
		t.Fatalf("output starts %q, want the status line", got)
	}
	// A message clears the line, prints itself, and redraws the status.
	if !strings.Contains(got, "\r\033[KOpened the browser.\nWaiting for the browser · ") {
		t.Errorf("a message does not print above the status line: %q", got)
	}
	// Stopping clears the line and leaves the cursor at its start.
	if !strings.HasSuffix(got, "Ctrl-C to cancel\r\033[K") {
		t.Errorf("stop does not clear the status line: %q", got)
	}
	p.line("done")
	if !strings.HasSuffix(out.String(), "\033[Kdone\n") || strings.HasSuffix(out.String(), "cancel") {
		t.Errorf("after stop, a message redraws the status: %q", out.String())
	}
}

func TestProgressOffATerminal(t *testing.T) {
	var out lockedBuffer
	p := newProgress(&out, false)
	stop := p.start("Waiting for the browser", time.Now().Add(90*time.Second))
	p.line("Opened the browser.")
	stop()
	got := out.String()
	if strings.Contains(got, "\r") || strings.Contains(got, "\033") {
		t.Errorf("escape codes off a terminal: %q", got)
	}
	if (!strings.HasPrefix(got, "Waiting for the browser (up to 1m30s)…\n") && !strings.HasPrefix(got, "Waiting for the browser (up to 1m29s)…\n")) ||
		!strings.HasSuffix(got, "Opened the browser.\n") {
		t.Errorf("output = %q", got)
	}
}
