package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/internal/testutil"
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
