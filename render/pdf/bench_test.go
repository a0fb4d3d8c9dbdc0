package pdf

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkPaint paints a hand-built two-page AP report (about 60 text ops of
// about 80 characters per page in regular, bold, italic and mono faces, with
// rules and boxes). Warm: subset fonts come from the cache after the first
// document. Cold: the cache is bypassed, so every document subsets and
// compresses its fonts, as a document with a new rune set does.
// SignedRSA2048 and SignedP256: Warm, signed (PAdES B-B) with a 2048-bit
// RSA or an ECDSA P-256 key; the difference from Warm is what signing
// costs. Besides wall-clock ns/op, cpu-ns/op is the process's CPU time
// per document (getrusage), the figure that holds on a shared machine.
func BenchmarkPaint(b *testing.B) {
	pages := reportPages(2)
	run := func(opts ...Option) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			var n int
			cpu := cpuTime()
			for b.Loop() {
				out, err := Paint(pages, testInfo, opts...)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(n), "pdf-bytes")
		}
	}
	_, rsa2048 := signer(b, "rsa2048")
	_, p256 := signer(b, "p256")
	b.Run("Warm", run())
	b.Run("SignedRSA2048", run(Sign(rsa2048)))
	b.Run("SignedP256", run(Sign(p256)))
	b.Run("Cold", func(b *testing.B) {
		defer setCacheSize(setCacheSize(0))
		run()(b)
	})
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
