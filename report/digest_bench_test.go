package report

import (
	"os"
	"testing"
)

// BenchmarkDigest measures report.Digest, which every job pays once (the
// worker) or twice (folio submit's default job id), against Decode.
func BenchmarkDigest(b *testing.B) {
	for _, name := range []string{"surgical-breast", "key-images"} {
		data, err := os.ReadFile("../fixtures/" + name + ".json")
		if err != nil {
			b.Fatal(err)
		}
		r, err := Decode(data, DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/digest", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				Digest(r)
			}
		})
		b.Run(name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				Decode(data, DefaultLimits())
			}
		})
	}
}
