package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/foliohealth/folio"
	"github.com/foliohealth/folio/fhir"
)

// apiConfig configures the FHIR read endpoint (flags shared by serve and api).
type apiConfig struct {
	DataDir            string // holds the development signing key
	JWKSURL            string // production: verify tokens against this JWKS
	Issuer             string
	Audience           string
	AllowPatientAccess bool
	Logger             *slog.Logger
	// BaseURL is the endpoint's public base URL for Bundle fullUrls (empty:
	// from each request's Host).
	BaseURL string
	// Addr is the listen address; development auth is refused on one that
	// is not loopback unless DevAuth.
	Addr    string
	DevAuth bool
	// MaxTokenLifetime caps the lifetime of accepted tokens.
	MaxTokenLifetime time.Duration
}

// apiHandler returns the FHIR read endpoint over store. Without a JWKS URL
// it runs in development auth mode: tokens signed by the key in
// DataDir/dev-signing-key.json (created on first start), minted by
// `folio token`.
// It also returns the token verifier, which the operator console shares.
func apiHandler(store folio.Store, cfg apiConfig) (http.Handler, fhir.TokenVerifier, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	fc := fhir.Config{
		AllowPatientAccess: cfg.AllowPatientAccess,
		Logger:             log,
		BaseURL:            cfg.BaseURL,
	}
	if cfg.JWKSURL != "" {
		if cfg.Issuer == "" || cfg.Audience == "" {
			return nil, nil, errors.New("--jwks-url needs --issuer and --audience")
		}
		keys, err := fhir.NewJWKS(context.Background(), cfg.JWKSURL, fhir.JWKSOptions{})
		if err != nil {
			return nil, nil, err
		}
		if err := keys.Ready(context.Background()); err != nil {
			log.Warn("JWKS not fetched yet: every token is refused until it is", "jwks", cfg.JWKSURL)
		}
		v := fhir.NewVerifier(keys, cfg.Issuer, cfg.Audience)
		v.MaxLifetime = cfg.MaxTokenLifetime
		fc.Verifier = v
		fc.Ready = keys.Ready
		fc.SMART = fhir.SMARTInfo{Issuer: cfg.Issuer, JWKSURI: cfg.JWKSURL}
		log.Info("bearer tokens verified against JWKS", "jwks", cfg.JWKSURL, "issuer", cfg.Issuer, "audience", cfg.Audience)
	} else {
		if cfg.Issuer != "" || cfg.Audience != "" {
			return nil, nil, errors.New("--issuer and --audience need --jwks-url (without it, development auth is used)")
		}
		if !cfg.DevAuth && !isLoopback(cfg.Addr) {
			return nil, nil, fmt.Errorf("--addr %s is not a loopback address: development auth (tokens from `folio token`) is refused there; set --jwks-url, --issuer and --audience, or give --dev-auth to accept development tokens on the network anyway", cfg.Addr)
		}
		key, created, err := fhir.LoadDevKey(cfg.DataDir, true)
		if err != nil {
			return nil, nil, err
		}
		v := key.Verifier()
		v.MaxLifetime = cfg.MaxTokenLifetime
		fc.Verifier = v
		fc.SMART = fhir.SMARTInfo{Issuer: fhir.DevIssuer}
		log.Warn("!!! DEVELOPMENT AUTH IS ON: tokens signed by a local key are accepted; mint them with `folio token`; set --jwks-url, --issuer and --audience in production !!!",
			"key", key.Path, "created", created, "issuer", fhir.DevIssuer, "audience", fhir.DevAudience)
	}
	if cfg.AllowPatientAccess {
		log.Info("patient/ scopes accepted: patient tokens read only their own documents")
	}
	h, err := fhir.New(store, fc)
	return h, fc.Verifier, err
}

// apiFlags are the FHIR endpoint's flags, shared by serve and api.
type apiFlags struct {
	jwks, issuer, audience, baseURL *string
	allowPatient, devAuth           *bool
	maxTokenLifetime                *time.Duration
	opsAddr                         *string
}

func addAPIFlags(fs *flag.FlagSet) apiFlags {
	return apiFlags{
		jwks:         fs.String("jwks-url", "", "verify bearer tokens against this JWKS (production)"),
		issuer:       fs.String("issuer", "", "required token issuer (with --jwks-url)"),
		audience:     fs.String("audience", "", "required token audience (with --jwks-url)"),
		allowPatient: fs.Bool("allow-patient-access", false, "accept patient-context tokens (patient/ scopes)"),
		baseURL:      fs.String("base-url", "", "public base URL of the endpoint, for Bundle fullUrls"),
		devAuth:      fs.Bool("dev-auth", false, "accept development tokens (no --jwks-url) on a non-loopback --addr too"),
		maxTokenLifetime: fs.Duration("max-token-lifetime", fhir.DefaultMaxLifetime,
			"refuse bearer tokens whose lifetime (exp - iat) is longer"),
		opsAddr: fs.String("ops-addr", "127.0.0.1:9090", "operator listener: /metrics, /healthz, /readyz (empty: off); keep it on loopback"),
	}
}

// startAPI mounts the FHIR endpoint over the pipeline's store with
// /healthz and /readyz on addr, and the operator listener (opsMux:
// /metrics, health) on --ops-addr unless that is empty. Links in Bundles
// use --base-url, else the address listened on (never a request's Host).
// stop shuts both down.
func (p *pipeline) startAPI(addr, dataDir string, f apiFlags, log *slog.Logger) (listening, opsListening string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", "", nil, err
	}
	base := *f.baseURL
	if base == "" {
		base = "http://" + ln.Addr().String()
		if !isLoopback(ln.Addr().String()) {
			log.Warn("no --base-url: Bundle links name the listen address", "base", base)
		}
	}
	api, verifier, err := apiHandler(p.q.Store(), apiConfig{
		DataDir: dataDir, JWKSURL: *f.jwks, Issuer: *f.issuer, Audience: *f.audience,
		AllowPatientAccess: *f.allowPatient, Logger: log, BaseURL: base,
		Addr: addr, DevAuth: *f.devAuth, MaxTokenLifetime: *f.maxTokenLifetime,
	})
	if err != nil {
		ln.Close()
		return "", "", nil, err
	}
	if *f.opsAddr != "" {
		if !isLoopback(*f.opsAddr) {
			log.Warn("the operator listener (metrics) is not on a loopback address: anyone who reaches it reads the metrics", "ops_addr", *f.opsAddr)
		}
		mux := p.opsMux()
		if p.withConsole {
			c, err := p.mountConsole(mux, *f.opsAddr, verifier, log)
			if err != nil {
				ln.Close()
				return "", "", nil, err
			}
			stops = append(stops, func() { c.Close() })
		}
		a, s, err := listenHTTP(*f.opsAddr, mux, defaultHTTPLimits, "operator", log)
		if err != nil {
			ln.Close()
			stop()
			return "", "", nil, fmt.Errorf("--ops-addr: %w", err)
		}
		opsListening, stops = a, append(stops, s)
	}
	mux := http.NewServeMux()
	p.addHealth(mux)
	mux.Handle("/", api)
	stops = append(stops, serveListener(ln, mux, defaultHTTPLimits, "FHIR", log))
	return ln.Addr().String(), opsListening, stop, nil
}

// isLoopback reports whether the listen address addr (host:port) binds
// loopback interfaces only. An empty host binds every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
