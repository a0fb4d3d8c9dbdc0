package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
	"github.com/foliohealth/folio/queue"
)

// operatorMode is a decentralised (JWT) NATS set-up made for one test, as
// nsc and docs/nats/nsc-users.sh would make it: an operator, a system
// account, an account FOLIO with JetStream, and one user per role with the
// role's permissions, each in a .creds file.
type operatorMode struct {
	conf  string                 // nats-server configuration
	creds map[broker.Role]string // .creds file of each role
}

func newOperatorMode(t *testing.T, dir string, port int) *operatorMode {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	op, err := nkeys.CreateOperator()
	must(err)
	opPub, _ := op.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "folio-test"
	newAccount := func(name string, js bool) (nkeys.KeyPair, string, string) {
		kp, err := nkeys.CreateAccount()
		must(err)
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := ac.Encode(op)
		must(err)
		return kp, pub, tok
	}
	_, sysPub, sysJWT := newAccount("SYS", false)
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(op)
	must(err)
	acc, accPub, accJWT := newAccount("FOLIO", true)

	m := &operatorMode{creds: map[broker.Role]string{}}
	for _, r := range broker.Roles {
		if r == broker.RoleAdmin {
			continue
		}
		ukp, err := nkeys.CreateUser()
		must(err)
		upub, _ := ukp.PublicKey()
		useed, _ := ukp.Seed()
		uc := jwt.NewUserClaims(upub)
		uc.Name = r.User()
		p := queue.RolePermissions(r)
		uc.Permissions.Pub.Allow.Add(p.Publish...)
		uc.Permissions.Sub.Allow.Add(p.Subscribe...)
		tok, err := uc.Encode(acc)
		must(err)
		creds, err := jwt.FormatUserConfig(tok, useed)
		must(err)
		m.creds[r] = filepath.Join(dir, string(r)+".creds")
		must(os.WriteFile(m.creds[r], creds, 0o600))
	}
	opFile := filepath.Join(dir, "operator.jwt")
	must(os.WriteFile(opFile, []byte(opJWT), 0o600))
	m.conf = filepath.Join(dir, "operator.conf")
	text := fmt.Sprintf(`listen: 127.0.0.1:%d
max_payload: 20MB
operator: %q
system_account: %s
resolver: MEMORY
resolver_preload: {
  %s: %q
  %s: %q
}
jetstream { store_dir: %q }
`, port, opFile, sysPub, sysPub, sysJWT, accPub, accJWT, filepath.Join(dir, "store"))
	must(os.WriteFile(m.conf, []byte(text), 0o600))
	return m
}

// TestE2ENATSCreds runs folio with --nats-creds (user JWT and NKey seed)
// against a nats-server in operator mode whose users carry the roles'
// permissions, as nsc makes them: a worker, the API and a submitter each
// with its own .creds file; the nats CLI with the submitter's cannot read
// a Binary, with the API's can.
func TestE2ENATSCreds(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test of the folio binary: not in -short mode")
	}
	dir := t.TempDir()
	port := testutil.FreePort(t)
	om := newOperatorMode(t, dir, port)
	testutil.StartNATSProcess(t, testutil.MustBuild(t, testutil.NATSServer, false), om.conf, port)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	workerAddr, apiAddr, apiData := freeAddr(t), freeAddr(t), t.TempDir()
	env := testutil.CleanEnv()
	worker := startProc(t, "worker", env, "worker", "--nats-url", url, "--nats-creds", om.creds[broker.RoleWorker], "--workers", "1", "--addr", workerAddr)
	waitHTTPReady(t, worker, "http://"+workerAddr)
	api := startProc(t, "api", env, "api", "--nats-url", url, "--nats-creds", om.creds[broker.RoleAPI], "--addr", apiAddr, "--ops-addr", freeAddr(t), "--data", apiData)
	waitHTTPReady(t, api, "http://"+apiAddr)

	res := runFolio(t, "submit", "--wait", "--timeout", "60s", "--nats-url", url, "--nats-creds", om.creds[broker.RoleSubmitter],
		filepath.Join(fixturesDir, secretFixture))
	if res.code != 0 || !strings.Contains(res.stdout, `"status":"done"`) {
		t.Fatalf("folio submit --nats-creds: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	tok := runFolio(t, "token", "--data", apiData, "--scope", e2eScope)
	resp, body := fhirGet(t, "http://"+apiAddr, "/Binary/"+secretBinary, strings.TrimSpace(tok.stdout), "application/pdf")
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Fatalf("GET /Binary/%s from folio api: %s", secretBinary, resp.Status)
	}
	// The API's credentials cannot submit.
	res = runFolio(t, "submit", "--nats-url", url, "--nats-creds", om.creds[broker.RoleAPI], filepath.Join(fixturesDir, secretFixture))
	if res.code == 0 {
		t.Errorf("folio submit with the API's credentials: exit 0\n%s", res.stdout)
	}

	cli := newNATSCLI(t, "--server", url)
	as := func(r broker.Role) []string {
		return []string{"--creds", om.creds[r], "--inbox-prefix", r.InboxPrefix()}
	}
	stolen := filepath.Join(cli.dir, "stolen.pdf")
	cli.refused("submitter", as(broker.RoleSubmitter), "object", "get", "folio-binaries", secretBinary, "--output", stolen)
	cli.refused("no credentials", nil, "kv", "get", "folio-records", secretRecord, "--raw")
	got := filepath.Join(cli.dir, "api.pdf")
	cli.must(as(broker.RoleAPI), "object", "get", "folio-binaries", secretBinary, "--output", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, body) {
		t.Errorf("the API's credentials read %d bytes with the nats CLI, the endpoint served %d", len(b), len(body))
	}
	if _, err := os.Stat(stolen); err == nil {
		t.Error("the submitter's object get wrote a file")
	}
}
