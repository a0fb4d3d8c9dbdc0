package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/queue"
)

// BenchmarkJobsPage measures the jobs page over 1,000 queued jobs (their
// statuses in the folio-jobs bucket, no worker): the newest 50, and the
// failed filter, which examines every status to find none.
func BenchmarkJobsPage(b *testing.B) {
	srv, err := broker.StartServer(broker.ServerConfig{Policy: queue.RolePermissions, DataDir: b.TempDir(), Listen: "127.0.0.1:-1", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect(broker.RoleAdmin)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q, err := queue.Open(ctx, nc, queue.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		report := fmt.Sprintf(`{"id":"B26-%06d","version":1}`, i)
		if _, err := q.Submit(ctx, &queue.Job{Report: []byte(report)}); err != nil {
			b.Fatal(err)
		}
	}
	c, err := New(Config{Queue: q, Store: q.Store(), Conn: nc, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, path := range []string{"/console/jobs", "/console/jobs?failed=1"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != 200 {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		})
	}
}
