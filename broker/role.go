// Package broker runs and guards folio's NATS server: the embedded
// nats-server, the roles a folio process connects as and their
// credentials, client connections (TLS, credentials, loopback checks), and
// example configurations of an external server; queue.RolePermissions
// says what each role may do.
package broker

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what one NATS user of folio may do. The server enforces it: each
// role is a user with publish and subscribe allow-lists (a Policy;
// folio's is queue.RolePermissions),
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

// Policy gives each role its permissions: the subjects of the streams and
// buckets that the role's processes use. folio's is queue.RolePermissions
// (the queue and the store own those subjects).
type Policy func(Role) Permissions

// User is the role's user name in the example server configuration
// (ExampleServerAuth) and in nsc (ExampleNSC): folio-<role>.
func (r Role) User() string { return "folio-" + string(r) }

// PasswordEnv is the environment variable of the nats-server process from
// which the example configuration takes the role's password.
func (r Role) PasswordEnv() string {
	return "FOLIO_NATS_" + strings.ToUpper(string(r)) + "_PASSWORD"
}

var roleSummary = map[Role]string{
	RoleAdmin:     "admin: everything (operators with the nats CLI; no folio process needs it)",
	RoleWorker:    "worker: sets up the streams and buckets, consumes jobs, writes Binaries, records, indexes, statuses and events",
	RoleAPI:       "api: reads records, indexes and Binaries, nothing else",
	RoleSubmitter: "submitter: publishes render jobs, reads job statuses and job events, nothing else",
}
