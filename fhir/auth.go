package fhir

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Claims is what the endpoint uses of a verified token.
type Claims struct {
	Subject string
	Scope   string // space-separated SMART scopes
	Patient string // SMART launch context "patient" claim, if any
}

// TokenVerifier checks a bearer token. Errors wrap the reason in words fit
// for the client; they never contain the token.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*Claims, error)
}

// KeySource supplies the public keys tokens are checked against.
type KeySource interface {
	// Keys returns the current key set.
	Keys(ctx context.Context) (jwk.Set, error)
	// Refresh fetches the key set anew (a token names an unknown key id)
	// and returns it; a source may decline to refresh too often and return
	// its current set.
	Refresh(ctx context.Context) (jwk.Set, error)
}

// StaticKeys is a KeySource that never changes (development mode, tests).
func StaticKeys(set jwk.Set) KeySource { return staticKeys{set} }

type staticKeys struct{ set jwk.Set }

func (s staticKeys) Keys(context.Context) (jwk.Set, error)    { return s.set, nil }
func (s staticKeys) Refresh(context.Context) (jwk.Set, error) { return s.set, nil }

// DefaultSkew is the clock skew allowed on exp and nbf.
const DefaultSkew = 30 * time.Second

// DefaultMaxLifetime is the longest token lifetime accepted by default.
const DefaultMaxLifetime = 24 * time.Hour

// Verifier verifies JWT bearer tokens signed with an asymmetric algorithm
// by a key of a KeySource, with a fixed issuer and audience. It refuses
// "alg": "none", every HMAC algorithm (so a public key can never be used as
// an HMAC secret), tokens without exp, exp/nbf/iat that are not JSON
// numbers, tokens living longer than MaxLifetime, and keys whose type or
// declared algorithm does not fit the token's alg.
//
// ECDSA signatures are accepted with either S (s or n-s): ECDSA is
// malleable, so whoever holds a valid token can make a second valid
// encoding of the same claims; it confers nothing the holder did not
// already have. folio keys nothing on a token's bytes except the memory of
// verified tokens below, whose entries hold the same claims either way, and
// many JOSE signers (Go's crypto/ecdsa, Java, Node) do not normalise S, so
// refusing high S would refuse about half of their valid ES* tokens.
type Verifier struct {
	keys     KeySource
	issuer   string
	audience string
	// Skew is the clock skew allowed on exp and nbf (DefaultSkew).
	Skew time.Duration
	// MaxLifetime is the longest lifetime accepted: exp minus iat (or nbf,
	// or now when the token has neither), and exp no further than that from
	// now (DefaultMaxLifetime; zero or negative means DefaultMaxLifetime).
	MaxLifetime time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Remember is how long a verified token is remembered, so that a
	// client's repeated requests skip the signature check (30 s; never past
	// the token's exp). A key withdrawn from the key set therefore stops
	// working within Remember. Negative disables it.
	Remember time.Duration

	mu   sync.Mutex
	seen map[[32]byte]seenToken
}

// seenToken is a verified token's claims and until when they may be reused.
type seenToken struct {
	claims *Claims
	until  time.Time
}

// maxSeen bounds the verified-token memory; it is emptied when full.
const maxSeen = 4096

// NewVerifier returns a Verifier over keys requiring iss == issuer and
// audience among aud.
func NewVerifier(keys KeySource, issuer, audience string) *Verifier {
	return &Verifier{keys: keys, issuer: issuer, audience: audience, Skew: DefaultSkew, MaxLifetime: DefaultMaxLifetime, Now: time.Now, Remember: 30 * time.Second}
}

// keyTypeOf lists the accepted signature algorithms and the key type each
// needs. Anything else, "none" and HS* included, is refused.
var keyTypeOf = map[string]jwa.KeyType{
	"RS256": jwa.RSA(), "RS384": jwa.RSA(), "RS512": jwa.RSA(),
	"PS256": jwa.RSA(), "PS384": jwa.RSA(), "PS512": jwa.RSA(),
	"ES256": jwa.EC(), "ES384": jwa.EC(), "ES512": jwa.EC(),
	"EdDSA": jwa.OKP(),
}

