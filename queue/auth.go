package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Role is what one NATS user of folio may do. The server enforces it: each
// role is a user with publish and subscribe allow-lists (RolePermissions),
// in the embedded server (generated NKey users) and in the example
// configuration for an external server (docs/SECURITY.md).
type Role string

// The roles. A process connects as one of them.
const (
	// RoleAdmin may do everything: operators with the nats CLI. No folio
	// process needs it.
	RoleAdmin Role = "admin"
	// RoleWorker creates the pipeline's streams, consumer and buckets,
	// consumes jobs, and writes Binaries, records, indexes, job statuses
	// and events. It also has the API's reads (a worker checks what is
	// stored; folio serve runs workers and the API on one connection).
	RoleWorker Role = "worker"
	// RoleAPI reads records, indexes and Binaries, nothing else.
	RoleAPI Role = "api"
	// RoleSubmitter publishes render jobs and reads job statuses (the
	// status bucket and job events), nothing else.
	RoleSubmitter Role = "submitter"
)

// Roles lists every role, most privileged first.
var Roles = []Role{RoleAdmin, RoleWorker, RoleAPI, RoleSubmitter}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want admin, worker, api or submitter)", s)
}

// InboxPrefix is the prefix of the reply subjects a role's connections
// use (nats.CustomInboxPrefix; the nats CLI's --inbox-prefix). Each role
// has its own, and may subscribe only under it, so that no role can read
// the replies (records, Binary chunks) sent to another. The admin uses
// the NATS default, _INBOX.
func (r Role) InboxPrefix() string {
	if r == RoleAdmin {
		return "_INBOX"
	}
	return "_INBOX_folio_" + string(r)
}

// Permissions are the subjects a role may publish and subscribe to; no
// other subject is allowed.
type Permissions struct {
	Publish   []string
	Subscribe []string
}

// jsAPI is the JetStream API subject prefix.
const jsAPI = "$JS.API."

// Streams behind the buckets.
const (
	streamKVJobs    = "KV_" + BucketJobs
	streamKVRecords = "KV_" + BucketRecords
	streamKVIndex   = "KV_" + BucketIndex
	streamObjects   = "OBJ_" + BucketBinaries
)

// readStream is what reading one bucket's stream takes: binding to it
// (stream info), getting messages (direct and API gets, KV and Object
// Store lookups) and the ordered consumers that KV listings and Object
// Store reads create, delete and acknowledge flow control for.
func readStream(stream string) []string {
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "DIRECT.GET." + stream,
		jsAPI + "DIRECT.GET." + stream + ".>",
	}
}

func consumeStream(stream string) []string {
	return []string{
		jsAPI + "CONSUMER.CREATE." + stream + ".>",
		jsAPI + "CONSUMER.DELETE." + stream + ".>",
		"$JS.FC." + stream + ".>",
	}
}

// RolePermissions returns the publish and subscribe allow-lists of role,
// the least that its folio processes need. Every role may subscribe only
// to its own inbox (Role.InboxPrefix) besides what is listed here.
//
// What the subjects are: $JS.API.* are JetStream API requests (stream and
// consumer management, message gets); $KV.<bucket>.<key> writes a KV
// entry; $O.<bucket>.* writes Object Store chunks and infos;
// $JS.ACK.<stream>.<consumer>.* acknowledges a delivered job; $JS.FC.*
// answers an ordered consumer's flow control.
func RolePermissions(role Role) Permissions {
	inbox := role.InboxPrefix() + ".>"
	var p Permissions
	switch role {
	case RoleAdmin:
		return Permissions{Publish: []string{">"}, Subscribe: []string{">"}}
	case RoleSubmitter:
		p.Publish = append([]string{SubjectJobs}, readStream(streamKVJobs)...)
		// Versions of unversioned input (HL7 v2): the content histories
		// in the index, and nothing else of it.
		p.Publish = append(p.Publish,
			jsAPI+"STREAM.INFO."+streamKVIndex,
			jsAPI+"DIRECT.GET."+streamKVIndex+".$KV."+BucketIndex+".content.>",
			"$KV."+BucketIndex+".content.>")
		p.Subscribe = []string{SubjectJobEvents}
	case RoleAPI:
		for _, s := range []string{streamKVRecords, streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, readStream(s)...)
		}
		for _, s := range []string{streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, consumeStream(s)...)
		}
	case RoleWorker:
		all := []string{StreamJobs, StreamEvents, streamKVJobs, streamKVRecords, streamKVIndex, streamObjects}
		for _, s := range all {
			p.Publish = append(p.Publish,
				jsAPI+"STREAM.CREATE."+s,
				jsAPI+"STREAM.UPDATE."+s)
		}
		for _, s := range []string{streamKVJobs, streamKVRecords, streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, readStream(s)...)
		}
		for _, s := range []string{streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, consumeStream(s)...)
		}
		p.Publish = append(p.Publish,
			// Account information (limits, usage; no data): nats.go
			// checks it before creating a bucket.
			jsAPI+"INFO",
			jsAPI+"STREAM.INFO."+StreamJobs,
			jsAPI+"STREAM.INFO."+StreamEvents,
			// The render consumer: create or update it, read its state
			// (queue depth), pull jobs, acknowledge them.
			jsAPI+"CONSUMER.CREATE."+StreamJobs+"."+ConsumerRender,
			jsAPI+"CONSUMER.INFO."+StreamJobs+"."+ConsumerRender,
			jsAPI+"CONSUMER.MSG.NEXT."+StreamJobs+"."+ConsumerRender,
			"$JS.ACK."+StreamJobs+"."+ConsumerRender+".>",
			// The sweep reads jobs the server gave up on by sequence and
			// removes them.
			jsAPI+"STREAM.MSG.GET."+StreamJobs,
			jsAPI+"STREAM.MSG.DELETE."+StreamJobs,
			// Removing the chunks of a Binary that was not stored whole.
			jsAPI+"STREAM.PURGE."+streamObjects,
			// Removing the document index entries of a record entered in
			// error (leaving no deletion marker, see store/index.go).
			jsAPI+"STREAM.PURGE."+streamKVIndex,
			// What a worker writes.
			"$KV."+BucketJobs+".>",
			"$KV."+BucketRecords+".>",
			"$KV."+BucketIndex+".>",
			"$O."+BucketBinaries+".>",
			"folio.events.job.>",
		)
		// Job events: a worker publishes them; folio serve's console
		// counts them.
		p.Subscribe = []string{subjectMaxDeliver, SubjectJobEvents}
	default:
		return Permissions{}
	}
	p.Subscribe = append(p.Subscribe, inbox)
	return p
}

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
		return nil, fmt.Errorf("queue: credentials of the embedded NATS server: %w", err)
	}
	return []nats.Option{opt, nats.CustomInboxPrefix(role.InboxPrefix())}, nil
}

