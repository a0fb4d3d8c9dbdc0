package broker

import (
	"strings"
	"testing"
)

// TestClientAuthOptions: what ClientAuth refuses before any connection.
func TestClientAuthOptions(t *testing.T) {
	for _, c := range []struct {
		name    string
		servers string
		a       ClientAuth
		wantErr string // "" for no error
	}{
		{"loopback without TLS", "nats://127.0.0.1:4222", ClientAuth{}, ""},
		{"localhost and ::1", "nats://localhost:4222,nats://[::1]:4222", ClientAuth{}, ""},
		{"host:port without scheme", "127.0.0.1:4222", ClientAuth{}, ""},
		{"remote without TLS", "nats://10.0.0.5:4222", ClientAuth{}, "not on this machine"},
		{"a name is remote", "nats://nats.internal:4222", ClientAuth{}, "not on this machine"},
		{"one remote in a cluster list", "nats://127.0.0.1:4222,nats://10.0.0.5:4222", ClientAuth{}, "10.0.0.5:4222"},
		{"remote with tls://", "tls://10.0.0.5:4222", ClientAuth{}, ""},
		{"remote with a CA", "nats://10.0.0.5:4222", ClientAuth{TLSCA: "ca.pem"}, ""},
		{"remote with a client certificate", "nats://10.0.0.5:4222", ClientAuth{TLSCert: "c.pem", TLSKey: "k.pem"}, ""},
		{"remote, insecure", "nats://10.0.0.5:4222", ClientAuth{Insecure: true}, ""},
		{"two credentials", "nats://127.0.0.1:4222", ClientAuth{Creds: "a.creds", User: "u"}, "give one of"},
		{"password without user", "nats://127.0.0.1:4222", ClientAuth{Password: "p"}, "needs --nats-user"},
		{"certificate without key", "nats://127.0.0.1:4222", ClientAuth{TLSCert: "c.pem"}, "go together"},
		{"missing seed file", "nats://127.0.0.1:4222", ClientAuth{NKey: "/nonexistent/seed.nk"}, "--nats-nkey"},
	} {
		_, err := c.a.Options(c.servers, RoleWorker)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.wantErr)
		}
	}
	if AllLoopback("nats://127.0.0.1:1,localhost:2") != true || AllLoopback("nats://127.0.0.1:1,nats://10.1.1.1:2") || AllLoopback("") {
		t.Error("AllLoopback")
	}
}
