package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/foliohealth/folio/fhir"
)

// runToken implements "folio token": it prints a bearer token signed with
// the development key of a data directory.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./folio-data", "data directory holding dev-signing-key.json")
	scope := fs.String("scope", "", `SMART scopes, space-separated (e.g. "user/Binary.read user/DocumentReference.read")`)
	subject := fs.String("subject", "folio-dev", "token subject (sub)")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime (serve and api refuse tokens living longer than their --max-token-lifetime, 24h by default)")
	patient := fs.String("patient", "", `"patient" claim, for patient/ scopes`)
	pos, code, ok := parseFlags(fs, args, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 || *scope == "" || *ttl <= 0 {
		fmt.Fprintln(stderr, "folio token: --scope is required, --ttl must be positive, no arguments expected")
		fs.Usage()
		return exitUsage
	}
	key, _, err := fhir.LoadDevKey(*data, false)
	if err != nil {
		fmt.Fprintln(stderr, "folio token:", err)
		return exitFailed
	}
	tok, err := key.Mint(fhir.TokenRequest{Scope: *scope, Subject: *subject, TTL: *ttl, Patient: *patient})
	if err != nil {
		fmt.Fprintln(stderr, "folio token:", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, tok)
	return exitOK
}
