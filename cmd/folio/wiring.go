package main

import (
	"log/slog"
	"net/http"

	"github.com/foliohealth/folio"
)

// apiConfig configures the FHIR read endpoint (flags shared by serve and api).
type apiConfig struct {
	DataDir            string // holds the development signing key
	JWKSURL            string // production: verify tokens against this JWKS
	Issuer             string
	Audience           string
	AllowPatientAccess bool
	Logger             *slog.Logger
}

// apiHandler returns the FHIR read endpoint over store.
// Placeholder until the FHIR endpoint issue lands.
func apiHandler(store folio.Store, cfg apiConfig) (http.Handler, error) {
	return http.NotFoundHandler(), nil
}
