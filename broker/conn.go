package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
)

// ClientAuth is how a folio process authenticates to a NATS server and
// protects the connection. At most one of Creds, NKey and User is set.
type ClientAuth struct {
	Creds       string // a .creds file: user JWT and NKey seed (decentralised auth, nsc)
	NKey        string // an NKey seed file
	User        string // user name, with Password
	Password    string
	TLSCA       string // PEM file of the CAs that sign the server's certificate
	TLSCert     string // PEM client certificate, with TLSKey (mutual TLS)
	TLSKey      string
	InboxPrefix string // reply subject prefix (default: the role's, Role.InboxPrefix)
	// Insecure allows a connection without TLS to a server that is not on
	// the loopback interface (credentials and records then cross the
	// network in clear text).
	Insecure bool
}

// Set reports whether any credential is set.
func (a ClientAuth) Set() bool { return a.Creds != "" || a.NKey != "" || a.User != "" }

// Options returns the nats.go options that connect to servers (a URL or a
// comma-separated list) as role with a. It refuses a connection without TLS
// to a server that is not on the loopback interface unless a.Insecure is
// set; TLS is on when a URL's scheme is tls:// or a.TLSCA or a.TLSCert is
// set, and then the server must offer it.
func (a ClientAuth) Options(servers string, role Role) ([]nats.Option, error) {
	n := 0
	for _, s := range []string{a.Creds, a.NKey, a.User} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("NATS credentials: give one of --nats-creds, --nats-nkey and --nats-user")
	}
	if a.Password != "" && a.User == "" {
		return nil, errors.New("NATS credentials: --nats-password needs --nats-user")
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return nil, errors.New("NATS TLS: --nats-tls-cert and --nats-tls-key go together")
	}
	secure := a.TLSCA != "" || a.TLSCert != ""
	urls, err := parseServers(servers)
	if err != nil {
		return nil, err
	}
	var remote []string
	for _, u := range urls {
		if u.Scheme == "tls" {
			secure = true
		}
		if !LoopbackHost(u.Hostname()) {
			remote = append(remote, u.Host)
		}
	}
	if len(remote) > 0 && !secure && !a.Insecure {
		return nil, fmt.Errorf("NATS server %s is not on this machine and the connection would not use TLS: "+
			"use a tls:// URL or --nats-tls-ca (and a client certificate if the server wants one), "+
			"or --nats-insecure to send credentials and records in clear text", strings.Join(remote, ", "))
	}

	var opts []nats.Option
	switch {
	case a.Creds != "":
		opts = append(opts, nats.UserCredentials(a.Creds))
	case a.NKey != "":
		o, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if secure {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
		if a.TLSCA != "" {
			opts = append(opts, nats.RootCAs(a.TLSCA))
		}
		if a.TLSCert != "" {
			opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
		}
	} else if !a.Insecure {
		// Never follow a cluster's gossip to a server elsewhere in clear
		// text.
		opts = append(opts, nats.IgnoreDiscoveredServers())
	}
	prefix := a.InboxPrefix
	if prefix == "" {
		prefix = role.InboxPrefix()
	}
	opts = append(opts, nats.CustomInboxPrefix(prefix))
	return opts, nil
}

// parseServers parses a comma-separated list of server URLs (nats.go also
// takes host:port without a scheme).
func parseServers(servers string) ([]*url.URL, error) {
	var urls []*url.URL
	for _, s := range strings.Split(servers, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			if u, err = url.Parse("nats://" + s); err != nil {
				return nil, fmt.Errorf("NATS URL %q: %v", s, err)
			}
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// AllLoopback reports whether every server of a comma-separated URL list
// is on this machine (LoopbackHost).
func AllLoopback(servers string) bool {
	urls, err := parseServers(servers)
	if err != nil || len(urls) == 0 {
		return false
	}
	for _, u := range urls {
		if !LoopbackHost(u.Hostname()) {
			return false
		}
	}
	return true
}

// LoopbackHost reports whether host is localhost or a loopback address.
// Other names are not resolved: they count as remote.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
