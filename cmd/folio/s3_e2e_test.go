package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/store"
	"github.com/foliohealth/folio/store/s3"
)

// submitFixtures submits every good fixture to srv and waits until each is done.
func submitFixtures(t *testing.T, srv *server, fixtures []string) []submitOut {
	t.Helper()
	lines, code := submitWait(t, srv, fixtures...)
	if code != 0 || len(lines) != len(fixtures) {
		t.Fatalf("folio submit: exit %d, %d lines for %d fixtures: %+v", code, len(lines), len(fixtures), lines)
	}
	for _, l := range lines {
		if l.Status != "done" || len(l.Binaries) == 0 {
			t.Fatalf("%s: %+v", l.Input, l)
		}
	}
	return lines
}

// served returns every Binary the submissions made as srv's FHIR endpoint
// serves it: id -> bytes.
func served(t *testing.T, srv *server, token string, lines []submitOut) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, l := range lines {
		for _, b := range l.Binaries {
			res, body := fhirGet(t, srv.base, "/Binary/"+b.ID, token, b.ContentType)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("Binary/%s: %s %s", b.ID, res.Status, body)
			}
			out[b.ID] = body
		}
	}
	return out
}

// s3Object returns the bytes and metadata of a key, read with the admin
// credentials behind folio's back.
func s3Object(t *testing.T, w *testutil.Weed, key string) ([]byte, map[string]string) {
	t.Helper()
	out, err := w.Client().GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(w.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data, out.Metadata
}

// s3Put stores data under key with metadata md, behind folio's back.
func s3Put(t *testing.T, w *testutil.Weed, key string, data []byte, md map[string]string) {
	t.Helper()
	if _, err := w.Client().PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(w.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), Metadata: md}); err != nil {
		t.Fatalf("PUT %s: %v", key, err)
	}
}

// notComplete checks that a GET of a Binary does not answer a complete 200
// with the given bytes' length.
func notComplete(t *testing.T, base, id, token, accept string, size int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/Binary/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", accept)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return // refused or cut: not a complete 200
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && err == nil && len(body) == size {
		t.Errorf("Binary/%s: a corrupted object was served as a complete 200 (%d bytes)", id, len(body))
	}
}

// objectStoreNames lists the folio-binaries Object Store of a serve.
func objectStoreNames(t *testing.T, srv *server) []string {
	t.Helper()
	nc := connectAs(t, srv, broker.RoleAdmin)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obs, err := js.ObjectStore(ctx, store.BucketBinaries)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := obs.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	return names
}

