package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/store"
)

func TestParseURL(t *testing.T) {
	cfg, err := ParseURL("s3://folio-bin/site-a?endpoint=https://s3.example.org:9000&region=eu-west-1&path-style=true&ca=/etc/ca.pem&timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Bucket: "folio-bin", Prefix: "site-a/", Endpoint: "https://s3.example.org:9000", Region: "eu-west-1",
		PathStyle: true, CAFile: "/etc/ca.pem", CallTimeout: 5 * time.Second}
	if cfg != want {
		t.Errorf("parsed %+v, want %+v", cfg, want)
	}
	if cfg, err := ParseURL("s3://b"); err != nil || cfg.Prefix != "" || cfg.Bucket != "b" {
		t.Errorf("s3://b: %+v, %v", cfg, err)
	}
	if cfg, err := ParseURL("s3://b/p/?endpoint=http://10.0.0.5:8333&insecure=true"); err != nil || cfg.Prefix != "p/" || !cfg.Insecure {
		t.Errorf("insecure: %+v, %v", cfg, err)
	}
	for raw, says := range map[string]string{
		"https://b/p":                            "want s3://",
		"s3:///p":                                "want s3://",
		"s3://AKIA:secret@b/p":                   "credentials do not go in the URL",
		"s3://b/p?endpoint=http://k:secret@h":    "credentials do not go in the endpoint",
		"s3://b/p?endpoint=ftp://h":              "want http(s)://",
		"s3://b/p?endpoint=http://10.0.0.5:8333": "plain http to another machine",
		"s3://b/p?path-style=maybe":              "want true or false",
		"s3://b/p?timeout=-1s":                   "want a duration",
		"s3://b/p?access_key=x":                  "unknown parameter",
	} {
		_, err := ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want an error saying %q", raw, err, says)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error repeats the secret: %v", raw, err)
		}
	}
}

func open(t *testing.T, raw string) *Store {
	t.Helper()
	cfg, err := ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSeaweedFS checks what the backend relies on in the real server: SigV4
// is required, If-None-Match: * on an existing key is refused with 412,
// and a Content-MD5 that does not match is refused; and it reaches the
// server over TLS with a private CA given by ca=.
func TestSeaweedFS(t *testing.T) {
	tf := testutil.MakeTLS(t, t.TempDir())
	w := testutil.StartWeedTLS(t, "folio", tf.ServerCert, tf.ServerKey)
	for _, kv := range w.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	c := w.Client()
	put := func(key, ifNoneMatch string, body []byte, md5 *string) error {
		in := &awss3.PutObjectInput{Bucket: aws.String("folio"), Key: aws.String(key), Body: bytes.NewReader(body), ContentMD5: md5}
		if ifNoneMatch != "" {
			in.IfNoneMatch = aws.String(ifNoneMatch)
		}
		_, err := c.PutObject(ctx, in)
		return err
	}
	if err := put("probe/a", "*", []byte("first"), nil); err != nil {
		t.Fatal(err)
	}
	if err := put("probe/a", "*", []byte("second"), nil); !isCode(err, "PreconditionFailed") {
		t.Errorf("If-None-Match: * on an existing key: %v, want PreconditionFailed", err)
	}
	if err := put("probe/b", "", []byte("body"), aws.String(base64.StdEncoding.EncodeToString(make([]byte, 16)))); err == nil {
		t.Errorf("a wrong Content-MD5 was accepted")
	}
	// Anonymous requests are refused.
	resp, err := http.Get(w.S3 + "/folio/probe/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET: %s, want 403", resp.Status)
	}

	// Over TLS: refused without the CA, served with it.
	data := []byte("%PDF over TLS")
	b := folio.Binary{ID: "pdf-TLS-1", ContentType: "application/pdf", Output: folio.OutputPDF, RecordID: "TLS-1"}
	if _, err := open(t, "s3://folio/tls?path-style=true&endpoint="+w.S3TLS).PutBinary(ctx, b, data); err == nil {
		t.Error("stored over TLS to a server whose CA is not trusted")
	}
	s := open(t, "s3://folio/tls?path-style=true&endpoint="+w.S3TLS+"&ca="+tf.CA)
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("ready over TLS with ca=: %v", err)
	}
	got, err := s.PutBinary(ctx, b, data)
	sum := sha256.Sum256(data)
	if err != nil || got.Size != int64(len(data)) || got.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("put over TLS: %+v, %v", got, err)
	}
	if _, err := open(t, "s3://folio/tls?path-style=true&endpoint="+w.S3TLS+"&ca="+tf.OtherCA).BinaryInfo(ctx, b.ID); err == nil {
		t.Error("read over TLS with the wrong CA")
	}

	// Wrong credentials: refused, and nothing of them in the error.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789")
	err = open(t, w.URL("auth")).Ready(ctx)
	if err == nil || strings.Contains(err.Error(), "not-the-secret") || strings.Contains(err.Error(), w.SecretKey) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, err := open(t, w.URL("auth")).BinaryInfo(ctx, "pdf-X-1"); err == nil || errors.Is(err, folio.ErrNotFound) {
		t.Errorf("wrong secret: BinaryInfo %v, want an error other than not found", err)
	}
}

