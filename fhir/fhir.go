// Package fhir serves folio's stored renditions as a read-only FHIR R4
// endpoint (Binary, DocumentReference, DiagnosticReport, CapabilityStatement)
// behind SMART-on-FHIR bearer-token authorization.
//
// It reads through folio.Store (and searches through folio.Searcher, the
// store's document index, when the store has one) and never renders or
// writes. Only JSON is spoken; multi-part byte ranges are
// answered with the whole body, as HTTP allows.
package fhir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/foliohealth/folio"
)

// FHIRVersion is the FHIR release this endpoint speaks.
const FHIRVersion = "4.0.1"

const fhirJSON = "application/fhir+json"

// Config configures a Handler.
type Config struct {
	// Verifier checks bearer tokens. Required.
	Verifier TokenVerifier
	// AllowPatientAccess admits patient/ scopes; a patient token then reads
	// only the documents of the patient named in its "patient" claim.
	AllowPatientAccess bool
	// Logger receives one line per request (never tokens or content).
	// Nil means slog.Default().
	Logger *slog.Logger
	// BaseURL is the absolute base of the endpoint used in Bundle fullUrls
	// (for example "https://fhir.example.org/r4"). Empty means
	// http://<the local address the request arrived on>; the client's Host
	// header is never used, so a client cannot make the server print links
	// to a host of its choosing.
	BaseURL string
	// CacheBytes bounds the in-memory cache of recently read Binaries
	// (default 32 MiB; negative disables it). CacheMaxEntry is the largest
	// Binary cached (default 2 MiB); larger ones are always streamed.
	CacheBytes    int64
	CacheMaxEntry int64
	// Ready, if set, answers /readyz (GET and HEAD); nil means always ready.
	Ready func(context.Context) error
	// SMART describes the authorization server in /metadata and
	// /.well-known/smart-configuration.
	SMART SMARTInfo
}

// SMARTInfo is what the endpoint tells clients about its authorization
// server. Empty fields are left out.
type SMARTInfo struct {
	Issuer                string
	JWKSURI               string
	AuthorizationEndpoint string
	TokenEndpoint         string
}

// Handler is the FHIR read endpoint. It is safe for concurrent use.
type Handler struct {
	store folio.Store
	cfg   Config
	log   *slog.Logger
	cache *binaryCache
	now   func() time.Time // the clock of ap date searches
}

// New returns the endpoint over store.
func New(store folio.Store, cfg Config) (*Handler, error) {
	if store == nil {
		return nil, errors.New("fhir: nil store")
	}
	if cfg.Verifier == nil {
		return nil, errors.New("fhir: Config.Verifier is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 32 << 20
	}
	if cfg.CacheMaxEntry <= 0 {
		cfg.CacheMaxEntry = 2 << 20
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Handler{
		store: store,
		cfg:   cfg,
		log:   cfg.Logger,
		cache: newBinaryCache(cfg.CacheBytes, cfg.CacheMaxEntry),
		now:   time.Now,
	}, nil
}

// idRule is the FHIR id rule; "." and ".." are refused besides.
var idRule = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)

// checkID reports whether raw, a path segment as sent (still escaped), is a
// FHIR id. Percent-escapes never pass, so encoded slashes and dots do not.
func checkID(raw string) error {
	if !idRule.MatchString(raw) || strings.Trim(raw, ".") == "" {
		if len(raw) > 80 {
			raw = raw[:80] + "..."
		}
		return fail(errInvalid, "id %q is not a FHIR id ([A-Za-z0-9-.]{1,64})", raw)
	}
	return nil
}

// reqState is what the request log line needs to know from inside.
type reqState struct {
	id      string
	subject string
	err     error
}

type stateKey struct{}

func stateOf(r *http.Request) *reqState {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	return st
}

var requestIDRule = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)

