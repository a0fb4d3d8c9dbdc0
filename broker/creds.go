package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Credentials of the embedded server: one NKey seed file per role under
// DATA/nats-auth, created on first start with mode 0600 (the directory
// 0700). Any process that can read a seed file acts as that role.
const authDirName = "nats-auth"

// CredentialsDir is the directory of the embedded server's NKey seed files
// for data directory dataDir.
func CredentialsDir(dataDir string) string { return filepath.Join(dataDir, authDirName) }

// NKeyFile is the seed file of role for data directory dataDir, usable
// as `nats --nkey FILE`.
func NKeyFile(dataDir string, role Role) string {
	return filepath.Join(CredentialsDir(dataDir), string(role)+".nk")
}

// ensureCredentials creates the seed file of every role under dataDir
// that does not exist yet and returns each role's public key.
func ensureCredentials(dataDir string) (map[Role]string, error) {
	dir := CredentialsDir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	keys := map[Role]string{}
	for _, r := range Roles {
		path := NKeyFile(dataDir, r)
		seed, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			seed, err = createSeed(path)
		}
		if err != nil {
			return nil, err
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("%s: not a user seed", path)
		}
		keys[r] = pub
		kp.Wipe()
	}
	return keys, nil
}

// createSeed writes a new user NKey seed to path, mode 0600, never
// replacing a file that appeared meanwhile.
func createSeed(path string) ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return seed, f.Close()
}

// EmbeddedOptions returns the connection options that authenticate as
// role to the embedded server of data directory dataDir (its seed file
// and the role's inbox prefix). It fails if the server has never started
// there.
func EmbeddedOptions(dataDir string, role Role) ([]nats.Option, error) {
	path := NKeyFile(dataDir, role)
	opt, err := nats.NkeyOptionFromSeed(path)
	if err != nil {
		return nil, fmt.Errorf("broker: credentials of the embedded NATS server: %w", err)
	}
	return []nats.Option{opt, nats.CustomInboxPrefix(role.InboxPrefix())}, nil
}

// NKeyServerAuth returns the authorization block of a nats-server
// configuration that admits the embedded server's users: one NKey user
// per role (the seeds under authDir, created if missing) with the
// permissions policy gives it. A nats-server process with it accepts the clients of
// EmbeddedOptions(authDir, role), as the embedded server does (a test
// cluster of nats-server processes, say).
func NKeyServerAuth(authDir string, policy Policy) (string, error) {
	keys, err := ensureCredentials(authDir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("authorization {\n  users: [\n")
	for _, r := range Roles {
		fmt.Fprintf(&b, "    {\n      nkey: %s\n", keys[r])
		writePermissions(&b, policy(r))
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}
