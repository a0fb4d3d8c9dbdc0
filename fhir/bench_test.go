package fhir

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchConcurrency is the number of clients sending requests at once.
const benchConcurrency = 8

// BenchmarkBinaryRaw measures authorised GET /Binary/{id} (raw PDF, 60 KB)
// through the whole handler over loopback HTTP, beside http.FileServer
// serving the same bytes from a file, at the same fixed concurrency.
func BenchmarkBinaryRaw(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	tok := "Bearer " + e.token(b, allScopes)
	pdf := e.store.data[e.pdf1]
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report.pdf"), pdf, 0o600); err != nil {
		b.Fatal(err)
	}
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer static.Close()

	b.Run("fhir", func(b *testing.B) {
		load(b, e.srv.URL+"/Binary/"+e.pdf1, tok, len(pdf))
	})
	b.Run("fileserver", func(b *testing.B) {
		load(b, static.URL+"/report.pdf", "", len(pdf))
	})
}

func load(b *testing.B, url, authz string, size int) {
	tr := &http.Transport{MaxIdleConns: benchConcurrency, MaxIdleConnsPerHost: benchConcurrency}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, b.N)
		wg   sync.WaitGroup
		fail atomic.Value
	)
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			buf := make([]byte, 32<<10)
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest("GET", url, nil)
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				req.Header.Set("Accept", "application/pdf")
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					fail.Store(err.Error())
					return
				}
				n, _ := io.CopyBuffer(io.Discard, res.Body, buf)
				res.Body.Close()
				mine = append(mine, time.Since(t0))
				if res.StatusCode != 200 || n != int64(size) {
					fail.Store(res.Status)
					return
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := fail.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