// TestE2EBinaryStoreS3 runs folio serve with its Binaries in a real S3
// server (SeaweedFS) beside one with the Object Store: every fixture's
// Binaries are served byte-identical, kept in the bucket and not in NATS;
// Range and conditional reads work; an object corrupted in the bucket is
// never served as a complete 200. Then the Object Store deployment moves:
// it is restarted on an empty S3 prefix (reads fall back to the Object
// Store), folio binaries copy copies (and a second run copies nothing), and
// every Binary reads the same. Last, folio binaries orphans finds and
// removes an object no record names.
func TestE2EBinaryStoreS3(t *testing.T) {
	weed := testutil.StartWeed(t, "folio")
	for _, kv := range weed.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // folio serve inherits them (CleanEnv keeps AWS_*)
	}
	fixtures := goodFixtures(t)
	objSrv := startServe(t)
	s3Srv := startServe(t, "--binary-store", weed.URL("e2e"))
	scope := "user/Binary.read user/DocumentReference.read"
	objTok, s3Tok := tokenFor(t, objSrv, "--scope", scope), tokenFor(t, s3Srv, "--scope", scope)

	want := served(t, objSrv, objTok, submitFixtures(t, objSrv, fixtures))
	// One PDF is corrupted in the bucket before anything reads it.
	var victim string
	for id := range want {
		if strings.HasPrefix(id, "pdf-") && (victim == "" || id < victim) {
			victim = id
		}
	}
	lines := submitFixtures(t, s3Srv, fixtures)
	good, md := s3Object(t, weed, "e2e/"+victim)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0x01
	s3Put(t, weed, "e2e/"+victim, bad, md)
	notComplete(t, s3Srv.base, victim, s3Tok, "application/pdf", len(good))
	s3Put(t, weed, "e2e/"+victim, good, md) // repaired by hand

	got := served(t, s3Srv, s3Tok, lines)
	if len(got) != len(want) {
		t.Fatalf("%d Binaries with S3, %d with the Object Store", len(got), len(want))
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !bytes.Equal(got[id], want[id]) {
			t.Errorf("Binary/%s: %d bytes with S3, %d different bytes with the Object Store", id, len(got[id]), len(want[id]))
		}
		data, md := s3Object(t, weed, "e2e/"+id)
		if !bytes.Equal(data, want[id]) || md["sha256"] == "" {
			t.Errorf("bucket object e2e/%s: %d bytes, metadata %v", id, len(data), md)
		}
	}
	t.Logf("%d Binaries of %d fixtures served byte-identical from S3 and the Object Store", len(ids), len(fixtures))
	if names := objectStoreNames(t, s3Srv); len(names) != 0 {
		t.Errorf("the S3 deployment's Object Store holds %d Binaries: %v", len(names), names)
	}

	// Range and conditional requests, and the cache, over S3.
	res, body := fhirGet(t, s3Srv.base, "/Binary/"+victim, s3Tok, "application/pdf")
	etag := res.Header.Get("ETag")
	if res.StatusCode != 200 || etag == "" || !bytes.Equal(body, good) {
		t.Fatalf("Binary/%s after the repair: %s, etag %q, %d bytes", victim, res.Status, etag, len(body))
	}
	req, _ := http.NewRequest(http.MethodGet, s3Srv.base+"/Binary/"+victim, nil)
	req.Header.Set("Authorization", "Bearer "+s3Tok)
	req.Header.Set("Accept", "application/pdf")
	req.Header.Set("Range", "bytes=100-1099")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, good[100:1100]) {
		t.Errorf("Range bytes=100-1099: %s, %d bytes (equal: %v)", resp.Status, len(part), bytes.Equal(part, good[100:min(1100, len(good))]))
	}
	if r := conditionalGet(t, s3Srv, "/Binary/"+victim, s3Tok, "application/pdf", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: %s, want 304", etag, r.Status)
	}
	// Unauthorised reads stay refused with S3 behind.
	if r, _ := fhirGet(t, s3Srv.base, "/Binary/"+victim, "", "application/pdf"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("Binary read without a token: %s, want 401", r.Status)
	}

	// Moving the Object Store deployment: restart on an empty prefix, the
	// Binaries are read from the Object Store meanwhile; copy; copy again.
	work := filepath.Dir(objSrv.data)
	addr, natsAddr := strings.TrimPrefix(objSrv.base, "http://"), strings.TrimPrefix(objSrv.natsURL, "nats://")
	if code := objSrv.stop(t); code != 0 {
		t.Fatalf("folio serve exited %d", code)
	}
	moved := weed.URL("moved")
	objSrv = startServeIn(t, work, addr, natsAddr, "--binary-store", moved)
	check := func(when string) {
		for _, id := range ids {
			res, body := fhirGet(t, objSrv.base, "/Binary/"+id, objTok, "")
			if res.StatusCode != 200 || !bytes.Equal(body, want[id]) {
				t.Errorf("%s: Binary/%s: %s, %d bytes (want %d)", when, id, res.Status, len(body), len(want[id]))
			}
		}
	}
	check("switched, nothing copied yet")
	copyArgs := []string{"binaries", "copy", "--to", moved, "--nats-url", objSrv.natsURL, "--data", objSrv.data}
	r := runFolio(t, copyArgs...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, itoa(len(ids))+" copied, 0 already there") {
		t.Fatalf("folio binaries copy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	check("copied")
	for _, id := range ids {
		if data, _ := s3Object(t, weed, "moved/"+id); !bytes.Equal(data, want[id]) {
			t.Errorf("moved/%s: %d bytes, want %d", id, len(data), len(want[id]))
		}
	}
	// Resumable: what is there is checked, not copied again; a missing one is.
	if _, err := weed.Client().DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: aws.String(weed.Bucket), Key: aws.String("moved/" + ids[0])}); err != nil {
		t.Fatal(err)
	}
	r = runFolio(t, copyArgs...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "1 copied, "+itoa(len(ids)-1)+" already there") {
		t.Fatalf("folio binaries copy again: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// A destination that holds other bytes is a conflict, never overwritten.
	_, md1 := s3Object(t, weed, "moved/"+ids[1])
	s3Put(t, weed, "moved/"+ids[1], []byte("other bytes"), md1)
	r = runFolio(t, copyArgs...)
	if r.code != 1 || !strings.Contains(r.stderr, ids[1]) || !strings.Contains(r.stderr, "do not match") {
		t.Errorf("copy onto other bytes: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if data, _ := s3Object(t, weed, "moved/"+ids[1]); string(data) != "other bytes" {
		t.Errorf("copy overwrote moved/%s", ids[1])
	}

	// Orphans: an object no record names (a job that failed after storing
	// it), stored two hours ago.
	cfg, err := s3.ParseURL(weed.URL("e2e"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutBinary(context.Background(), folio.Binary{ID: "pdf-ORPHAN-1", ContentType: "application/pdf", Output: folio.OutputPDF,
		ReportID: "ORPHAN", Version: 1, RecordID: "ORPHAN-1", JobID: "job-failed", Created: time.Now().Add(-2 * time.Hour)}, []byte("%PDF orphan")); err != nil {
		t.Fatal(err)
	}
	orphanArgs := []string{"binaries", "orphans", "--binary-store", weed.URL("e2e"), "--older-than", "1h", "--nats-url", s3Srv.natsURL, "--data", s3Srv.data}
	r = runFolio(t, orphanArgs...)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "pdf-ORPHAN-1\t") || !strings.Contains(r.stdout, "no record ORPHAN-1") {
		t.Fatalf("folio binaries orphans: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runFolio(t, append(orphanArgs, "--remove")...)
	if r.code != 0 || !strings.Contains(r.stderr, "1 removed") {
		t.Fatalf("folio binaries orphans --remove: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := st.BinaryInfo(context.Background(), "pdf-ORPHAN-1"); !errors.Is(err, folio.ErrNotFound) {
		t.Errorf("the orphan is still there: %v", err)
	}
	if r = runFolio(t, orphanArgs...); r.code != 0 || r.stdout != "" {
		t.Errorf("orphans after removal: exit %d\n%s", r.code, r.stdout)
	}
	// Credentials never reach a log.
	for name, log := range map[string]string{"S3 serve": s3Srv.log.String(), "moved serve": objSrv.log.String()} {
		if strings.Contains(log, weed.SecretKey) || strings.Contains(log, weed.AccessKey) {
			t.Errorf("the %s log holds the S3 credentials", name)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
