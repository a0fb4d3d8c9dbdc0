package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/foliohealth/folio"
)

// TestBrokenObjectIsReplaced reproduces the fault suite's bug 2: an object
// whose info was stored but whose chunks were lost in a server crash must
// not be kept as the Binary; the next store of the same id replaces it.
func TestBrokenObjectIsReplaced(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("%PDF-1.4 folio "), 30000) // several chunks
	b := folio.Binary{ID: "pdf-S26-000888-1", ContentType: "application/pdf", Output: folio.OutputPDF, RecordID: "S26-000888-1"}
	if _, err := s.PutBinary(ctx, b, data); err != nil {
		t.Fatal(err)
	}
	// Lose the chunks, keep the info: what a SIGKILLed server can leave.
	oi, err := s.objectInfo(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.purge(ctx, "$O."+BucketBinaries+".C."+oi.NUID)
	if ok, err := s.whole(ctx, oi); err != nil || ok {
		t.Fatalf("whole = %v, %v after losing the chunks", ok, err)
	}
	if _, err := s.PutBinary(ctx, b, data); err != nil {
		t.Fatal(err)
	}
	_, rc, err := s.OpenBinary(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading the replaced Binary: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want %d", len(got), len(data))
	}
}

// TestPutBinaryRace stores different bytes under one Binary id from many
// goroutines at once: exactly one set of bytes is stored, every caller gets
// its metadata back, and it reads back intact.
func TestPutBinaryRace(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	const n = 8
	got := make([]*folio.Binary, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			data := bytes.Repeat(fmt.Appendf(nil, "writer %d;", i), 20000) // > 1 chunk
			got[i], errs[i] = s.PutBinary(ctx, folio.Binary{
				ID: "thumbnail-R1-1", ContentType: "image/png", Output: folio.OutputThumbnail,
				ReportID: "R1", Version: 1, PatientID: "p1", RecordID: "R1-1", JobID: fmt.Sprint("job-", i),
			}, data)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if *got[i] != *got[0] {
			t.Errorf("writer %d got %+v, writer 0 got %+v", i, got[i], got[0])
		}
	}
	b, rc, err := s.OpenBinary(ctx, "thumbnail-R1-1")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	sum := sha256.Sum256(data)
	if *b != *got[0] || hex.EncodeToString(sum[:]) != b.SHA256 {
		t.Errorf("stored %+v (sha256 %x), writers were told %+v", b, sum, got[0])
	}
	info, err := s.objects.GetInfo(ctx, "thumbnail-R1-1")
	if err != nil || info.Chunks < 2 {
		t.Fatalf("object info %+v, %v; want several chunks", info, err)
	}
	// The losers' chunks are gone: the bucket holds one object's bytes.
	st, err := s.js.Stream(ctx, "OBJ_"+BucketBinaries)
	if err != nil {
		t.Fatal(err)
	}
	si, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != uint64(info.Chunks)+1 {
		t.Errorf("bucket holds %d messages, want %d chunks + 1 info", si.State.Msgs, info.Chunks)
	}
}

// BenchmarkReadBinary reads a 3.6 MB Binary through OpenBinary (checked
// against its SHA-256 as it passes) and through the Object Store's own
// reader (which the store used before), side by side.
func BenchmarkReadBinary(b *testing.B) {
	s := openTestStore(b)
	ctx := context.Background()
	data := bytes.Repeat([]byte("%PDF-1.7 bench "), 240000)
	if _, err := s.PutBinary(ctx, folio.Binary{ID: "pdf-B-1", ContentType: "application/pdf", Output: folio.OutputPDF}, data); err != nil {
		b.Fatal(err)
	}
	b.Run("verified", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_, rc, err := s.OpenBinary(ctx, "pdf-B-1")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
	b.Run("objectstore", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			res, err := s.objects.Get(ctx, "pdf-B-1")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, res); err != nil {
				b.Fatal(err)
			}
			res.Close()
		}
	})
}
