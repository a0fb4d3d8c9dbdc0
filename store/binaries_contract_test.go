package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/store"
	"github.com/foliohealth/folio/store/s3"
)

// backend is one store.Binaries under test, with what the contract tests
// need to reach behind it.
type backend struct {
	name string
	// open returns a fresh, empty backend.
	open func(t testing.TB) binaries
	// corrupt replaces the stored bytes of id with data whose byte at is
	// flipped, leaving its metadata (size, digests) as it was.
	corrupt func(t *testing.T, b binaries, id string, data []byte, at int)
}

// binaries is what the contract tests call: store.Binaries plus the
// listing and removal that `folio binaries` uses.
type binaries interface {
	store.Binaries
	ListBinaries(ctx context.Context, fn func(id string) error) error
	RemoveBinary(ctx context.Context, id string) error
}

// backends returns the Object Store and the S3 backend (on a real
// SeaweedFS, started once for the calling test).
func backends(t testing.TB) []backend {
	var (
		once sync.Once
		weed *testutil.Weed
		n    int
	)
	startWeed := func() *testutil.Weed {
		once.Do(func() { weed = testutil.StartWeed(t, "folio") })
		return weed
	}
	return []backend{
		{
			name: "objectstore",
			open: func(t testing.TB) binaries { return store.OpenTestStore(t) },
			corrupt: func(t *testing.T, b binaries, id string, data []byte, at int) {
				store.CorruptObject(t, b.(*store.Store), id, data, at)
			},
		},
		{
			name: "s3",
			open: func(t testing.TB) binaries {
				w := startWeed()
				n++
				cfg, err := s3.ParseURL(w.URL(fmt.Sprintf("contract-%d", n)))
				if err != nil {
					t.Fatal(err)
				}
				t.Setenv("AWS_ACCESS_KEY_ID", w.AccessKey)
				t.Setenv("AWS_SECRET_ACCESS_KEY", w.SecretKey)
				s, err := s3.Open(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			corrupt: func(t *testing.T, b binaries, id string, data []byte, at int) {
				// A raw PUT with the admin credentials, behind folio's
				// back: other bytes, the same folio metadata.
				ctx := context.Background()
				c := startWeed().Client()
				key := strings.TrimPrefix(b.(*s3.Store).String(), "s3://folio/") + id
				head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("folio"), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				data = bytes.Clone(data)
				if at >= 0 {
					data[at] ^= 0x20
				}
				if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("folio"), Key: aws.String(key),
					Body: bytes.NewReader(data), Metadata: head.Metadata}); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
}

// TestBinariesContract runs the store.Binaries contract against every
// backend.
func TestBinariesContract(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Run("RoundTrip", func(t *testing.T) { contractRoundTrip(t, be.open(t)) })
			t.Run("NotFound", func(t *testing.T) { contractNotFound(t, be.open(t)) })
			t.Run("WriteOnce", func(t *testing.T) { contractWriteOnce(t, be.open(t)) })
			t.Run("Race", func(t *testing.T) { contractRace(t, be.open(t)) })
			t.Run("ReadIsVerified", func(t *testing.T) { contractReadIsVerified(t, be, be.open(t)) })
			t.Run("ListRemove", func(t *testing.T) { contractListRemove(t, be.open(t)) })
		})
	}
}

func pdfBinary(id string) folio.Binary {
	return folio.Binary{ID: id, ContentType: "application/pdf", Output: folio.OutputPDF, Pages: 2,
		JobID: "job-1", ReportID: "R-1", Version: 1, PatientID: "pt-1", RecordID: "R-1-1", Digest: "sha256:abc"}
}