// TestServerWithoutChecksums: against a server that does not echo
// x-amz-checksum-sha256 (a proxy in front of SeaweedFS strips it from the
// answers), PutBinary reads the object back and checks its SHA-256 before
// it returns.
func TestServerWithoutChecksums(t *testing.T) {
	w := testutil.StartWeed(t, "folio")
	for _, kv := range w.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	target, _ := url.Parse(w.S3)
	var gets, echoed atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Header.Get("X-Amz-Checksum-Sha256") != "" && r.Request.Method == http.MethodPut {
			echoed.Add(1)
		}
		r.Header.Del("X-Amz-Checksum-Sha256")
		if r.Request.Method == http.MethodGet {
			gets.Add(1)
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	defer srv.Close()
	s := open(t, "s3://folio/nochecksum?path-style=true&endpoint="+srv.URL)
	ctx := context.Background()
	data := bytes.Repeat([]byte("%PDF read back "), 5000)
	b, err := s.PutBinary(ctx, folio.Binary{ID: "pdf-RB-1", ContentType: "application/pdf", Output: folio.OutputPDF, RecordID: "RB-1"}, data)
	sum := sha256.Sum256(data)
	if err != nil || b.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("put: %+v, %v", b, err)
	}
	if echoed.Load() != 1 {
		t.Errorf("SeaweedFS echoed the checksum on %d PUTs, want 1 (what the stripping proxy is for)", echoed.Load())
	}
	if gets.Load() != 1 {
		t.Errorf("%d GETs after the PUT, want 1 (the read-back)", gets.Load())
	}
	// Directly against SeaweedFS, which echoes the checksum: no read-back.
	gets.Store(0)
	if _, err := open(t, w.URL("direct")).PutBinary(ctx, folio.Binary{ID: "pdf-RB-2", ContentType: "application/pdf", Output: folio.OutputPDF}, data); err != nil {
		t.Fatal(err)
	}
	if gets.Load() != 0 {
		t.Errorf("a GET went through the proxy for a direct write")
	}
}

// TestCorruptedOnDisk flips one byte of an object's data in SeaweedFS's
// volume files (its .dat files hold each object's bytes as written; random
// bytes are stored uncompressed) and reads it through the backend: the
// read never hands over the complete object. Whichever layer notices first
// (SeaweedFS's own CRC or folio's SHA-256), no complete wrong body is
// served.
func TestCorruptedOnDisk(t *testing.T) {
	w := testutil.StartWeed(t, "folio")
	for _, kv := range w.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s := open(t, w.URL("disk"))
	ctx := context.Background()
	data := make([]byte, 256<<10)
	rand.Read(data)
	if _, err := s.PutBinary(ctx, folio.Binary{ID: "pdf-DISK-1", ContentType: "application/octet-stream", Output: folio.OutputPDF}, data); err != nil {
		t.Fatal(err)
	}
	// Stop the server so that nothing caches the old bytes, corrupt, restart.
	w.Kill()
	needle := data[100<<10 : 100<<10+64]
	found := 0
	for _, f := range w.Path(".dat") {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(raw, needle); i >= 0 {
			raw[i+10] ^= 0x01
			if err := os.WriteFile(f, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			found++
		}
	}
	if found != 1 {
		t.Fatalf("the object's bytes are in %d volume files, want 1", found)
	}
	w.Start()
	_, rc, err := s.OpenBinary(ctx, "pdf-DISK-1")
	if err != nil {
		t.Logf("open of the corrupted object refused: %v", err)
		return
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err == nil || len(got) == len(data) {
		t.Fatalf("the corrupted object was read whole: %d bytes, error %v", len(got), err)
	}
	t.Logf("read %d of %d bytes, then: %v", len(got), len(data), err)
	if !errors.Is(err, store.ErrIntegrity) {
		t.Logf("(caught by SeaweedFS, not by the SHA-256 check)")
	}
}

// TestObjectLock runs the backend on a bucket with S3 Object Lock (WORM)
// and a default retention, as docs/README "Retention" describes: folio's
// create-only writes and checked reads work unchanged, and a removal (only
// `folio binaries orphans --remove` asks for one) leaves the locked bytes
// in place as a noncurrent version.
func TestObjectLock(t *testing.T) {
	w := testutil.StartWeed(t, "folio")
	for _, kv := range w.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	c := w.Client()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("worm"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("creating a bucket with object lock: %v", err)
	}
	if _, err := c.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{Bucket: aws.String("worm"),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeCompliance, Days: aws.Int32(1)}}}}); err != nil {
		t.Fatalf("default retention: %v", err)
	}
	s := open(t, "s3://worm/site?path-style=true&endpoint="+w.S3)
	data := []byte("%PDF kept for a day at least")
	b := folio.Binary{ID: "pdf-WORM-1", ContentType: "application/pdf", Output: folio.OutputPDF, RecordID: "WORM-1"}
	if _, err := s.PutBinary(ctx, b, data); err != nil {
		t.Fatalf("put on a locked bucket: %v", err)
	}
	if got, err := s.PutBinary(ctx, b, []byte("other bytes")); err != nil || got.Size != int64(len(data)) {
		t.Fatalf("second put on a locked bucket: %+v, %v", got, err)
	}
	if _, rc, err := s.OpenBinary(ctx, b.ID); err != nil {
		t.Fatal(err)
	} else {
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read: %q, %v", got, err)
		}
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: aws.String("site/" + b.ID)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("retention of the stored object: %s until %v", head.ObjectLockMode, aws.ToTime(head.ObjectLockRetainUntilDate))
	rmErr := s.RemoveBinary(ctx, b.ID)
	vs, err := c.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("worm"), Prefix: aws.String("site/" + b.ID)})
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, v := range vs.Versions {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("worm"), Key: v.Key, VersionId: v.VersionId})
		if err != nil {
			continue
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if bytes.Equal(got, data) {
			kept++
		}
	}
	t.Logf("remove: %v; %d versions, %d delete markers, the locked bytes kept in %d", rmErr, len(vs.Versions), len(vs.DeleteMarkers), kept)
	if kept != 1 {
		t.Errorf("the locked bytes are in %d versions after a removal, want 1", kept)
	}
}
