package broker

import (
	"fmt"
	"strings"
)

// ExampleServerAuth returns the authorization block of a nats-server
// configuration with one user per role and the permissions policy gives it
// (docs/nats/folio-users.conf is this text for queue.RolePermissions; a
// test keeps it so).
func ExampleServerAuth(policy Policy) string {
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
		p := policy(r)
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "    # %s\n", roleSummary[r])
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: $%s\n", r.User(), r.PasswordEnv())
		writePermissions(&b, p)
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

// writePermissions writes the permissions block of one user of a
// nats-server authorization block, and closes the user.
func writePermissions(b *strings.Builder, p Permissions) {
	b.WriteString("      permissions: {\n")
	writeList := func(name string, subjects []string) {
		fmt.Fprintf(b, "        %s: {\n          allow: [\n", name)
		for _, s := range subjects {
			fmt.Fprintf(b, "            %q\n", s)
		}
		b.WriteString("          ]\n        }\n")
	}
	writeList("publish", p.Publish)
	writeList("subscribe", p.Subscribe)
	b.WriteString("      }\n    }\n")
}

// ExampleNSC returns nsc commands that create the roles' users in an
// account of an operator-mode (JWT) deployment, with the permissions
// policy gives each (docs/nats/nsc-users.sh is this text for
// queue.RolePermissions; a test keeps it so). Each user's .creds file is
// then what --nats-creds takes.
func ExampleNSC(policy Policy) string {
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
		p := policy(r)
		fmt.Fprintf(&b, "\n# %s\nnsc add user -a \"$ACCOUNT\" -n %s \\\n  --allow-pub '%s' \\\n  --allow-sub '%s'\n",
			roleSummary[r], r.User(), strings.Join(p.Publish, ","), strings.Join(p.Subscribe, ","))
	}
	return b.String()
}