func readAll(t *testing.T, s store.Binaries, id string) (*folio.Binary, []byte) {
	t.Helper()
	b, rc, err := s.OpenBinary(context.Background(), id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b, data
}

func contractRoundTrip(t *testing.T, s binaries) {
	ctx := context.Background()
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	random := make([]byte, 300<<10)
	rand.Read(random)
	for _, data := range [][]byte{[]byte("%PDF-1.4 small"), {}, random, bytes.Repeat([]byte("%PDF-1.7 large "), 250000)} {
		id := fmt.Sprintf("pdf-RT-%d", len(data))
		in := pdfBinary(id)
		got, err := s.PutBinary(ctx, in, data)
		if err != nil {
			t.Fatalf("put %d bytes: %v", len(data), err)
		}
		sum := sha256.Sum256(data)
		if got.Size != int64(len(data)) || got.SHA256 != hex.EncodeToString(sum[:]) || got.SHA1 == "" || got.Created.IsZero() {
			t.Fatalf("put returned %+v", got)
		}
		want := in
		want.Size, want.SHA256, want.SHA1, want.Created = got.Size, got.SHA256, got.SHA1, got.Created
		if *got != want {
			t.Errorf("put returned %+v, want %+v", got, want)
		}
		info, err := s.BinaryInfo(ctx, id)
		if err != nil || !info.Created.Equal(got.Created) {
			t.Fatalf("info: %+v, %v", info, err)
		}
		info.Created = got.Created // time zone representation aside
		if *info != *got {
			t.Errorf("info %+v, put returned %+v", info, got)
		}
		b, read := readAll(t, s, id)
		if !bytes.Equal(read, data) {
			t.Errorf("read back %d bytes, stored %d (equal: false)", len(read), len(data))
		}
		if b.SHA256 != got.SHA256 || b.Size != got.Size {
			t.Errorf("open returned %+v", b)
		}
	}
	// A Binary's creation time is kept when given (a copy between backends).
	in := pdfBinary("pdf-RT-created")
	in.Created = time.Date(2025, 3, 4, 5, 6, 7, 8e6, time.UTC)
	got, err := s.PutBinary(ctx, in, []byte("x"))
	if err != nil || !got.Created.Equal(in.Created) {
		t.Fatalf("put with a creation time: %+v, %v", got, err)
	}
	if info, err := s.BinaryInfo(ctx, in.ID); err != nil || !info.Created.Equal(in.Created) {
		t.Fatalf("stored creation time: %+v, %v", info, err)
	}
}

func contractNotFound(t *testing.T, s binaries) {
	ctx := context.Background()
	for _, id := range []string{"pdf-NOPE-1", "../etc/passwd", "", "a..b", strings.Repeat("x", 200)} {
		if _, err := s.BinaryInfo(ctx, id); !errors.Is(err, folio.ErrNotFound) {
			t.Errorf("info %q: %v, want not found", id, err)
		}
		if _, _, err := s.OpenBinary(ctx, id); !errors.Is(err, folio.ErrNotFound) {
			t.Errorf("open %q: %v, want not found", id, err)
		}
	}
}

func contractWriteOnce(t *testing.T, s binaries) {
	ctx := context.Background()
	first, err := s.PutBinary(ctx, pdfBinary("pdf-ONCE-1"), []byte("%PDF first bytes"))
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes again: idempotent, the first write's metadata back.
	again, err := s.PutBinary(ctx, pdfBinary("pdf-ONCE-1"), []byte("%PDF first bytes"))
	if err != nil || !again.Created.Equal(first.Created) || again.SHA256 != first.SHA256 {
		t.Fatalf("same bytes again: %+v, %v; first %+v", again, err, first)
	}
	// Other bytes: refused; the stored Binary is returned, unchanged.
	other := pdfBinary("pdf-ONCE-1")
	other.JobID = "job-2"
	got, err := s.PutBinary(ctx, other, []byte("%PDF other bytes, longer"))
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != first.SHA256 || got.JobID != "job-1" || got.Size != first.Size {
		t.Errorf("second write with other bytes returned %+v, want the first %+v", got, first)
	}
	if _, data := readAll(t, s, "pdf-ONCE-1"); string(data) != "%PDF first bytes" {
		t.Errorf("stored bytes changed to %q", data)
	}
}

func contractRace(t *testing.T, s binaries) {
	ctx := context.Background()
	const n = 8
	got := make([]*folio.Binary, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := pdfBinary("thumb-RACE-1")
			b.JobID = fmt.Sprint("job-", i)
			got[i], errs[i] = s.PutBinary(ctx, b, bytes.Repeat(fmt.Appendf(nil, "writer %d;", i), 20000))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if got[i].SHA256 != got[0].SHA256 || got[i].JobID != got[0].JobID {
			t.Errorf("writer %d was told %+v, writer 0 %+v", i, got[i], got[0])
		}
	}
	b, data := readAll(t, s, "thumb-RACE-1")
	sum := sha256.Sum256(data)
	if b.SHA256 != got[0].SHA256 || hex.EncodeToString(sum[:]) != b.SHA256 || !strings.HasPrefix(string(data), "writer ") {
		t.Errorf("stored %+v (%d bytes), writers were told %+v", b, len(data), got[0])
	}
	if want := fmt.Sprintf("writer %s;", strings.TrimPrefix(b.JobID, "job-")); !strings.HasPrefix(string(data), want) {
		t.Errorf("stored bytes start %q, but its metadata names %s", data[:12], b.JobID)
	}
}

func contractReadIsVerified(t *testing.T, be backend, s binaries) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("%PDF-1.7 verified "), 200000) // 3.6 MB
	b := pdfBinary("pdf-V-1")
	if _, err := s.PutBinary(ctx, b, data); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, len(data) / 2, len(data) - 1} {
		be.corrupt(t, s, b.ID, data, at)
		_, rc, err := s.OpenBinary(ctx, b.ID)
		if err != nil {
			if !errors.Is(err, store.ErrIntegrity) {
				t.Errorf("byte %d flipped: open: %v", at, err)
			}
			continue
		}
		var got bytes.Buffer
		_, err = io.Copy(&got, rc)
		rc.Close()
		if !errors.Is(err, store.ErrIntegrity) {
			t.Errorf("byte %d flipped: read %d bytes, error %v; want ErrIntegrity", at, got.Len(), err)
		}
		if got.Len() >= len(data) {
			t.Errorf("byte %d flipped: all %d bytes were handed over", at, got.Len())
		}
	}
	// Truncated and extended objects with the same metadata.
	for _, bad := range [][]byte{data[:len(data)-10], append(bytes.Clone(data), "trailing"...)} {
		if be.name == "objectstore" {
			break // the Object Store's info fixes its size; its chunk test above covers it
		}
		be.corrupt(t, s, b.ID, bad, -1)
		if _, rc, err := s.OpenBinary(ctx, b.ID); err == nil {
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if !errors.Is(err, store.ErrIntegrity) || n >= int64(len(data)) {
				t.Errorf("%d stored bytes for %d: read %d, %v", len(bad), len(data), n, err)
			}
		} else if !errors.Is(err, store.ErrIntegrity) {
			t.Errorf("%d stored bytes for %d: open: %v", len(bad), len(data), err)
		}
	}
	be.corrupt(t, s, b.ID, data, -1)
	if _, got := readAll(t, s, b.ID); !bytes.Equal(got, data) {
		t.Fatal("restored object reads differently")
	}
}

