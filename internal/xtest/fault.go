package xtest

import (
	"net/http"
	"time"
)

// Fault replaces or disturbs the Fake's answer to one API request. It is
// applied in this order: wait Delay; then Hang, or DropAfterProcessing, or
// answer Status/Header/Body; with none of these, give the real answer (so a
// Fault with only Delay is a slow server).
type Fault struct {
	// Status, Header and Body are answered instead of the real thing, when
	// any of them is set: a 502 HTML page, a 429 with Retry-After, a 200
	// without access_token, token_type "mac", a bad expires_in, a 2 MB
	// body. Status 0 means 200. Without a Content-Type in Header one is
	// guessed from Body ({ or [ → JSON, < → HTML, else text).
	Status int
	Header http.Header
	Body   string
	// Hang answers nothing until the request's context ends (the client
	// gives up) or the Fake is closed: for client timeouts.
	Hang bool
	// DropAfterProcessing performs the real request (a code is spent, a
	// refresh rotates!) and then closes the connection without a response:
	// the "lost response" case.
	DropAfterProcessing bool
	// Delay waits this long before anything else.
	Delay time.Duration
}

func (ft *Fault) answers() bool {
	return ft.Status != 0 || ft.Header != nil || ft.Body != ""
}

// InjectTokenFault queues ft for the token endpoint: each request to it
// takes the next queued fault, if any.
func (f *Fake) InjectTokenFault(ft Fault) { f.InjectFault(TokenPath, ft) }

// InjectFault queues ft for path, which is TokenPath, RevokePath or
// UsersMePath (faults queued for other paths are never used).
func (f *Fake) InjectFault(path string, ft Fault) {
	ft.Header = ft.Header.Clone()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[path] = append(f.faults[path], ft)
}

// PendingFaults returns how many injected faults for path are still queued.
func (f *Fake) PendingFaults(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.faults[path])
}

// ClearFaults drops the faults still queued for every path.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.faults)
}