func invalidToken(format string, args ...any) error {
	return fail(errUnauthenticated, "invalid token: "+format, args...)
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// Verify checks token and returns its claims.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	now := v.Now
	if now == nil {
		now = time.Now
	}
	var sum [32]byte
	if v.Remember > 0 {
		sum = sha256.Sum256([]byte(token))
		v.mu.Lock()
		s, ok := v.seen[sum]
		v.mu.Unlock()
		if ok && now().Before(s.until) {
			c := *s.claims
			return &c, nil
		}
	}
	c, exp, err := v.verify(ctx, token, now)
	if err != nil || v.Remember <= 0 {
		return c, err
	}
	until := now().Add(v.Remember)
	if exp.Before(until) {
		until = exp
	}
	v.mu.Lock()
	if v.seen == nil || len(v.seen) >= maxSeen {
		v.seen = map[[32]byte]seenToken{}
	}
	kept := *c
	v.seen[sum] = seenToken{claims: &kept, until: until}
	v.mu.Unlock()
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, token string, now func() time.Time) (*Claims, time.Time, error) {
	var never time.Time
	if len(token) > 16<<10 {
		return nil, never, invalidToken("longer than 16 KiB")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, never, invalidToken("not a compact JWS (header.payload.signature)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, never, invalidToken("header is not base64url")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return nil, never, invalidToken("header is not JSON")
	}
	if err := checkNumericDates(parts[1]); err != nil {
		return nil, never, err
	}
	kty, ok := keyTypeOf[hdr.Alg]
	if !ok {
		return nil, never, invalidToken("signature algorithm %q is not accepted (asymmetric algorithms only)", truncate(hdr.Alg, 16))
	}
	if parts[2] == "" {
		return nil, never, invalidToken("unsigned")
	}
	set, err := v.keys.Keys(ctx)
	if err != nil {
		return nil, never, fail(errKeysUnavailable, "cannot verify tokens now: signing keys unavailable")
	}
	key := pickKey(set, hdr.Kid)
	if key == nil {
		if set, err = v.keys.Refresh(ctx); err == nil {
			key = pickKey(set, hdr.Kid)
		}
	}
	if key == nil {
		return nil, never, invalidToken("signed by an unknown key (kid %q)", truncate(hdr.Kid, 64))
	}
	if key.KeyType() != kty {
		return nil, never, invalidToken("alg %s does not fit key %q of type %s", hdr.Alg, truncate(hdr.Kid, 64), key.KeyType())
	}
	if ka, ok := key.Algorithm(); ok && ka.String() != "" && ka.String() != hdr.Alg {
		return nil, never, invalidToken("alg %s differs from the key's declared alg %s", hdr.Alg, ka)
	}
	if use, ok := key.KeyUsage(); ok && use != "" && use != "sig" {
		return nil, never, invalidToken("key %q is not a signing key", truncate(hdr.Kid, 64))
	}
	alg, _ := jwa.LookupSignatureAlgorithm(hdr.Alg)
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKey(alg, key),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithAcceptableSkew(v.Skew),
		jwt.WithClock(clockFunc(now)),
		jwt.WithRequiredClaim("exp"),
	)
	if err != nil {
		switch {
		case errors.Is(err, jwt.TokenExpiredError()):
			return nil, never, invalidToken("expired")
		case errors.Is(err, jwt.TokenNotYetValidError()):
			return nil, never, invalidToken("not valid yet (nbf)")
		case errors.Is(err, jwt.InvalidIssuerError()):
			return nil, never, invalidToken("wrong issuer")
		case errors.Is(err, jwt.InvalidAudienceError()):
			return nil, never, invalidToken("wrong audience")
		case errors.Is(err, jwt.MissingRequiredClaimError()):
			return nil, never, invalidToken("no exp claim")
		case errors.Is(err, jwt.ValidateError()):
			return nil, never, invalidToken("claims do not validate")
		}
		return nil, never, invalidToken("bad signature or malformed payload")
	}
	c := &Claims{}
	c.Subject, _ = tok.Subject()
	var sc any
	if tok.Get("scope", &sc) == nil {
		c.Scope = scopeString(sc)
	} else if tok.Get("scp", &sc) == nil {
		c.Scope = scopeString(sc)
	}
	var pt any
	if tok.Get("patient", &pt) == nil {
		c.Patient, _ = pt.(string)
	}
	exp, _ := tok.Expiration()
	if err := v.checkLifetime(tok, exp, now()); err != nil {
		return nil, never, err
	}
	return c, exp, nil
}