func contractListRemove(t *testing.T, s binaries) {
	ctx := context.Background()
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("pdf-L-%d", i)
		want = append(want, id)
		if _, err := s.PutBinary(ctx, pdfBinary(id), []byte(id)); err != nil {
			t.Fatal(err)
		}
	}
	list := func() []string {
		var ids []string
		if err := s.ListBinaries(ctx, func(id string) error { ids = append(ids, id); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return ids
	}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if err := s.RemoveBinary(ctx, "pdf-L-2"); err != nil {
		t.Fatal(err)
	}
	if got := list(); !slices.Equal(got, slices.Delete(slices.Clone(want), 2, 3)) {
		t.Fatalf("after removing pdf-L-2: %v", got)
	}
	if _, err := s.BinaryInfo(ctx, "pdf-L-2"); !errors.Is(err, folio.ErrNotFound) {
		t.Fatalf("removed Binary: %v", err)
	}
	// Stop early.
	stop := errors.New("enough")
	n := 0
	if err := s.ListBinaries(ctx, func(string) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("stopping the listing: %v after %d", err, n)
	}
}

// BenchmarkBinaries writes and reads (checked against the SHA-256 as it
// streams) a 24 KB Binary, a typical report's PDF, and a 3.6 MB one, with
// each backend, side by side: the Object Store on an in-process
// nats-server, S3 on SeaweedFS (a separate process) over loopback HTTP.
func BenchmarkBinaries(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends(b) {
		s := be.open(b)
		for _, size := range []int{24 << 10, 3600 << 10} {
			data := make([]byte, size)
			rand.Read(data)
			id := fmt.Sprintf("pdf-BENCH-%d", size)
			if _, err := s.PutBinary(ctx, pdfBinary(id), data); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/read-%dKB", be.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					_, rc, err := s.OpenBinary(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, rc); err != nil {
						b.Fatal(err)
					}
					rc.Close()
				}
			})
			n := 0
			b.Run(fmt.Sprintf("%s/write-%dKB", be.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					n++
					data[0] = byte(n) // other bytes, a new id: a real write
					if _, err := s.PutBinary(ctx, pdfBinary(fmt.Sprintf("pdf-W%d-%d", size, n)), data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
