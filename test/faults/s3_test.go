package faults

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/foliohealth/folio/internal/testutil"
)

// Fault modes of faultProxy.
const (
	proxyPass = iota
	proxy500
	proxy503
	proxySlow
)

// faultProxy stands between folio and the real S3 server (SeaweedFS) and
// answers, while told to, 500 InternalError or 503 SlowDown (S3's own
// error bodies) or forwards slowly; otherwise it forwards as it is. The
// Host header is kept, so SigV4 signatures still verify.
type faultProxy struct {
	mode    atomic.Int32
	faulted atomic.Int64 // requests answered with a fault or slowed
	addr    string
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // "connection refused" while SeaweedFS is down: expected
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, code string) {
			io.Copy(io.Discard, r.Body)
			p.faulted.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the fault test</Message></Error>`, code)
		}
		switch p.mode.Load() {
		case proxy500:
			fail(http.StatusInternalServerError, "InternalError")
		case proxy503:
			fail(http.StatusServiceUnavailable, "SlowDown")
		case proxySlow:
			p.faulted.Add(1)
			time.Sleep(700 * time.Millisecond) // a slow gateway: the fault itself, not a wait for a result
			rp.ServeHTTP(w, r)
		default:
			rp.ServeHTTP(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// s3Sums lists what the bucket holds under prefix: Binary id -> the
// SHA-256 of its folio metadata.
func s3Sums(t *testing.T, w *testutil.Weed, prefix string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := w.Client()
	out := map[string]string{}
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(w.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("listing the bucket: %v", err)
		}
		for _, o := range page.Contents {
			h, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(w.Bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("HEAD %s: %v", aws.ToString(o.Key), err)
			}
			out[strings.TrimPrefix(aws.ToString(o.Key), prefix)] = h.Metadata["sha256"]
		}
	}
	return out
}

// TestS3Faults keeps the Binaries in a real S3 server (SeaweedFS) behind a
// fault-injecting proxy, runs 2 worker processes and an api process against
// one external nats-server and, while jobs flow, SIGKILLs SeaweedFS and
// restarts it on the same data, has the endpoint answer 500 and then 503
// for a while, and slows it down. Every job must end done (or failed for
// its own reason), no Binary may be missing or stored for no job, and every
// Binary must read back intact through the api.
func TestS3Faults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite: not in -short mode")
	}
	weed := testutil.StartWeed(t, "folio")
	proxy := startFaultProxy(t, weed.S3)
	const prefix = "faults/"
	port := testutil.FreePorts(t, 1)[0]
	d := &deployment{t: t, replicas: 1, slots: 2, sec: newSecurity(t)}
	d.extraArgs = []string{"--binary-store", fmt.Sprintf("s3://%s/%s?endpoint=http://%s&path-style=true&timeout=10s", weed.Bucket, prefix, proxy.addr)}
	d.extraEnv = weed.Env()
	d.stored = func() map[string]string { return s3Sums(t, weed, prefix) }
	d.nodes = []*natsNode{newNATSNode(t, d.sec, "n1", port, 0, nil)}
	d.urls = d.nodes[0].url()
	d.nodes[0].start(t)
	waitJetStream(t, d.sec, d.urls, 60*time.Second)
	d.connect()
	for range 2 {
		d.startWorker()
	}
	d.startAPI()

	retries := func() int {
		n := 0
		for _, w := range append(d.retired, d.workers...) {
			n += w.count("job will be retried")
		}
		return n
	}
	// fault applies a fault until some worker has retried a job because of
	// it (or 30 s have passed: then the jobs simply ran through it).
	faultUntilRetried := func(name string, on, off func()) func() {
		return func() {
			before := retries()
			on()
			deadline := time.Now().Add(30 * time.Second)
			for retries() == before && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond) // polling with a deadline
			}
			if retries() > before {
				d.counts[name+": jobs retried while it lasted"] += retries() - before
			}
			off()
		}
	}
	jobs := goodJobs(t, loadGood(t), 200, 160)
	bad := badJobs(t, 200)
	jobs = append(jobs, bad[:min(len(bad), 6)]...)
	shuffle(jobs, 200)
	ph := phases(jobs, 4)
	started := time.Now()
	d.during("SeaweedFS SIGKILL + restart", ph[0], faultUntilRetried("SeaweedFS down", weed.Kill, weed.Start))
	d.during("S3 answers 500", ph[1], faultUntilRetried("S3 500", func() { proxy.mode.Store(proxy500) }, func() { proxy.mode.Store(proxyPass) }))
	d.during("S3 answers 503 SlowDown", ph[2], faultUntilRetried("S3 503", func() { proxy.mode.Store(proxy503) }, func() { proxy.mode.Store(proxyPass) }))
	d.during("S3 slow (700 ms a request)", ph[3], func() {
		proxy.mode.Store(proxySlow)
		testutil.PollUntil(t, time.Minute, "40 slowed S3 requests", func() bool { return proxy.faulted.Load() > 40 })
		proxy.mode.Store(proxyPass)
	})
	d.counts["S3 requests answered 500/503 or slowed"] = int(proxy.faulted.Load())
	d.finish("TestS3Faults", jobs, started, 4*time.Minute)
	// Through every error the faults caused, no credential reached a log.
	for _, p := range append(append(d.retired, d.workers...), d.apiProcs...) {
		if l := p.log.String(); strings.Contains(l, weed.SecretKey) || strings.Contains(l, weed.AccessKey) {
			t.Errorf("%s's log holds the S3 credentials", p.name)
		}
	}
}
