package faults

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/internal/testutil"
)

// security is a deployment's NATS security, as docs/SECURITY.md sets it up:
// TLS with client certificates (made for the test) and one user per role
// from docs/nats/folio-users.conf as shipped, each folio process with its
// own role's password.
type security struct {
	tls       testutil.TLSFiles
	passwords map[broker.Role]string
	users     []byte // docs/nats/folio-users.conf
}

func newSecurity(t *testing.T) *security {
	t.Helper()
	users, err := os.ReadFile("../../docs/nats/folio-users.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := &security{tls: testutil.MakeTLS(t, t.TempDir()), passwords: map[broker.Role]string{}, users: users}
	for _, r := range broker.Roles {
		b := make([]byte, 16)
		rand.Read(b)
		s.passwords[r] = hex.EncodeToString(b)
	}
	return s
}

// serverConf is the TLS block and the users' include of a server's
// configuration (folio-users.conf must be next to it).
func (s *security) serverConf() string {
	return fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n  timeout: 5\n}\ninclude ./folio-users.conf\n",
		s.tls.ServerCert, s.tls.ServerKey, s.tls.CA)
}

// serverEnv is the environment of a nats-server: the users' passwords.
func (s *security) serverEnv() []string {
	env := testutil.CleanEnv()
	for _, r := range broker.Roles {
		env = append(env, r.PasswordEnv()+"="+s.passwords[r])
	}
	return env
}

// folioArgs are the connection flags of a folio process of role.
func (s *security) folioArgs(role broker.Role) []string {
	return []string{"--nats-user", role.User(), "--nats-tls-ca", s.tls.CA,
		"--nats-tls-cert", s.tls.ClientCert, "--nats-tls-key", s.tls.ClientKey}
}

// folioEnv is the environment of a folio process of role: its password.
func (s *security) folioEnv(role broker.Role) []string {
	return append(testutil.CleanEnv(), "FOLIO_NATS_PASSWORD="+s.passwords[role])
}

// options are the connection options of the test's own clients (admin).
func (s *security) options() []nats.Option {
	return []nats.Option{
		nats.UserInfo(broker.RoleAdmin.User(), s.passwords[broker.RoleAdmin]),
		nats.RootCAs(s.tls.CA), nats.ClientCert(s.tls.ClientCert, s.tls.ClientKey),
	}
}
