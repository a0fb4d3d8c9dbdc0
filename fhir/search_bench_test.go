package fhir

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/report"
)

// BenchmarkSearchPage measures GET DocumentReference?patient=&_count=50
// through the whole handler over loopback HTTP against a real NATS store
// (file storage), for one patient with 30, 300 and 3,000 documents among
// other patients' documents: the first page, the last page (reached by
// its cursor), and the first page of a category search that half of the
// documents match. It reports p50 and p90 latency; the cost of a page
// should not grow with the patient's history.
//
//	go test ./fhir -run '^$' -bench BenchmarkSearchPage -benchtime 200x
func BenchmarkSearchPage(b *testing.B) {
	for _, n := range benchSizes {
		f := newSearchFixture(b)
		f.h.cfg.BaseURL = f.srv.URL
		fillPatient(b, f, "pt-bench", n)
		tok := "Bearer " + sign(b, f.key, goodClaims("user/DocumentReference.read"))
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		get := func(path string) searchBundle {
			req, _ := http.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", tok)
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			var sb searchBundle
			if res.StatusCode != 200 || json.Unmarshal(body, &sb) != nil {
				b.Fatalf("%s: %d %.200s", path, res.StatusCode, body)
			}
			return sb
		}
		first := f.srv.URL + "/DocumentReference?patient=pt-bench&_count=50"
		last := first
		for next := first; next != ""; {
			sb := get(next)
			last, next = next, sb.link("next")
		}
		for _, c := range []struct{ name, url string }{
			{"first", first},
			{"last", last},
			{"category-first", f.srv.URL + "/DocumentReference?patient=pt-bench&category=LP29684-5&_count=50"},
		} {
			b.Run(fmt.Sprintf("docs=%d/%s", n, c.name), func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					t0 := time.Now()
					sb := get(c.url)
					lat = append(lat, time.Since(t0))
					if len(sb.Entry) == 0 || len(sb.Entry) > 50 {
						b.Fatalf("%d entries", len(sb.Entry))
					}
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
			})
		}
	}
}

// fillPatient stores n documents for patient (radiology and pathology in
// turn, issued a day apart) with as many other patients' documents
// between them, 8 writers at once.
func fillPatient(b testing.TB, f *searchFixture, patient string, n int) {
	ctx := context.Background()
	t0 := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				for _, pt := range []string{patient, fmt.Sprintf("other-%d", i%50)} {
					id := fmt.Sprintf("B%s%d", strings.TrimPrefix(pt, "pt-"), i)
					rec := &folio.Record{ID: folio.RecordID(id, 1), ReportID: id, Version: 1,
						Kind: []string{report.KindRadiology, report.KindAP}[i%2], Title: "Report", Status: "final",
						Issued: t0.AddDate(0, 0, i), EffectiveStart: t0.AddDate(0, 0, i-1), PatientID: pt, PatientName: "Bench, P",
						Binaries: []folio.Binary{
							{ID: folio.BinaryID(id, 1, folio.OutputPDF), ContentType: "application/pdf", Size: 60000, Output: folio.OutputPDF, SHA1: "x", Created: t0},
							{ID: folio.BinaryID(id, 1, folio.OutputThumbnail), ContentType: "image/png", Size: 9000, Output: folio.OutputThumbnail, SHA1: "y", Created: t0},
						}}
					if err := f.st.PutRecord(ctx, rec); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// benchSizes are the patient histories BenchmarkSearchPage measures.
var benchSizes = []int{30, 300, 3000}