// User is the role's user name in the example server configuration
// (ExampleServerAuth) and in nsc (ExampleNSC): folio-<role>.
func (r Role) User() string { return "folio-" + string(r) }

// PasswordEnv is the environment variable of the nats-server process from
// which the example configuration takes the role's password.
func (r Role) PasswordEnv() string {
	return "FOLIO_NATS_" + strings.ToUpper(string(r)) + "_PASSWORD"
}

// ExampleServerAuth returns the authorization block of a nats-server
// configuration with one user per role and the role's permissions
// (docs/nats/folio-users.conf is this text; a test keeps it so).
func ExampleServerAuth() string {
	var b strings.Builder
	b.WriteString(`# folio's NATS users: one per role, each allowed only what its folio
# processes need (docs/SECURITY.md explains every subject).
#
# Generated from queue.RolePermissions: do not edit by hand; after a change
# there, run: go test ./queue -run TestExampleServerConfig -update
#
# Include it in the server's configuration (include ./folio-users.conf).
# Each password is read from an environment variable of the nats-server
# process; better, replace each $FOLIO_NATS_..._PASSWORD with a bcrypt hash
# in quotes (nats server passwd) and give the clear password only to the
# folio processes of that role (--nats-user, FOLIO_NATS_PASSWORD).
authorization {
  users: [
`)
	for i, r := range Roles {
		p := RolePermissions(r)
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "    # %s\n", roleSummary[r])
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: $%s\n      permissions: {\n", r.User(), r.PasswordEnv())
		writeList := func(name string, subjects []string) {
			fmt.Fprintf(&b, "        %s: {\n          allow: [\n", name)
			for _, s := range subjects {
				fmt.Fprintf(&b, "            %q\n", s)
			}
			b.WriteString("          ]\n        }\n")
		}
		writeList("publish", p.Publish)
		writeList("subscribe", p.Subscribe)
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

var roleSummary = map[Role]string{
	RoleAdmin:     "admin: everything (operators with the nats CLI; no folio process needs it)",
	RoleWorker:    "worker: sets up the streams and buckets, consumes jobs, writes Binaries, records, indexes, statuses and events",
	RoleAPI:       "api: reads records, indexes and Binaries, nothing else",
	RoleSubmitter: "submitter: publishes render jobs, reads job statuses and job events, nothing else",
}

// ExampleNSC returns nsc commands that create the roles' users in an
// account of an operator-mode (JWT) deployment (docs/nats/nsc-users.sh is
// this text; a test keeps it so). Each user's .creds file is then what
// --nats-creds takes.
func ExampleNSC() string {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# folio's NATS users for a decentralised (JWT) deployment made with nsc: one
# user per role in the account FOLIO, each allowed only what its folio
# processes need (docs/SECURITY.md).
#
# Generated from queue.RolePermissions: do not edit by hand; after a change
# there, run: go test ./queue -run TestExampleServerConfig -update
#
# Then: nsc generate creds -a FOLIO -n folio-worker > worker.creds, and
# folio worker --nats-creds worker.creds (likewise api and submitter).
set -eu
ACCOUNT=${ACCOUNT:-FOLIO}
nsc describe account "$ACCOUNT" >/dev/null 2>&1 || nsc add account "$ACCOUNT"
nsc edit account "$ACCOUNT" --js-disk-storage -1 --js-mem-storage -1
`)
	for _, r := range Roles {
		if r == RoleAdmin {
			continue // an operator uses the account's own tools
		}
		p := RolePermissions(r)
		fmt.Fprintf(&b, "\n# %s\nnsc add user -a \"$ACCOUNT\" -n %s \\\n  --allow-pub '%s' \\\n  --allow-sub '%s'\n",
			roleSummary[r], r.User(), strings.Join(p.Publish, ","), strings.Join(p.Subscribe, ","))
	}
	return b.String()
}
