package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryStoreUsage: a malformed --binary-store (or FOLIO_BINARY_STORE,
// or binaries --to) is a usage error (exit 2) of serve, worker, api and
// binaries, found with the flags, before anything starts (no data
// directory, no NATS connection), and a secret in the URL is not echoed.
func TestBinaryStoreUsage(t *testing.T) {
	const secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRET"
	bad := []struct{ value, want string }{
		{"http://bucket/prefix", "want s3://"},
		{"s3://AKIAEXAMPLE:" + secret + "@bucket/prefix?endpoint=http://127.0.0.1:1", "credentials do not go in the URL"},
		{"s3://bucket/prefix?endpont=http://127.0.0.1:1", `unknown parameter "endpont"`},
		{"s3://bucket/prefix?endpoint=http://s3.example.org", "plain http to another machine"},
		{"s3://bucket/prefix?path-style=maybe", "path-style"},
	}
	for _, cmd := range []string{"serve", "worker", "api", "binaries orphans", "binaries copy"} {
		for _, viaEnv := range []bool{false, true} {
			if viaEnv && strings.HasPrefix(cmd, "binaries copy") {
				continue // --to has no FOLIO_BINARY_STORE
			}
			for _, b := range bad {
				data := filepath.Join(t.TempDir(), "data")
				// Port 1 on loopback: nothing answers there, so a command that
				// got past the flags would fail to connect (exit 1), not exit 2.
				args := append(strings.Fields(cmd), "--data", data, "--nats-url", "nats://127.0.0.1:1")
				if cmd == "serve" {
					args = []string{"serve", "--data", data, "--addr", freeAddr(t), "--ops-addr", freeAddr(t), "--nats-listen", freeAddr(t), "--workers", "1"}
				}
				flagName := "--binary-store"
				if cmd == "binaries copy" {
					flagName = "--to"
				}
				t.Setenv("FOLIO_BINARY_STORE", "")
				os.Unsetenv("FOLIO_BINARY_STORE")
				if viaEnv {
					t.Setenv("FOLIO_BINARY_STORE", b.value)
				} else {
					args = append(args, flagName, b.value)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				var stdout, stderr bytes.Buffer
				code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
				cancel()
				name := cmd + " " + flagName + "=" + b.value
				if viaEnv {
					name = cmd + " FOLIO_BINARY_STORE=" + b.value
				}
				if code != exitUsage {
					t.Errorf("%s: exit %d, want %d (usage)\nstderr: %s", name, code, exitUsage, stderr.String())
					continue
				}
				if !strings.Contains(stderr.String(), b.want) {
					t.Errorf("%s: stderr does not say %q:\n%s", name, b.want, stderr.String())
				}
				if strings.Contains(stderr.String()+stdout.String(), secret) {
					t.Errorf("%s: the secret in the URL was echoed:\n%s", name, stderr.String())
				}
				if _, err := os.Stat(data); !os.IsNotExist(err) {
					t.Errorf("%s: the data directory was created (something started): %v", name, err)
				}
			}
		}
	}
}
