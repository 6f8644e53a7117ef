package secretscan

import (
	"strings"
	"testing"
)

// BenchmarkScanLongLine measures the scanner on one 64 KiB line of words.
func BenchmarkScanLongLine(b *testing.B) {
	line := []byte(strings.Repeat("a ", 32*1024))
	s := New()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		s.Scan(line)
	}
}
