package balconfig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var editSizes = []struct {
	name string
	size int
}{{"1KB", 1 << 10}, {"100KB", 100 << 10}, {"1MB", 1 << 20}}

// BenchmarkEdit is the whole edit twauth makes to a Config.toml after a
// login or a refresh, on files of 1 KB, 100 KB and 1 MB (issue 7: the cost
// grows linearly; 1 MB at most 10 ms):
//
//   - mem: parse the bytes (with the duplicate-key check), set the token,
//     render the new bytes;
//   - file: Edit, which adds the lock, the read and the atomic write
//     (temporary file, fsync, rename, fsync of the directory).
func BenchmarkEdit(b *testing.B) {
	for _, sz := range editSizes {
		data := genConfig(sz.size)
		b.Run("mem/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			n := 0
			for b.Loop() {
				n++
				d, err := Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Set("bench.mid.token", fmt.Sprintf("token-%d", n)); err != nil {
					b.Fatal(err)
				}
				if len(d.Bytes()) < len(data) {
					b.Fatal("the document shrank")
				}
			}
		})
		b.Run("file/"+sz.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "Config.toml")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			ctx := context.Background()
			n := 0
			for b.Loop() {
				n++
				err := Edit(ctx, path, time.Second, func(d *Doc) error {
					return d.Set("bench.mid.token", fmt.Sprintf("token-%d", n))
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