// checkNumericDates refuses a payload whose exp, nbf or iat is present but
// not a JSON number (RFC 7519 NumericDate): "exp": "1900000000" is not
// read as a time.
func checkNumericDates(payload string) error {
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return invalidToken("payload is not base64url")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return invalidToken("payload is not a JSON object")
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := m[name]
		if !ok {
			continue
		}
		var n json.Number
		if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) || json.Unmarshal(v, &n) != nil {
			return invalidToken("%s is not a number (RFC 7519 NumericDate)", name)
		}
	}
	return nil
}

// checkLifetime refuses a token that lives longer than MaxLifetime.
func (v *Verifier) checkLifetime(tok jwt.Token, exp, now time.Time) error {
	max := v.MaxLifetime
	if max <= 0 {
		max = DefaultMaxLifetime
	}
	start := now
	if iat, ok := tok.IssuedAt(); ok {
		start = iat
	} else if nbf, ok := tok.NotBefore(); ok {
		start = nbf
	}
	if exp.Sub(start) > max || exp.Sub(now) > max+v.Skew {
		return invalidToken("lifetime longer than the %s this server accepts", max)
	}
	return nil
}

func scopeString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var s []string
		for _, e := range v {
			if str, ok := e.(string); ok {
				s = append(s, str)
			}
		}
		return strings.Join(s, " ")
	case []string:
		return strings.Join(v, " ")
	}
	return ""
}

func pickKey(set jwk.Set, kid string) jwk.Key {
	if set == nil {
		return nil
	}
	if kid != "" {
		k, ok := set.LookupKeyID(kid)
		if !ok {
			return nil
		}
		return k
	}
	if set.Len() == 1 {
		k, _ := set.Key(0)
		return k
	}
	return nil
}

// scope is one parsed SMART scope: context/resource.permissions.
type scope struct {
	context  string // patient, user, system
	resource string // a resource type or "*"
	perms    string // a subset of "cruds"
}

// parseScope reads SMART v1 (read, write, *) and v2 (cruds subsets, in
// order) scopes. Scopes with v2 query restrictions ("?category=...") and
// anything unrecognised are not honoured.
func parseScope(s string) (scope, bool) {
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok || (ctx != "patient" && ctx != "user" && ctx != "system") || strings.Contains(rest, "?") {
		return scope{}, false
	}
	res, perm, ok := strings.Cut(rest, ".")
	if !ok || res == "" {
		return scope{}, false
	}
	var perms string
	switch perm {
	case "read":
		perms = "rs"
	case "write":
		perms = "cud"
	case "*":
		perms = "cruds"
	default:
		if perm == "" {
			return scope{}, false
		}
		i := 0
		for _, c := range perm {
			j := strings.IndexRune("cruds"[i:], c)
			if j < 0 {
				return scope{}, false
			}
			i += j + 1
		}
		perms = perm
	}
	return scope{context: ctx, resource: res, perms: perms}, true
}

// grants reports whether scopes give permission perm ('r' or 's') on
// resource in one of the contexts.
func grants(scopes []scope, contexts []string, resource string, perm byte) bool {
	for _, s := range scopes {
		if (s.resource == resource || s.resource == "*") && strings.IndexByte(s.perms, perm) >= 0 {
			for _, c := range contexts {
				if s.context == c {
					return true
				}
			}
		}
	}
	return false
}

