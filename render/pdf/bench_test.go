package pdf

import (
	"testing"
)

// BenchmarkPaint paints a hand-built two-page AP report (about 60 text ops of
// about 80 characters per page in regular, bold, italic and mono faces, with
// rules and boxes). Warm: subset fonts come from the cache after the first
// document. Cold: the cache is bypassed, so every document subsets and
// compresses its fonts, as a document with a new rune set does.
func BenchmarkPaint(b *testing.B) {
	pages := reportPages(2)
	run := func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for i := 0; i < b.N; i++ {
			out, err := Paint(pages, testInfo)
			if err != nil {
				b.Fatal(err)
			}
			n = len(out)
		}
		b.ReportMetric(float64(n), "pdf-bytes")
	}
	b.Run("Warm", run)
	b.Run("Cold", func(b *testing.B) {
		defer setCacheSize(setCacheSize(0))
		run(b)
	})
}
