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

// smallConfig is a Config.toml as the README has users write it: 200 bytes.
var smallConfig = []byte("# The X app of this program.\nclientId = \"Zk9xTUVwRjNqV2tPdlFyS2xZ:1:ci\"\n\n" +
	"# Written by twauth.\ntoken = \"\" # filled by twauth\n\n[myorg.app]\ntimeout = 30\nbaseUrl = \"https://api.x.com/2\"\n")

// configFiles are the files of the whole-command benchmarks: the small one,
// and 1 MB with clientId and token at the top.
func configFiles(b *testing.B) map[string]string {
	b.Helper()
	dir := b.TempDir()
	files := map[string]string{}
	for name, data := range map[string][]byte{"200B": smallConfig, "1MB": genConfig(1 << 20)} {
		files[name] = filepath.Join(dir, name+".toml")
		if err := os.WriteFile(files[name], data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return files
}

// BenchmarkPeek is what reading the client id costs a command that needs
// nothing else from Config.toml (twauth token with a valid stored token).
func BenchmarkPeek(b *testing.B) {
	files := configFiles(b)
	for _, name := range []string{"200B", "1MB"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				v, found, _, err := Peek(files[name], "clientId")
				if err != nil || !found || v == "" {
					b.Fatal(v, found, err)
				}
			}
		})
	}
}

// BenchmarkRefreshConfig is all a refresh does with Config.toml: Load it,
// read the client id, then EditDoc to write the new token (the lock, the
// read that finds the same bytes, the Set on the loaded Doc and the atomic
// write with its fsyncs).
func BenchmarkRefreshConfig(b *testing.B) {
	files := configFiles(b)
	ctx := context.Background()
	for _, name := range []string{"200B", "1MB"} {
		b.Run(name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n++
				d, _, err := Load(files[name])
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := d.Get("clientId"); err != nil {
					b.Fatal(err)
				}
				err = EditDoc(ctx, d, time.Second, func(d *Doc) error {
					return d.Set("token", fmt.Sprintf("token-%d", n))
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