// ServeHTTP routes a request, logging it with its request id.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &reqState{id: r.Header.Get("X-Request-Id")}
	if !requestIDRule.MatchString(st.id) {
		var b [12]byte
		rand.Read(b[:])
		st.id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", st.id)
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	h.route(rec, r)

	attrs := []slog.Attr{
		slog.String("id", st.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()), // never the query: it names patients
		slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("took", time.Since(start)),
	}
	if st.subject != "" {
		attrs = append(attrs, slog.String("sub", st.subject))
	}
	level := slog.LevelInfo
	if st.err != nil {
		attrs = append(attrs, slog.String("error", st.err.Error()))
		if rec.status >= 500 {
			level = slog.LevelError
		}
	}
	h.log.LogAttrs(r.Context(), level, "http", attrs...)
}

// recorder notes the status and size of a response for the log.
type recorder struct {
	http.ResponseWriter
	status  int
	bytes   int64
	written bool
}

func (rw *recorder) WriteHeader(code int) {
	if !rw.written {
		rw.status, rw.written = code, true
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	rw.written = true
	n, err := rw.ResponseWriter.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// searchOperation returns the search operation a path names:
// "_search" for /DocumentReference/_search and /DiagnosticReport/_search,
// "$docref" for /DocumentReference/$docref, else "".
func searchOperation(path string) string {
	switch path {
	case "/DocumentReference/_search", "/DiagnosticReport/_search":
		return "_search"
	case "/DocumentReference/$docref", "/DocumentReference/%24docref":
		return "$docref"
	}
	return ""
}

// route dispatches on the escaped path, so that nothing the client escaped
// is ever unescaped into a path separator or dot segment.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	op := searchOperation(path) // "_search", "$docref" or ""
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if op == "_search" {
			w.Header().Set("Allow", "POST")
			writeError(w, r, fail(errMethod, "%s is not supported: [type]/_search takes POST with a form body", r.Method))
			return
		}
	case r.Method == http.MethodPost && op != "":
	default:
		w.Header().Set("Allow", "GET, HEAD")
		if op != "" {
			w.Header().Set("Allow", "GET, HEAD, POST")
			if op == "_search" {
				w.Header().Set("Allow", "POST")
			}
		}
		writeError(w, r, fail(errMethod, "%s is not supported: this endpoint is read-only", r.Method))
		return
	}
	switch path {
	case "/healthz":
		h.plain(w, r, nil)
		return
	case "/readyz":
		var err error
		if h.cfg.Ready != nil {
			err = h.cfg.Ready(r.Context())
		}
		h.plain(w, r, err)
		return
	}
	switch path {
	case "/metadata":
		h.metadata(w, r)
		return
	case "/.well-known/smart-configuration":
		h.smartConfiguration(w, r)
		return
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) == 0 || len(segs) > 2 || !strings.HasPrefix(path, "/") {
		writeError(w, r, fail(errNoRoute, "no such resource path"))
		return
	}
	typ := segs[0]
	switch typ {
	case "Binary", "DocumentReference", "DiagnosticReport":
	default:
		writeError(w, r, fail(errNoRoute, "resource type %q is not served here", truncate(typ, 40)))
		return
	}
	if op != "" {
		segs = segs[:1]
	}
	if len(segs) == 2 {
		if err := checkID(segs[1]); err != nil {
			writeError(w, r, err)
			return
		}
	}
	p, err := h.authorize(r, typ, len(segs) == 1)
	if err != nil {
		writeError(w, r, err)
		return
	}
	switch {
	case typ == "Binary" && len(segs) == 2:
		err = h.readBinary(w, r, p, segs[1])
	case typ == "Binary":
		err = fail(errNotSupported, "Binary cannot be searched")
	case len(segs) == 2:
		err = h.readRecordResource(w, r, p, typ, segs[1])
	default:
		err = h.search(w, r, p, typ, op == "$docref")
	}
	if err != nil {
		writeError(w, r, err)
	}
}

func (h *Handler) plain(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		if st := stateOf(r); st != nil {
			st.err = err
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready\n"))
		return
	}
	w.Write([]byte("ok\n"))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
