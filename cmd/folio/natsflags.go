package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/foliohealth/folio/broker"
	"github.com/nats-io/nats.go"
)

// natsFlags are the NATS connection flags every command that connects to
// NATS shares (worker, api, submit, serve with --nats-url, and whatever
// else connects: add them with addNATSFlags and connect with options).
type natsFlags struct {
	url, creds, nkey, user, password *string
	tlsCA, tlsCert, tlsKey, inbox    *string
	insecure                         *bool
}

func addNATSFlags(fs *flag.FlagSet, defaultURL string) *natsFlags {
	return &natsFlags{
		url:      fs.String("nats-url", defaultURL, "NATS server or cluster URL(s), comma-separated"),
		creds:    fs.String("nats-creds", "", "NATS credentials file (user JWT and NKey seed, from nsc)"),
		nkey:     fs.String("nats-nkey", "", "NATS NKey seed file"),
		user:     fs.String("nats-user", "", "NATS user name (with --nats-password)"),
		password: fs.String("nats-password", "", "NATS password (prefer the FOLIO_NATS_PASSWORD environment variable)"),
		tlsCA:    fs.String("nats-tls-ca", "", "PEM file of the CA(s) of the NATS server's certificate (turns TLS on)"),
		tlsCert:  fs.String("nats-tls-cert", "", "PEM client certificate for NATS (mutual TLS; turns TLS on)"),
		tlsKey:   fs.String("nats-tls-key", "", "PEM private key of --nats-tls-cert"),
		inbox:    fs.String("nats-inbox-prefix", "", "prefix of NATS reply subjects (default: the role's, e.g. _INBOX_folio_worker; see docs/SECURITY.md)"),
		insecure: fs.Bool("nats-insecure", false, "allow a connection without TLS to a NATS server that is not on this machine"),
	}
}

// auth returns the credential and TLS flags.
func (f *natsFlags) auth() broker.ClientAuth {
	return broker.ClientAuth{
		Creds: *f.creds, NKey: *f.nkey, User: *f.user, Password: *f.password,
		TLSCA: *f.tlsCA, TLSCert: *f.tlsCert, TLSKey: *f.tlsKey,
		InboxPrefix: *f.inbox, Insecure: *f.insecure,
	}
}

// options returns the connection options for role. Without a credential
// flag, a loopback server is taken to be the embedded server of folio
// serve: the role's credentials from dataDir (broker.NKeyFile) are used when
// they exist, so that a process started with the same --data needs no
// set-up.
func (f *natsFlags) options(role broker.Role, dataDir string) ([]nats.Option, error) {
	a := f.auth()
	if !a.Set() && dataDir != "" && broker.AllLoopback(*f.url) {
		if _, err := os.Stat(broker.NKeyFile(dataDir, role)); err == nil {
			a.NKey = broker.NKeyFile(dataDir, role)
		}
	}
	return a.Options(*f.url, role)
}

// connect connects to the NATS server as role (see options).
func (f *natsFlags) connect(role broker.Role, dataDir string, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := f.options(role, dataDir)
	if err != nil {
		return nil, err
	}
	nc, err := broker.Connect(*f.url, append(opts, extra...)...)
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization") && !f.auth().Set() {
		return nil, fmt.Errorf("%w (no NATS credentials: give --nats-creds, --nats-nkey or --nats-user, or --data DIR of the folio serve that runs the server; see `folio creds`)", err)
	}
	return nc, err
}
