// Package s3 keeps folio's Binaries in an S3-compatible bucket (AWS S3,
// MinIO, Ceph RGW, SeaweedFS, NetApp StorageGRID...): a store.Binaries
// backend that folio serve, worker and api use with
// --binary-store s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true.
// Records, indexes, jobs and statuses stay in NATS; only the bytes move.
//
// # Layout in the bucket
//
// One object per Binary, keyed PREFIX/<Binary id>, holding exactly the
// Binary's bytes, with the folio.Binary as base64 JSON in the user metadata
// folio-binary (and its SHA-256 in sha256, for people using an S3 tool).
//
// # Guarantees (those of store.Binaries)
//
// Objects are written once: PutBinary sends If-None-Match: * (a second
// write of an id is refused by the server with 412 and the stored Binary is
// returned), Content-MD5 and x-amz-checksum-sha256. It returns only after
// the server answered 200, which S3 gives once the object is durably
// stored, and after the SHA-256 was checked: by the server when it echoes
// the checksum, else by reading the object back and hashing it (which also
// catches a server that ignores If-None-Match and let another writer's
// bytes win). Reads are checked against the SHA-256 as they stream
// (store.VerifyReader).
//
// Credentials come from the AWS SDK's default chain: AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), the shared credentials and
// config files (AWS_PROFILE), web identity, or the instance's role. They
// are never part of the URL, and nothing here logs them.
//
// A server that ignores If-None-Match (SeaweedFS, MinIO, Ceph RGW and AWS
// honour it; TestSeaweedFS checks the one CI runs) lets a second writer of
// an id replace the object. The read-back (when the server does not echo
// the checksum) then hands that writer the stored Binary, but otherwise
// the replacement goes unnoticed until a read fails its SHA-256 check and
// is refused. Binary ids are deterministic per report version, so such a
// race rewrites the same bytes in practice; use a server with conditional
// writes.
//
// It does not create the bucket, set its retention (object lock) or
// lifecycle, nor delete anything but what RemoveBinary is asked to remove.
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/store"
)

// Config names the bucket and how to reach it.
type Config struct {
	// Bucket is the bucket's name; folio does not create it.
	Bucket string
	// Prefix is prepended to every Binary id ("" or ending in "/").
	Prefix string
	// Endpoint is the server's base URL (empty: AWS S3 of Region).
	Endpoint string
	// Region (empty: from AWS_REGION or the shared config, else us-east-1).
	Region string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET instead of
	// BUCKET.ENDPOINT (most servers other than AWS need it).
	PathStyle bool
	// CAFile is a PEM file of the CA(s) that signed the endpoint's
	// certificate (empty: the system's).
	CAFile string
	// Insecure allows an http:// endpoint that is not on this machine.
	Insecure bool
	// CallTimeout bounds every call but the streaming of a Binary's bytes
	// (30 s).
	CallTimeout time.Duration
}

// ParseURL parses --binary-store s3://BUCKET/PREFIX?endpoint=URL&region=R&
// path-style=true&ca=FILE&insecure=true&timeout=30s. Credentials in the URL
// are refused: they belong in the environment or the shared credentials
// file.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("s3: binary store URL: %w", err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return Config{}, errors.New("s3: binary store URL: want s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true")
	}
	if u.User != nil {
		// Not echoed: it may hold a secret.
		return Config{}, errors.New("s3: binary store URL: credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a shared credentials file (AWS_PROFILE) or an instance role")
	}
	cfg := Config{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path-style", "ca", "insecure", "timeout":
		default:
			return Config{}, fmt.Errorf("s3: binary store URL: unknown parameter %q (known: endpoint, region, path-style, ca, insecure, timeout)", k)
		}
	}
	cfg.Endpoint, cfg.Region, cfg.CAFile = q.Get("endpoint"), q.Get("region"), q.Get("ca")
	for _, b := range []struct {
		name string
		to   *bool
	}{{"path-style", &cfg.PathStyle}, {"insecure", &cfg.Insecure}} {
		if v := q.Get(b.name); v != "" {
			if *b.to, err = strconv.ParseBool(v); err != nil {
				return Config{}, fmt.Errorf("s3: binary store URL: %s=%q: want true or false", b.name, v)
			}
		}
	}
	if v := q.Get("timeout"); v != "" {
		if cfg.CallTimeout, err = time.ParseDuration(v); err != nil || cfg.CallTimeout <= 0 {
			return Config{}, fmt.Errorf("s3: binary store URL: timeout=%q: want a duration such as 30s", v)
		}
	}
	if cfg.Endpoint != "" {
		e, err := url.Parse(cfg.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return Config{}, fmt.Errorf("s3: binary store URL: endpoint=%q: want http(s)://HOST[:PORT]", cfg.Endpoint)
		}
		if e.User != nil {
			return Config{}, errors.New("s3: binary store URL: credentials do not go in the endpoint URL")
		}
		if e.Scheme == "http" && !cfg.Insecure && !loopback(e.Hostname()) {
			return Config{}, fmt.Errorf("s3: binary store URL: endpoint %s is plain http to another machine: Binaries would cross the network unencrypted; use https (ca= for a private CA), or give insecure=true", e.Host)
		}
	}
	return cfg, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Store keeps Binaries in one bucket under one prefix. It implements
