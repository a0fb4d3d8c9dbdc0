package fhir_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/fhir"
	"github.com/foliohealth/folio/store"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStreamedBinaryVerified stores a 3 MB Binary (streamed, not cached) in
// a real JetStream object store, flips one byte of its chunks, and reads it
// whole, as a range short of the end, as a range at the end, and as the
// Binary resource: no response is ever complete, and the log says why.
func TestStreamedBinaryVerified(t *testing.T) {
	dir := t.TempDir()
	ctx, nc, q := openQueue(t, dir)
	st := q.Store()
	data := bytes.Repeat([]byte("%PDF-1.7 streamed and checked "), 100000) // 3 MB
	b, err := st.PutBinary(ctx, folio.Binary{ID: "pdf-BIG-1", ContentType: "application/pdf", Output: folio.OutputPDF,
		ReportID: "BIG", Version: 1, PatientID: "pt-big", RecordID: "BIG-1"}, data)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := fhir.LoadDevKey(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	h, err := fhir.New(st, fhir.Config{Verifier: key.Verifier(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(h)
	defer web.Close()
	tok, err := key.Mint(fhir.TokenRequest{Scope: "user/Binary.read user/DocumentReference.read"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(accept, rng string) (int, []byte, int64, error) {
		req, _ := http.NewRequest("GET", web.URL+"/Binary/"+b.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", accept)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res, err := web.Client().Do(req)
		if err != nil {
			return 0, nil, 0, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, body, res.ContentLength, err
	}
	// Intact: complete.
	if code, body, _, err := get("application/pdf", ""); err != nil || code != 200 || !bytes.Equal(body, data) {
		t.Fatalf("intact read: %d, %d bytes, %v", code, len(body), err)
	}
	// Flip one byte in the middle of the stored chunks.
	js, _ := jetstream.New(nc)
	obs, _ := js.ObjectStore(ctx, store.BucketBinaries)
	info, err := obs.GetInfo(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	stream, _ := js.Stream(ctx, "OBJ_"+store.BucketBinaries)
	subj := "$O." + store.BucketBinaries + ".C." + info.NUID
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	for off := 0; off < len(bad); off += int(info.Opts.ChunkSize) {
		if _, err := js.Publish(ctx, subj, bad[off:min(off+int(info.Opts.ChunkSize), len(bad))]); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ accept, rng string }{
		{"application/pdf", ""},
		{"application/pdf", "bytes=0-999"},                          // short of the end: read on and checked
		{"application/pdf", fmt.Sprintf("bytes=%d-", len(data)-10)}, // the last bytes
		{"application/fhir+json", ""},
	} {
		code, body, length, err := get(c.accept, c.rng)
		if err == nil && (code == 200 || code == 206) && int64(len(body)) == length {
			t.Errorf("%s %s: a complete %d of %d bytes from a corrupted Binary", c.accept, c.rng, code, len(body))
		}
	}
	if !strings.Contains(logs.String(), "do not match their digest") {
		t.Errorf("the log does not report the mismatch:\n%s", logs.String())
	}
}