// principal is who a request acts for. A non-empty patient confines it to
// that patient's documents.
type principal struct {
	subject string
	patient string
}

// need is one requirement: any of resources with perm.
type need struct {
	resources []string
	perm      byte
}

func (n need) String() string {
	var user, system []string
	for _, r := range n.resources {
		user = append(user, "user/"+r+".read")
		system = append(system, "system/"+r+".read")
	}
	return fmt.Sprintf("scope %s (or %s; SMART v2: .%c)",
		strings.Join(user, " or "), strings.Join(system, " or "), n.perm)
}

// needsFor returns what a request for typ needs.
func needsFor(typ string, search bool) []need {
	if typ == "Binary" {
		return []need{{[]string{"Binary"}, 'r'}, {[]string{"DocumentReference", "DiagnosticReport"}, 'r'}}
	}
	if search {
		return []need{{[]string{typ}, 's'}}
	}
	return []need{{[]string{typ}, 'r'}}
}

func satisfied(scopes []scope, contexts []string, needs []need) (need, bool) {
	for _, n := range needs {
		ok := false
		for _, r := range n.resources {
			ok = ok || grants(scopes, contexts, r, n.perm)
		}
		if !ok {
			return n, false
		}
	}
	return need{}, true
}

// authorize verifies the request's bearer token and checks its scopes for
// a read (or search) of typ.
func (h *Handler) authorize(r *http.Request, typ string, search bool) (*principal, error) {
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 {
		return nil, fail(errNoCredentials, "missing bearer token (Authorization: Bearer <JWT>)")
	}
	if len(authz) > 1 {
		return nil, fail(errMalformedAuth, "malformed request: more than one Authorization header")
	}
	scheme, token, _ := strings.Cut(authz[0], " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme is no bearer credentials at all (RFC 6750 3.1).
		return nil, fail(errNoCredentials, "missing bearer token: Authorization scheme is not Bearer (Authorization: Bearer <JWT>)")
	}
	if !b64token(token) {
		return nil, fail(errMalformedAuth, "malformed Authorization header: expected Bearer <JWT>")
	}
	claims, err := h.cfg.Verifier.Verify(r.Context(), token)
	if err != nil {
		return nil, err
	}
	if st := stateOf(r); st != nil {
		st.subject = claims.Subject
	}
	var scopes []scope
	for _, f := range strings.Fields(claims.Scope) {
		if s, ok := parseScope(f); ok {
			scopes = append(scopes, s)
		}
	}
	needs := needsFor(typ, search)
	missing, ok := satisfied(scopes, []string{"user", "system"}, needs)
	if ok {
		return &principal{subject: claims.Subject}, nil
	}
	if _, pok := satisfied(scopes, []string{"patient"}, needs); pok {
		if !h.cfg.AllowPatientAccess {
			return nil, &apiError{kind: errForbidden, scope: sufficientScope(needs),
				msg: fmt.Sprintf("patient/ scopes are not accepted by this server (practitioner user/ and system/ access only); missing scope %s", missing)}
		}
		if err := checkID(claims.Patient); err != nil {
			return nil, &apiError{kind: errForbidden, scope: sufficientScope(needs),
				msg: "a patient/ scope needs a token with a valid \"patient\" claim"}
		}
		return &principal{subject: claims.Subject, patient: claims.Patient}, nil
	}
	return nil, &apiError{kind: errForbidden, msg: fmt.Sprintf("insufficient scope: missing %s", missing), scope: sufficientScope(needs)}
}

// sufficientScope is one set of scopes that satisfies needs: the first
// resource of each need, user/ context, SMART v1 form.
func sufficientScope(needs []need) string {
	var s []string
	for _, n := range needs {
		s = append(s, "user/"+n.resources[0]+".read")
	}
	return strings.Join(s, " ")
}

// b64token reports whether s has the RFC 6750 section 2.1 b64token syntax:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}
