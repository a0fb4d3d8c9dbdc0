package main

import (
	"log/slog"
	"net/http"

	"github.com/foliohealth/folio/console"
	"github.com/foliohealth/folio/fhir"
)

// mountConsole adds the operator console at /console to the operator
// listener's mux. On a listener that is not loopback every console request
// needs a bearer token with console.OperatorScope, checked by verifier (the
// FHIR endpoint's). Close the console when the listener stops.
func (p *pipeline) mountConsole(mux *http.ServeMux, opsAddr string, verifier fhir.TokenVerifier, log *slog.Logger) (*console.Console, error) {
	c, err := console.New(console.Config{
		Queue: p.q, Store: p.q.Store(), Search: p.q.Store(), Conn: p.nc,
		RequireToken: !isLoopback(opsAddr), Verifier: verifier, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	mux.Handle(console.Prefix, c)
	mux.Handle(console.Prefix+"/", c)
	if !isLoopback(opsAddr) {
		log.Info("the operator console requires a bearer token", "scope", console.OperatorScope)
	}
	return c, nil
}