// store.Binaries and is safe for concurrent use.
type Store struct {
	c       *awss3.Client
	bucket  string
	prefix  string
	timeout time.Duration
	// what names the store in errors: s3://bucket/prefix (no endpoint
	// query, no credentials).
	what string
}

var _ store.Binaries = (*Store)(nil)

// Open returns a Store over cfg's bucket, with credentials from the AWS
// SDK's default chain. It does not contact the server (see Ready).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 64
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		// folio checks SHA-256 itself; the SDK's default CRC32 trailers
		// (aws-chunked uploads) are not understood by every S3 server.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.CAFile != "" {
		// Instead of the system's CAs (and of AWS_CA_BUNDLE).
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3: CA file: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: AWS configuration: %w", err)
	}
	if ac.Region == "" {
		ac.Region = "us-east-1"
	}
	c := awss3.NewFromConfig(ac, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &Store{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix, timeout: cfg.CallTimeout,
		what: "s3://" + cfg.Bucket + "/" + cfg.Prefix}, nil
}

// String names the bucket and prefix (never credentials).
func (s *Store) String() string { return s.what }

func (s *Store) key(id string) *string { return aws.String(s.prefix + id) }

func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Ready checks that the bucket answers to these credentials.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if _, err := s.c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("s3: bucket %s: %w", s.bucket, err)
	}
	return nil
}

const (
	metaBinary = "folio-binary" // base64 JSON of the folio.Binary
	metaSHA256 = "sha256"       // hex, for people
)

// PutBinary stores data under b.ID once (see the package comment).
func (s *Store) PutBinary(ctx context.Context, b folio.Binary, data []byte) (*folio.Binary, error) {
	if !store.ValidID(b.ID) {
		return nil, fmt.Errorf("s3: storing binary %q: not a valid Binary id", b.ID)
	}
	sum256 := store.Describe(&b, data)
	sumMD5 := md5.Sum(data)
	meta, err := json.Marshal(&b)
	if err != nil {
		return nil, err
	}
	checksum := base64.StdEncoding.EncodeToString(sum256[:])
	cctx, cancel := s.call(ctx)
	out, err := s.c.PutObject(cctx, &awss3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            s.key(b.ID),
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(len(data))),
		ContentType:    aws.String(b.ContentType),
		ContentMD5:     aws.String(base64.StdEncoding.EncodeToString(sumMD5[:])),
		ChecksumSHA256: aws.String(checksum),
		IfNoneMatch:    aws.String("*"),
		Metadata:       map[string]string{metaBinary: base64.StdEncoding.EncodeToString(meta), metaSHA256: b.SHA256},
	})
	cancel()
	if isCode(err, "PreconditionFailed") || isCode(err, "ConditionalRequestConflict") {
		// The id holds bytes already (or another writer is storing them):
		// what is there stays. It must be readable whole.
		return s.stored(ctx, b.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("s3: storing binary %s in %s: %w", b.ID, s.what, err)
	}
	if out.ChecksumSHA256 != nil && *out.ChecksumSHA256 == checksum {
		return &b, nil // the server checked the SHA-256 of what it stored
	}
	// The server did not say it checked the SHA-256: read the object back.
	return s.stored(ctx, b.ID)
}

