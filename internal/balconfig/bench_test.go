package balconfig

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// genConfig returns a realistic Config.toml of about size bytes: a commented
// root section, then many [org.module] tables with comments, strings,
// numbers, arrays, inline tables and dotted keys. The key "bench.mid.token"
// sits in a table in the middle.
func genConfig(size int) []byte {
	var b strings.Builder
	b.WriteString("# Generated Ballerina configuration\n\nclientId = \"client-id\"\nclientSecret = \"secret\" # keep private\n\n")
	table := func(i int) {
		fmt.Fprintf(&b, "# module %d: connector settings\n[org%d.module%d]\n", i, i%97, i)
		fmt.Fprintf(&b, "serviceUrl = \"https://api.example.com/v%d\" # endpoint\n", i)
		fmt.Fprintf(&b, "timeout = %d\nretries = %d\nenabled = true\nratio = %d.5\n", 30+i%10, i%5, i%7)
		fmt.Fprintf(&b, "scopes = [\"read\", \"write\", \"admin-%d\"]\n", i)
		fmt.Fprintf(&b, "auth = { username = \"user%d\", password = 'p@ss#%d' }\n", i, i)
		fmt.Fprintf(&b, "pool.maxSize = %d\npool.minIdle = 2\n\n", 10+i%20)
	}
	i := 0
	for b.Len() < size/2 {
		table(i)
		i++
	}
	b.WriteString("# the table the benchmark edits\n[bench.mid]\nclientId = \"abc\"\ntoken = \"old\"\n\n")
	for b.Len() < size {
		table(i)
		i++
	}
	return []byte(b.String())
}

func BenchmarkSet(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"1KB", 1 << 10}, {"100KB", 100 << 10}, {"1MB", 1 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			data := genConfig(bc.size)
			d, err := Parse(data)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			n := 0
			for b.Loop() {
				n++
				if err := d.Set("bench.mid.token", fmt.Sprintf("token-%d", n)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	data := genConfig(1 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckers compares the two ways of checking TOML's rules on
// defining keys and tables: the linear checker that Parse runs (as it
// builds the index), and toml.Unmarshal, which FuzzCheck uses as the
// reference. toml.Unmarshal's cost grows with the square of the number of
// keys, so it is no checker for a file of 1 MB.
func BenchmarkCheckers(b *testing.B) {
	for _, sz := range []struct {
		name string
		size int
	}{{"4KB", 4 << 10}, {"64KB", 64 << 10}, {"1MB", 1 << 20}} {
		data := genConfig(sz.size)
		b.Run("linear/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			d := newDoc(data)
			for b.Loop() {
				if _, err := d.index(nil, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("unmarshal/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var v map[string]any
				if err := toml.Unmarshal(data, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
