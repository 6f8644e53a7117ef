package sops

import (
	"fmt"
	"strings"
	"testing"
)

// bigValues builds a SOPS YAML file of n encrypted values in groups of 20,
// with one plaintext value left by the default suffix per group.
func bigValues(n int) []byte {
	var b strings.Builder
	for i := 0; i < n/20; i++ {
		fmt.Fprintf(&b, "group%d:\n", i)
		for j := 0; j < 20; j++ {
			fmt.Fprintf(&b, "    key%d: %s\n", j, enc)
		}
		fmt.Fprintf(&b, "    note_unencrypted: rotated by the platform team\n")
	}
	b.WriteString(metaYAML)
	return []byte(b.String())
}

// BenchmarkCheck measures a check of a 10,000-value file (about 1.3 MB):
// parse, rule walk, ciphertext shape, secret scan of the plaintext values.
func BenchmarkCheck(b *testing.B) {
	data := bigValues(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if r := Check("big.yaml", data, Options{}); !r.OK() || r.Encrypted != 10000 {
			b.Fatalf("%v", r.Messages())
		}
	}
}
