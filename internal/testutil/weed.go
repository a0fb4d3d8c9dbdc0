package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WeedVersion is the SeaweedFS module version the tests run against; .ci/run
// builds its weed command once per machine as /usr/local/bin/weed-<version>.
const WeedVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// WeedBin returns the path of SeaweedFS's weed command: $FOLIO_WEED, else
// weed-<WeedVersion> or weed in PATH. A test that needs it fails without
// it (never skips): .ci/run builds and installs it.
func WeedBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FOLIO_WEED"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("FOLIO_WEED=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"weed-" + WeedVersion, "weed"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("SeaweedFS's weed command is not installed (looked for $FOLIO_WEED, weed-%s and weed in PATH): "+
		"build it as .ci/run does (go mod download github.com/seaweedfs/seaweedfs@%s, go build ./weed in a copy)", WeedVersion, WeedVersion)
	return ""
}

// Weed is a SeaweedFS `weed mini` (master, volume server, filer and S3
// gateway in one process) on loopback ports, serving one bucket over S3
// with SigV4 authentication. Kill and Start stop and restart it on the
// same directory and ports, for fault tests; it is killed when the test
// ends.
type Weed struct {
	Dir    string // data directory (volumes, filer store)
	Bucket string
	// S3 is the S3 endpoint, http://127.0.0.1:PORT.
	S3 string
	// S3TLS is the HTTPS S3 endpoint (StartWeedTLS), https://127.0.0.1:PORT.
	S3TLS string
	// AccessKey and SecretKey are the admin identity's credentials.
	AccessKey, SecretKey string

	t       testing.TB
	bin     string
	ports   [4]int // master, volume, filer, s3 (HTTP; gRPC is +10000)
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *SyncBuffer
	stopped bool

	httpsPort       int
	tlsCert, tlsKey string
}

// weedGRPCOffset is what SeaweedFS adds to each HTTP port for its gRPC port.
const weedGRPCOffset = 10000

// weedPorts returns 4 free loopback ports below 55535 whose port+10000 is
// free too.
func weedPorts(t testing.TB) [4]int {
	t.Helper()
	var ports [4]int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	listen := func(port int) net.Listener {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return nil
		}
		return l
	}
	n := 0
	for tries := 0; n < len(ports); tries++ {
		if tries > 1000 {
			t.Fatal("no free port pairs (port, port+10000) for SeaweedFS")
		}
		l := listen(0)
		if l == nil {
			t.Fatal("no free loopback port")
		}
		p := l.Addr().(*net.TCPAddr).Port
		if p >= 65535-weedGRPCOffset {
			l.Close()
			// The kernel hands out high ports: try one in the low range.
			var b [2]byte
			rand.Read(b[:])
			p = 20000 + (int(b[0])<<8|int(b[1]))%35000
			if l = listen(p); l == nil {
				continue
			}
		}
		g := listen(p + weedGRPCOffset)
		if g == nil {
			l.Close()
			continue
		}
		held = append(held, l, g)
		ports[n] = p
		n++
	}
	return ports
}

// StartWeed starts `weed mini` in a temporary directory with a bucket
// named bucket and random admin credentials, and waits until its S3
// gateway stores and reads an object.
func StartWeed(t testing.TB, bucket string) *Weed {
	t.Helper()
	return startWeed(t, bucket, "", "")
}

// StartWeedTLS is StartWeed with its S3 gateway also serving HTTPS (S3TLS)
// with the PEM certificate and key given (see MakeTLS).
func StartWeedTLS(t testing.TB, bucket, cert, key string) *Weed {
	t.Helper()
	return startWeed(t, bucket, cert, key)
}

