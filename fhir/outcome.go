package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/foliohealth/folio"
)

// Errors the handler branches on. Every error a request can end with is
// mapped to an HTTP status and an OperationOutcome issue code by errorTable.
var (
	errInvalid         = errors.New("invalid request")
	errNotSupported    = errors.New("not supported")
	errNotAcceptable   = errors.New("not acceptable")
	errUnauthenticated = errors.New("unauthenticated")
	errNoCredentials   = errors.New("no credentials")
	errMalformedAuth   = errors.New("malformed authorization")
	errForbidden       = errors.New("forbidden")
	errRange           = errors.New("range not satisfiable")
	errMethod          = errors.New("method not allowed")
	errNoRoute         = errors.New("unknown path")
	errKeysUnavailable = errors.New("token signing keys unavailable")
	errIntegrity       = errors.New("stored content does not match its metadata")
	errMediaType       = errors.New("unsupported media type")
)

// errorTable is the one place where folio and handler errors become HTTP
// statuses and FHIR issue codes. The first entry whose error matches (by
// errors.Is) wins; anything unlisted is a 500 "exception" whose detail is
// logged, never sent.
var errorTable = []struct {
	err    error
	status int
	code   string // OperationOutcome.issue.code
	expose bool   // send the error text as diagnostics
}{
	{folio.ErrNotFound, http.StatusNotFound, "not-found", true},
	{errNoRoute, http.StatusNotFound, "not-found", true},
	{errInvalid, http.StatusBadRequest, "invalid", true},
	{errNotSupported, http.StatusBadRequest, "not-supported", true},
	{errNotAcceptable, http.StatusNotAcceptable, "not-supported", true},
	{errUnauthenticated, http.StatusUnauthorized, "login", true},
	{errNoCredentials, http.StatusUnauthorized, "login", true},
	{errMalformedAuth, http.StatusBadRequest, "login", true},
	{errForbidden, http.StatusForbidden, "forbidden", true},
	{errRange, http.StatusRequestedRangeNotSatisfiable, "invalid", true},
	{errMethod, http.StatusMethodNotAllowed, "not-supported", true},
	{errMediaType, http.StatusUnsupportedMediaType, "not-supported", true},
	{errKeysUnavailable, http.StatusServiceUnavailable, "transient", true},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "timeout", false},
	{errIntegrity, http.StatusInternalServerError, "exception", false},
}

// apiError is an error of one kind (a sentinel above or folio's) with a
// message for the client.
type apiError struct {
	kind error
	msg  string
	// scope, on an insufficient-scope 403, is a set of scopes that would
	// have sufficed (the RFC 6750 challenge's scope attribute).
	scope string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.kind }

// fail returns an error of the given kind with a formatted message.
func fail(kind error, format string, args ...any) error {
	return &apiError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// OperationOutcome is the FHIR R4 resource every error response carries.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

// classify returns the status, issue code and client-visible text of err.
func classify(err error) (status int, code, diag string) {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			if e.expose {
				return e.status, e.code, err.Error()
			}
			return e.status, e.code, http.StatusText(e.status)
		}
	}
	return http.StatusInternalServerError, "exception", "internal error"
}

// writeError sends err as an OperationOutcome with the status errorTable
// gives it, and records it for the request log.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, diag := classify(err)
	if st := stateOf(r); st != nil {
		st.err = err
	}
	h := w.Header()
	if c := challenge(err, diag); c != "" {
		h.Set("WWW-Authenticate", c)
	}
	body, _ := marshal(OperationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []Issue{{Severity: "error", Code: code, Diagnostics: diag}},
	})
	h.Del("Content-Disposition")
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Set("Content-Type", fhirJSON+"; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// realm is the protection space named in every Bearer challenge.
const realm = "folio"

// challenge returns the RFC 6750 section 3 WWW-Authenticate value for err,
// or "" when err needs none: no credentials at all get the bare challenge
// (no error code, section 3.1), a malformed request invalid_request (400),
// a token that fails verification invalid_token (401), too little scope
// insufficient_scope with the scope needed (403).
func challenge(err error, diag string) string {
	var ae *apiError
	errors.As(err, &ae)
	switch {
	case errors.Is(err, errNoCredentials):
		return `Bearer realm="` + realm + `"`
	case errors.Is(err, errMalformedAuth):
		return `Bearer realm="` + realm + `", error="invalid_request", error_description="` + challengeText(diag) + `"`
	case errors.Is(err, errUnauthenticated):
		return `Bearer realm="` + realm + `", error="invalid_token", error_description="` + challengeText(diag) + `"`
	case errors.Is(err, errForbidden) && ae != nil && ae.scope != "":
		return `Bearer realm="` + realm + `", error="insufficient_scope", scope="` + challengeText(ae.scope) + `", error_description="` + challengeText(diag) + `"`
	}
	return ""
}

// challengeText keeps only the characters RFC 6750 allows in a challenge's
// quoted values (printable ASCII without '"' and '\'); a double quote
// becomes a single one.
func challengeText(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\'')
		case c == '\\' || c < 0x20 || c > 0x7e:
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// marshal encodes v as JSON without escaping <, > and & (the bodies are
// never embedded in HTML).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
