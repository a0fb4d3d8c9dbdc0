package queue

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/foliohealth/folio/broker"
)

var update = flag.Bool("update", false, "rewrite docs/nats/folio-users.conf and docs/nats/nsc-users.sh from RolePermissions")

// TestExampleServerConfig keeps the example configuration of docs/nats in
// step with the permissions the embedded server enforces.
func TestExampleServerConfig(t *testing.T) {
	for name, want := range map[string]string{
		"folio-users.conf": broker.ExampleServerAuth(RolePermissions),
		"nsc-users.sh":     broker.ExampleNSC(RolePermissions),
	} {
		path := filepath.Join("..", "docs", "nats", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s differs from RolePermissions: run go test ./queue -run TestExampleServerConfig -update and read the diff", path)
		}
	}
}