func startWeed(t testing.TB, bucket, certFile, keyFile string) *Weed {
	t.Helper()
	key := make([]byte, 20)
	rand.Read(key)
	w := &Weed{
		Dir: t.TempDir(), Bucket: bucket,
		AccessKey: "FOLIOTEST" + strings.ToUpper(hex.EncodeToString(key[:6])),
		SecretKey: hex.EncodeToString(key),
		t:         t, bin: WeedBin(t), ports: weedPorts(t), log: &SyncBuffer{},
	}
	w.S3 = fmt.Sprintf("http://127.0.0.1:%d", w.ports[3])
	if certFile != "" {
		w.tlsCert, w.tlsKey, w.httpsPort = certFile, keyFile, FreePort(t)
		w.S3TLS = fmt.Sprintf("https://127.0.0.1:%d", w.httpsPort)
	}
	t.Cleanup(func() {
		w.Kill()
		if t.Failed() {
			t.Logf("weed log (last 8 KB):\n%s", tail(w.log.String(), 8<<10))
		}
	})
	// A port found free may be taken by another test before weed binds
	// it: then weed exits, and it is started again on other ports.
	for attempt := 1; ; attempt++ {
		err := w.start()
		if err == nil {
			return w
		}
		if !errors.Is(err, errWeedExited) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("weed mini exited at start (attempt %d; a port taken meanwhile?); again on other ports", attempt)
		w.ports = weedPorts(t)
		w.S3 = fmt.Sprintf("http://127.0.0.1:%d", w.ports[3])
		if w.tlsCert != "" {
			w.httpsPort = FreePort(t)
			w.S3TLS = fmt.Sprintf("https://127.0.0.1:%d", w.httpsPort)
		}
		w.log, w.Dir = &SyncBuffer{}, t.TempDir()
	}
}

// errWeedExited is start's error when the server exits before serving.
var errWeedExited = errors.New("weed mini exited before serving S3")

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Env returns the AWS environment variables of the admin identity, for a
// child process (folio) that talks to this server.
func (w *Weed) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + w.AccessKey, "AWS_SECRET_ACCESS_KEY=" + w.SecretKey, "AWS_REGION=us-east-1"}
}

// URL returns folio's --binary-store URL for the bucket under prefix.
func (w *Weed) URL(prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&path-style=true", w.Bucket, prefix, w.S3)
}

// Log returns what the server has written so far.
func (w *Weed) Log() string { return w.log.String() }

// Start starts the server (again, after Kill) on its directory and ports
// and waits until S3 answers, failing the test after two minutes.
func (w *Weed) Start() {
	w.t.Helper()
	if w.cmd != nil && !w.stopped {
		return
	}
	if err := w.start(); err != nil {
		w.t.Fatal(err)
	}
}

// start starts the server and waits until S3 answers; it returns an error
// if the server exits first (errWeedExited) or does not answer within two
// minutes.
func (w *Weed) start() error {
	args := []string{"mini",
		"-dir=" + w.Dir, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		fmt.Sprint("-master.port=", w.ports[0]), fmt.Sprint("-volume.port=", w.ports[1]),
		fmt.Sprint("-filer.port=", w.ports[2]), fmt.Sprint("-s3.port=", w.ports[3]),
		"-bucket=" + w.Bucket,
		// Nothing else listens, nothing calls home.
		"-webdav=false", "-admin.ui=false", "-admin.port.legacy=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-master.telemetry=false",
	}
	if w.tlsCert != "" {
		args = append(args, fmt.Sprint("-s3.port.https=", w.httpsPort), "-s3.cert.file="+w.tlsCert, "-s3.key.file="+w.tlsKey)
	}
	w.cmd = exec.Command(w.bin, args...)
	w.cmd.Env = append(CleanEnv(), "AWS_ACCESS_KEY_ID="+w.AccessKey, "AWS_SECRET_ACCESS_KEY="+w.SecretKey)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	w.cmd.Dir = w.Dir
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		return fmt.Errorf("starting weed: %v", err)
	}
	w.stopped = false
	w.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(w.cmd, w.exited)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-w.exited:
			w.stopped = true
			return fmt.Errorf("%w:\n%s", errWeedExited, tail(w.log.String(), 8<<10))
		default:
		}
		if w.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("weed mini not serving S3 on %s after two minutes:\n%s", w.S3, tail(w.log.String(), 8<<10))
		}
		time.Sleep(200 * time.Millisecond) // polling with a deadline
	}
}

// answers reports whether the S3 gateway refuses an anonymous request with
// AccessDenied (it is up and authenticating) and the bucket exists.
func (w *Weed) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, w.S3+"/"+w.Bucket+"/.testutil-probe", strings.NewReader("probe"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		return false
	}
	return w.signedProbe(ctx)
}

// Kill kills the server (SIGKILL, no shutdown) and waits until it is gone.
func (w *Weed) Kill() {
	if w.cmd == nil || w.stopped {
		return
	}
	syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	<-w.exited
	w.stopped = true
}

// Path returns the files under the data directory whose names end in
// suffix (e.g. ".dat", the volume files).
func (w *Weed) Path(suffix string) []string {
	var out []string
	filepath.WalkDir(w.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// PID returns the server's process id (0 when it is not running).
func (w *Weed) PID() int {
	if w.cmd == nil || w.stopped {
		return 0
	}
	return w.cmd.Process.Pid
}
