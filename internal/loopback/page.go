package loopback

import (
	"bytes"
	"html"
	"io"
	"log"
	"net/http"
	"strconv"
)

var discardLog = log.New(io.Discard, "", 0)

// setPageHeaders sets the headers of every answer: nothing cached, no
// referrer leaked, no script, no framing (docs/design.md, "Security rules").
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

type pageData struct {
	Title, Heading, Message, Detail string
	OK                              bool
}

// The page is self-contained: no external assets, no script. Everything
// that may come from the query is HTML-escaped. (Not html/template: its
// reflection turns off the linker's dead-code elimination, which costs
// twauth several megabytes and start-up time on every run.)
const pageHead = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>twauth: `

const pageStyle = `</title>
<style>
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f5f8fa;color:#0f1419;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:32rem;margin:1rem;padding:2rem 2.5rem;background:#fff;border-radius:16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin:0 0 .5rem}
.mark{font-size:2.5rem;line-height:1}
.ok .mark{color:#00a400}.bad .mark{color:#d0021b}
code{display:block;margin-top:1rem;padding:.5rem .75rem;background:#f1f3f5;border-radius:8px;white-space:pre-wrap;word-break:break-word}
footer{margin-top:1.5rem;color:#536471;font-size:.85rem}
</style>
</head>
<body>
`

const pageFoot = `<footer>twauth &middot; OAuth 2.0 for the X API</footer>
</main>
</body>
</html>
`

func renderPage(p pageData) []byte {
	var b bytes.Buffer
	b.WriteString(pageHead)
	b.WriteString(html.EscapeString(p.Title))
	b.WriteString(pageStyle)
	if p.OK {
		b.WriteString("<main class=\"ok\">\n<div class=\"mark\">&#10003;</div>\n")
	} else {
		b.WriteString("<main class=\"bad\">\n<div class=\"mark\">&#10007;</div>\n")
	}
	b.WriteString("<h1>" + html.EscapeString(p.Heading) + "</h1>\n")
	b.WriteString("<p>" + html.EscapeString(p.Message) + "</p>\n")
	if p.Detail != "" {
		b.WriteString("<code>" + html.EscapeString(p.Detail) + "</code>\n")
	}
	b.WriteString(pageFoot)
	return b.Bytes()
}

func writePage(w http.ResponseWriter, status int, p pageData) {
	b := renderPage(p)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
