package testutil

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSCLI returns the path of the nats CLI (natscli): from PATH, else
// GOPATH/bin. A test that needs it fails without it: .ci/run installs it
// (go install github.com/nats-io/natscli/nats@v0.5.0).
func NATSCLI(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "nats")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("the nats CLI is not installed: go install github.com/nats-io/natscli/nats@v0.5.0 (.ci/run does)")
	return ""
}

// NATSCLIEnv is an environment for the nats CLI with no NATS_* variables
// and a home of its own, so that no context or setting of the machine's
// user changes what it does.
func NATSCLIEnv(t testing.TB) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range CleanEnv() {
		if strings.HasPrefix(kv, "NATS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
}

// TLSFiles are PEM files made for one test: a CA, a server certificate for
// 127.0.0.1, ::1 and localhost, and a client certificate, both signed by
// the CA.
type TLSFiles struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	// OtherCA is a CA that signed none of them.
	OtherCA string
}

// MakeTLS writes a fresh TLSFiles set (ECDSA P-256, valid for a day) into
// dir.
func MakeTLS(t testing.TB, dir string) TLSFiles {
	t.Helper()
	f := TLSFiles{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
		OtherCA: filepath.Join(dir, "other-ca.pem"),
	}
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	template := func(cn string) *x509.Certificate {
		serial++
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"folio tests"}},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
		}
	}
	writePEM := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	makeCA := func(path, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
		key := newKey()
		tmpl := template(cn)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(path, "CERTIFICATE", der)
		return cert, key
	}
	ca, caKey := makeCA(f.CA, "folio test CA")
	makeCA(f.OtherCA, "another CA")
	leaf := func(certPath, keyPath, cn string, usage x509.ExtKeyUsage, ips []net.IP, names []string) {
		key := newKey()
		tmpl := template(cn)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.IPAddresses, tmpl.DNSNames = ips, names
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(certPath, "CERTIFICATE", der)
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(keyPath, "PRIVATE KEY", kder)
	}
	leaf(f.ServerCert, f.ServerKey, "nats-server", x509.ExtKeyUsageServerAuth,
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"})
	leaf(f.ClientCert, f.ClientKey, "folio-client", x509.ExtKeyUsageClientAuth, nil, nil)
	return f
}

// NATSProcess is a nats-server running as a separate process.
type NATSProcess struct {
	Port int
	Cmd  *exec.Cmd
	// Name is the server_name of a cluster node (StartNATSCluster).
	Name   string
	log    *SyncBuffer
	exited chan struct{}
}

// Stop shuts the server down (SIGTERM, SIGKILL after 30 s) and waits until
// it has exited.
func (p *NATSProcess) Stop(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Logf("nats-server %s: SIGTERM: %v", p.Name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Log returns what the server has written so far.
func (p *NATSProcess) Log() string { return p.log.String() }

// SyncBuffer collects what a child process writes (stdout and stderr) for
// a test that reads it while the process runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *SyncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String returns what was written so far.
func (w *SyncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// StartNATSProcess starts the nats-server executable bin (see Build and
// NATSServer) with the configuration file conf and extra environment
// variables env (a configuration's $VARIABLES may come from them), waits
// until it greets clients on port, and kills it when the test ends.
func StartNATSProcess(t testing.TB, bin, conf string, port int, env ...string) *NATSProcess {
	t.Helper()
	p := &NATSProcess{Port: port, log: &SyncBuffer{}, exited: make(chan struct{})}
	p.Cmd = exec.Command(bin, "-c", conf)
	p.Cmd.Env = append(CleanEnv(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.log, p.log
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := p.exited
	go func() { p.Cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		p.Cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("nats-server log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-exited:
			t.Fatalf("nats-server exited before greeting clients:\n%s", p.log.String())
		default:
		}
		if greets(port) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not greeting clients on port %d after a minute:\n%s", port, p.log.String())
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// greets reports whether a server on the loopback port sends its INFO.
func greets(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}

// StartNATSCluster starts n nats-server processes of the executable bin
// (see Build and NATSServer), clustered over loopback routes, each with
// JetStream on a store of its own under a temporary directory. Their
// server names are n1, n2, ...; conf is added to each configuration (an
// authorization block, max_payload). It returns the servers and their
// client URLs joined with commas, once every server greets clients; use
// WaitJetStream before creating streams.
func StartNATSCluster(t testing.TB, bin string, n int, conf string) ([]*NATSProcess, string) {
	t.Helper()
	ports := FreePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	var procs []*NATSProcess
	var urls []string
	for i := range n {
		dir := t.TempDir()
		name := fmt.Sprintf("n%d", i+1)
		text := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n}\n"+
			"cluster {\n  name: folio-test\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n%s",
			name, ports[i], filepath.Join(dir, "jetstream"), ports[n+i], strings.Join(routes, ", "), conf)
		path := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		p := StartNATSProcess(t, bin, path, ports[i])
		p.Name = name
		procs = append(procs, p)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	return procs, strings.Join(urls, ",")
}

// WaitJetStream waits, at most d, until urls answer a JetStream request
// (in a cluster: until the meta group has a leader), connecting with opts.
func WaitJetStream(t testing.TB, urls string, d time.Duration, opts ...nats.Option) {
	t.Helper()
	PollUntil(t, d, "JetStream answering at "+urls, func() bool {
		nc, err := nats.Connect(urls, append(opts, nats.Timeout(time.Second))...)
		if err != nil {
			return false
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = js.AccountInfo(ctx)
		return err == nil
	})
}