// stored reads a stored Binary whole, checking it, and returns its
// metadata: what PutBinary returns when the id held bytes already, or to
// check what it stored.
func (s *Store) stored(ctx context.Context, id string) (*folio.Binary, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	b, rc, err := s.OpenBinary(cctx, id)
	if err != nil {
		return nil, fmt.Errorf("s3: checking stored binary %s: %w", id, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, fmt.Errorf("s3: checking stored binary %s: %w", id, err)
	}
	return b, nil
}

// isCode reports an S3 error with the given code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return err != nil && errors.As(err, &ae) && ae.ErrorCode() == code
}

// notFound reports a missing key (GET: NoSuchKey; HEAD: 404 NotFound).
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf) || isCode(err, "NoSuchKey") || isCode(err, "NotFound")
}

// binaryOf decodes an object's folio.Binary and checks it against the
// object's length.
func binaryOf(id string, md map[string]string, length *int64) (*folio.Binary, error) {
	raw, err := base64.StdEncoding.DecodeString(md[metaBinary])
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("s3: binary %s: no folio-binary metadata: %w", id, store.ErrIntegrity)
	}
	var b folio.Binary
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("s3: binary %s: metadata: %v: %w", id, err, store.ErrIntegrity)
	}
	if b.ID != id {
		return nil, fmt.Errorf("s3: binary %s: metadata names Binary %s: %w", id, b.ID, store.ErrIntegrity)
	}
	if length != nil && *length != b.Size {
		return nil, fmt.Errorf("s3: binary %s: metadata says %d bytes, object has %d: %w", id, b.Size, *length, store.ErrIntegrity)
	}
	return &b, nil
}

// BinaryInfo returns a Binary's metadata, or folio.ErrNotFound.
func (s *Store) BinaryInfo(ctx context.Context, id string) (*folio.Binary, error) {
	if !store.ValidID(id) {
		return nil, folio.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	out, err := s.c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.key(id)})
	if notFound(err) {
		return nil, folio.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("s3: binary %s in %s: %w", id, s.what, err)
	}
	return binaryOf(id, out.Metadata, out.ContentLength)
}

// OpenBinary returns a Binary's metadata and a reader of its bytes checked
// against its SHA-256 as they pass (store.VerifyReader), or
// folio.ErrNotFound. The reader streams for as long as ctx allows.
func (s *Store) OpenBinary(ctx context.Context, id string) (*folio.Binary, io.ReadCloser, error) {
	if !store.ValidID(id) {
		return nil, nil, folio.ErrNotFound
	}
	out, err := s.c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.key(id)})
	if notFound(err) {
		return nil, nil, folio.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("s3: binary %s in %s: %w", id, s.what, err)
	}
	b, err := binaryOf(id, out.Metadata, out.ContentLength)
	if err != nil {
		out.Body.Close()
		return nil, nil, err
	}
	return b, store.VerifyReader(out.Body, b), nil
}

// ListBinaries calls fn with the id of every Binary under the prefix, in
// key order, until fn returns an error.
func (s *Store) ListBinaries(ctx context.Context, fn func(id string) error) error {
	p := awss3.NewListObjectsV2Paginator(s.c, &awss3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)})
	for p.HasMorePages() {
		cctx, cancel := s.call(ctx)
		page, err := p.NextPage(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("s3: listing %s: %w", s.what, err)
		}
		for _, o := range page.Contents {
			id := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if !store.ValidID(id) {
				continue // not folio's
			}
			if err := fn(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveBinary removes the object of a Binary: only what `folio binaries
// orphans --remove` calls, for an object no record names. On a bucket with
// object lock (versioned) it adds a delete marker: the bytes stay as a
// noncurrent version until their retention ends.
func (s *Store) RemoveBinary(ctx context.Context, id string) error {
	if !store.ValidID(id) {
		return folio.ErrNotFound
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	if _, err := s.c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: s.key(id)}); err != nil {
		return fmt.Errorf("s3: removing binary %s from %s: %w", id, s.what, err)
	}
	return nil
}
