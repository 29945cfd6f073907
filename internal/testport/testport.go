// Package testport hands tests loopback ports that no other test process
// takes at the same time. A port from a `:0` bind, closed and handed on,
// can be given by the kernel to another package's test that binds `:0`
// meanwhile (go test runs packages in parallel). These ports lie below the
// kernel's ephemeral range, so no `:0` bind gets them, and each test binary
// draws from its own block, checking each port is free before handing it
// out.
package testport

import (
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"sync"
)

const (
	base      = 20000 // below Linux's default ephemeral range (32768–60999)
	blockSize = 400
	blocks    = 30 // 20000–31999
)

var (
	mu   sync.Mutex
	next int
)

// block is this test binary's first port: packages that listen get a
// block of their own; any other binary hashes its name into one.
func block() int {
	name := filepath.Base(os.Args[0])
	known := []string{"cli.test", "e2e.test", "interop.test", "loopback.test", "twauth.test", "twauth-dev.test", "serve.test", "xtest.test", "app.test", "oauth.test", "etcdstore.test", "keyringstore.test"}
	for i, k := range known {
		if name == k {
			return base + i*blockSize
		}
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return base + (len(known)+int(h.Sum32()%uint32(blocks-len(known))))*blockSize
}

// T is what Free needs of a test: testing.TB, or testscript's T.
type T interface{ Fatal(args ...any) }

// Free returns a loopback port that is free now and that no other test
// binary hands out.
func Free(t T) int {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	mu.Lock()
	defer mu.Unlock()
	start := block()
	for i := 0; i < blockSize; i++ {
		p := start + (next+i)%blockSize
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		next = (next + i + 1) % blockSize
		return p
	}
	t.Fatal(fmt.Sprintf("no free port in 127.0.0.1:%d-%d", start, start+blockSize-1))
	return 0
}
