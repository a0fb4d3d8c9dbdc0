package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/report"
)

// TestFhirKitClientPages searches with the real npm fhir-kit-client
// (testdata/clients/search-pages.mjs) with _count, GET and POST _search,
// following nextPage to the end and prevPage back: every document exactly
// once, no page larger than asked.
func TestFhirKitClientPages(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (20 or later) is needed to run the npm FHIR clients: %v", err)
	}
	dir, _ := filepath.Abs("testdata/clients")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fhir-kit-client", "package.json")); err != nil {
		t.Fatalf("fhir-kit-client is not installed in %s/node_modules: run `npm ci --prefix fhir/testdata/clients` from the repository root first", dir)
	}
	f := newSearchFixture(t)
	ctx := context.Background()
	const n, count = 37, 5
	var want []string
	t0 := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		kind := []string{report.KindAP, report.KindRadiology}[i%2]
		rec := &folio.Record{ID: folio.RecordID(fmt.Sprintf("K%d", i), 1), ReportID: fmt.Sprintf("K%d", i), Version: 1, Kind: kind,
			Status: "final", Issued: t0.AddDate(0, i, 0), PatientID: "pt-k"}
		if err := f.st.PutRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec.ID)
	}
	// Another patient's documents are not in pt-k's pages.
	if err := f.st.PutRecord(ctx, &folio.Record{ID: "Z-1", ReportID: "Z", Version: 1, Kind: report.KindAP, Status: "final", Issued: t0, PatientID: "pt-z"}); err != nil {
		t.Fatal(err)
	}
	// The client follows links, so the base URL is the test server's.
	f.h.cfg.BaseURL = f.srv.URL
	tok := sign(t, f.key, goodClaims("user/DocumentReference.read"))

	cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, filepath.Join(dir, "search-pages.mjs"))
	cmd.Dir = dir
	cmd.Env = append(testutil.CleanEnv(), "BASE_URL="+f.srv.URL, "TOKEN="+tok, "PATIENT=pt-k", fmt.Sprintf("COUNT=%d", count))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node search-pages.mjs: %v\nstdout: %s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var got struct {
		Get, Post struct {
			Total *int
			Pages [][]string
		}
		Back struct{ Pages [][]string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("search-pages.mjs printed %q: %v", stdout.String(), err)
	}
	for name, r := range map[string]struct {
		Total *int
		Pages [][]string
	}{"GET": got.Get, "POST _search": got.Post} {
		var all []string
		for i, p := range r.Pages {
			if len(p) > count || (len(p) < count && i != len(r.Pages)-1) {
				t.Errorf("%s: page %d has %d entries (asked for %d)", name, i+1, len(p), count)
			}
			all = append(all, p...)
		}
		if !slices.Equal(all, want) {
			t.Errorf("%s: the pages hold %v, want every document once: %v", name, all, want)
		}
		if len(r.Pages) != (n+count-1)/count {
			t.Errorf("%s: %d pages, want %d", name, len(r.Pages), (n+count-1)/count)
		}
		if r.Total == nil || *r.Total != n {
			t.Errorf("%s: total %v, want %d", name, r.Total, n)
		}
	}
	// Back from the last page: the pages before it, each once.
	var back []string
	for _, p := range got.Back.Pages {
		back = append(slices.Clone(p), back...)
	}
	if !slices.Equal(back, want) {
		t.Errorf("prevPage from the last page: %v, want %v", back, want)
	}
}
