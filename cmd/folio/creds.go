package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/foliohealth/folio/broker"
)

// runCreds implements "folio creds": where the embedded NATS server's
// credentials are, and how the nats CLI uses them.
func runCreds(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio creds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./folio-data", "data directory of folio serve")
	role := fs.String("role", "", "print only the seed file of this role (admin, worker, api, submitter)")
	pos, code, ok := parseFlags(fs, args, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "folio creds: no arguments expected")
		return exitUsage
	}
	roles := broker.Roles
	if *role != "" {
		r, err := broker.ParseRole(*role)
		if err != nil {
			fmt.Fprintln(stderr, "folio creds:", err)
			return exitUsage
		}
		roles = []broker.Role{r}
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		fmt.Fprintln(stderr, "folio creds:", err)
		return exitFailed
	}
	for _, r := range roles {
		if _, err := os.Stat(broker.NKeyFile(dir, r)); err != nil {
			fmt.Fprintf(stderr, "folio creds: no credentials in %s (%v): `folio serve --data %s` creates them on its first start\n", broker.CredentialsDir(dir), err, *data)
			return exitFailed
		}
	}
	if *role != "" {
		fmt.Fprintln(stdout, broker.NKeyFile(dir, roles[0]))
		return exitOK
	}
	fmt.Fprintf(stdout, "# NKey seeds of the embedded NATS server of %s (mode 0600: whoever reads one acts as that role)\n", dir)
	fmt.Fprintf(stdout, "# role       seed file, and the nats CLI with it (docs/SECURITY.md lists what each role may do)\n")
	for _, r := range roles {
		f := broker.NKeyFile(dir, r)
		inbox := ""
		if r != broker.RoleAdmin {
			inbox = " --inbox-prefix " + r.InboxPrefix()
		}
		fmt.Fprintf(stdout, "%-12s %s\n             nats --nkey %s%s ...\n", r, f, f, inbox)
	}
	return exitOK
}
