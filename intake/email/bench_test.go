package email

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkParse parses the multipart/alternative message of the testdata.
func BenchmarkParse(b *testing.B) {
	raw, err := os.ReadFile("testdata/alternative.eml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(bytes.NewReader(raw), 0); err != nil {
			b.Fatal(err)
		}
	}
}
