package loadtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFixtureCost logs the in-process render CPU of every fixture (decode,
// layout and PDF, one goroutine), the per-report figure behind the capacity
// estimate of docs/SCALING.md.
func TestFixtureCost(t *testing.T) {
	if testing.Short() {
		t.Skip("cost run in -short mode")
	}
	paths, err := filepath.Glob(filepath.Join("..", "..", "fixtures", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	n := 40
	if raceBuild {
		n = 3
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, cpu, err := RenderThroughput(b, n, 1)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		t.Logf("%-28s %6d bytes JSON: %8v CPU per render", filepath.Base(p), len(b), cpu.Round(10*time.Microsecond))
	}
}
