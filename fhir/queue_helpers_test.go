package fhir_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/queue"
)

// openQueue starts an in-process nats-server with its data in dir and opens
// the queue (and so its store) on it with a worker's connection, which it
// also returns; the connection and the server stop when the test ends. ctx
// bounds the test's calls to a minute.
func openQueue(t *testing.T, dir string) (context.Context, *nats.Conn, *queue.Queue) {
	t.Helper()
	srv, err := broker.StartServer(broker.ServerConfig{Policy: queue.RolePermissions, DataDir: dir, Listen: "127.0.0.1:-1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(broker.RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	q, err := queue.Open(ctx, nc, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, nc, q
}
