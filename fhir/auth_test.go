package fhir

import (
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
)

// rfc6750Challenge is a Bearer challenge whose quoted values use only the
// characters RFC 6750 section 3 allows.
var rfc6750Challenge = regexp.MustCompile(`^Bearer realm="folio"(, (error|error_description|scope)="[\x20\x21\x23-\x5b\x5d-\x7e]*")*$`)

func TestAuthTokens(t *testing.T) {
	e := newEnv(t, nil)
	other := newECKey(t, "k1") // same kid, different key
	rsaKey := newRSAKey(t, "r1")
	hmacWithPublic := func(kid string) string {
		der, _ := x509.MarshalPKIXPublicKey(e.key.raw)
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		c := goodClaims(allScopes)
		return rawJWT(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid},
			map[string]any{"iss": c.iss, "aud": c.aud, "sub": c.sub, "scope": c.scope, "exp": c.exp.Unix()},
			func(in string) []byte { m := hmac.New(sha256.New, secret); m.Write([]byte(in)); return m.Sum(nil) })
	}
	payload := func() map[string]any {
		c := goodClaims(allScopes)
		return map[string]any{"iss": c.iss, "aud": c.aud, "sub": c.sub, "scope": c.scope, "exp": c.exp.Unix()}
	}
	none := func(string) []byte { return nil }
	mod := func(f func(*claims)) string {
		c := goodClaims(allScopes)
		f(&c)
		return sign(t, e.key, c)
	}
	// signedPayload signs payload as given (so that a claim can have a type
	// jwt.Builder would never produce) with the test key: a real ES256 JWS.
	signedPayload := func(p map[string]any) string {
		raw, _ := json.Marshal(p)
		hdr := jws.NewHeaders()
		hdr.Set(jws.KeyIDKey, "k1")
		s, err := jws.Sign(raw, jws.WithKey(e.key.alg, e.key.priv, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	withClaim := func(k string, v any) string {
		p := payload()
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
		return signedPayload(p)
	}
	now := time.Now()
	const (
		bare    = `Bearer realm="folio"`
		badReq  = `Bearer realm="folio", error="invalid_request"`
		badTok  = `Bearer realm="folio", error="invalid_token"`
		noCheck = ""
	)
	cases := []struct {
		name      string
		authz     []string // Authorization headers; none sends none
		status    int
		detail    string // in the diagnostics
		challenge string // WWW-Authenticate: exactly bare, else this prefix
	}{
		{"good", []string{"Bearer " + e.token(t, allScopes)}, 200, "", noCheck},
		{"scheme case-insensitive", []string{"bearer " + e.token(t, allScopes)}, 200, "", noCheck},
		{"missing", nil, 401, "missing bearer token", bare},
		{"basic scheme", []string{"Basic dXNlcjpwYXNz"}, 401, "not Bearer", bare},
		{"bearer without token", []string{"Bearer "}, 400, "malformed Authorization", badReq},
		{"token with a space", []string{"Bearer abc def"}, 400, "malformed Authorization", badReq},
		{"token with a quote", []string{`Bearer abc"def`}, 400, "malformed Authorization", badReq},
		{"two Authorization headers", []string{"Bearer " + e.token(t, allScopes), "Bearer " + e.token(t, allScopes)}, 400, "more than one", badReq},
		{"not a JWT", []string{"Bearer abc.def"}, 401, "not a compact JWS", badTok},
		{"garbage header", []string{"Bearer ___.e30.sig"}, 401, "header is not JSON", badTok},
		{"expired", []string{"Bearer " + mod(func(c *claims) { c.exp = time.Now().Add(-time.Hour) })}, 401, "expired", badTok},
		{"expired within skew", []string{"Bearer " + mod(func(c *claims) { c.exp = time.Now().Add(-5 * time.Second) })}, 200, "", noCheck},
		{"not yet valid", []string{"Bearer " + mod(func(c *claims) { c.nbf = time.Now().Add(time.Hour) })}, 401, "not valid yet", badTok},
		{"no exp", []string{"Bearer " + mod(func(c *claims) { c.noExp = true })}, 401, "no exp", badTok},
		{"wrong issuer", []string{"Bearer " + mod(func(c *claims) { c.iss = "https://evil.test" })}, 401, "wrong issuer", badTok},
		{"wrong audience", []string{"Bearer " + mod(func(c *claims) { c.aud = "https://other.test" })}, 401, "wrong audience", badTok},
		{"wrong key same kid", []string{"Bearer " + sign(t, other, goodClaims(allScopes))}, 401, "bad signature", badTok},
		{"unknown key", []string{"Bearer " + sign(t, rsaKey, goodClaims(allScopes))}, 401, "unknown key", badTok},
		{"alg none", []string{"Bearer " + rawJWT(map[string]any{"alg": "none"}, payload(), none)}, 401, `"none" is not accepted`, badTok},
		{"alg none with kid", []string{"Bearer " + rawJWT(map[string]any{"alg": "none", "kid": "k1"}, payload(), func(string) []byte { return []byte("x") })}, 401, "not accepted", badTok},
		{"HMAC with public key", []string{"Bearer " + hmacWithPublic("k1")}, 401, `"HS256" is not accepted`, badTok},
		{"HMAC without kid", []string{"Bearer " + hmacWithPublic("")}, 401, `"HS256" is not accepted`, badTok},
		{"RS256 header on EC key", []string{"Bearer " + rawJWT(map[string]any{"alg": "RS256", "kid": "k1"}, payload(), func(string) []byte { return []byte("sig") })}, 401, "does not fit key", badTok},
		{"tampered payload", []string{"Bearer " + tamper(e.token(t, "user/Binary.read"))}, 401, "bad signature", badTok},

		// NumericDate claims must be JSON numbers (signed, so only the type is wrong).
		{"signed raw payload (control)", []string{"Bearer " + signedPayload(payload())}, 200, "", noCheck},
		{"exp as a string", []string{"Bearer " + withClaim("exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))}, 401, "exp is not a number", badTok},
		{"exp as a date string", []string{"Bearer " + withClaim("exp", now.Add(time.Hour).Format(time.RFC3339))}, 401, "exp is not a number", badTok},
		{"exp as true", []string{"Bearer " + withClaim("exp", true)}, 401, "exp is not a number", badTok},
		{"exp as null", []string{"Bearer " + withClaim("exp", json.RawMessage("null"))}, 401, "exp is not a number", badTok},
		{"nbf as a string", []string{"Bearer " + withClaim("nbf", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10))}, 401, "nbf is not a number", badTok},
		{"iat as a string", []string{"Bearer " + withClaim("iat", strconv.FormatInt(now.Unix(), 10))}, 401, "iat is not a number", badTok},
		{"iat as an array", []string{"Bearer " + withClaim("iat", []int64{now.Unix()})}, 401, "iat is not a number", badTok},
		{"exp fractional number", []string{"Bearer " + withClaim("exp", float64(now.Add(time.Hour).Unix())+0.5)}, 200, "", noCheck},

		// Lifetime cap (default 24 h).
		{"lifetime 23h", []string{"Bearer " + signedPayload(map[string]any{"iss": testIssuer, "aud": testAudience, "scope": allScopes, "iat": now.Unix(), "exp": now.Add(23 * time.Hour).Unix()})}, 200, "", noCheck},
		{"lifetime 25h", []string{"Bearer " + signedPayload(map[string]any{"iss": testIssuer, "aud": testAudience, "scope": allScopes, "iat": now.Unix(), "exp": now.Add(25 * time.Hour).Unix()})}, 401, "lifetime longer than the 24h0m0s", badTok},
		{"lifetime 25h from a backdated iat", []string{"Bearer " + signedPayload(map[string]any{"iss": testIssuer, "aud": testAudience, "scope": allScopes, "iat": now.Add(-10 * time.Hour).Unix(), "exp": now.Add(15 * time.Hour).Unix()})}, 401, "lifetime longer", badTok},
		{"lifetime from nbf without iat", []string{"Bearer " + signedPayload(map[string]any{"iss": testIssuer, "aud": testAudience, "scope": allScopes, "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(30 * time.Hour).Unix()})}, 401, "lifetime longer", badTok},
		{"exp a year away, no iat or nbf", []string{"Bearer " + signedPayload(map[string]any{"iss": testIssuer, "aud": testAudience, "scope": allScopes, "exp": now.Add(365 * 24 * time.Hour).Unix()})}, 401, "lifetime longer", badTok},
		{"iat in the future to stretch exp", []string{"Bearer " + signedPayload(map[string]any{"iss": testIssuer, "aud": testAudience, "scope": allScopes, "iat": now.Add(100 * time.Hour).Unix(), "exp": now.Add(101 * time.Hour).Unix()})}, 401, "claims do not validate", badTok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hs []string
			for _, a := range c.authz {
				hs = append(hs, "Authorization", a)
			}
			res, body := e.get(t, "/Binary/"+e.rad, hs...)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.300s", res.StatusCode, c.status, body)
			}
			if c.status == 200 {
				if got := res.Header.Get("WWW-Authenticate"); got != "" {
					t.Errorf("200 with WWW-Authenticate %q", got)
				}
				return
			}
			oo := outcome(t, res, body)
			if oo.Issue[0].Code != "login" || !strings.Contains(oo.Issue[0].Diagnostics, c.detail) {
				t.Errorf("issue %+v, want code login and %q", oo.Issue[0], c.detail)
			}
			got := res.Header.Values("WWW-Authenticate")
			if len(got) != 1 {
				t.Fatalf("WWW-Authenticate %q, want one challenge", got)
			}
			if c.challenge == bare && got[0] != bare || !strings.HasPrefix(got[0], c.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", got[0], c.challenge)
			}
			if c.challenge != bare && !rfc6750Challenge.MatchString(got[0]) {
				t.Errorf("WWW-Authenticate %q is not RFC 6750 syntax", got[0])
			}
		})
	}
	// No token ever reaches the log.
	tok := e.token(t, allScopes)
	e.get(t, "/Binary/"+e.rad, "Authorization", "Bearer "+tok)
	if logs := e.logs.String(); strings.Contains(logs, tok[:40]) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
		t.Fatal("a token appears in the request log")
	}
}

// tamper changes the payload's scope without re-signing.
func tamper(tok string) string {
	p := strings.Split(tok, ".")
	c := goodClaims(allScopes)
	return rawJWT(map[string]any{"alg": "ES256", "kid": "k1"},
		map[string]any{"iss": c.iss, "aud": c.aud, "scope": c.scope, "exp": c.exp.Unix()},
		func(string) []byte { return []byte(p[2]) })
}

func TestAuthScopes(t *testing.T) {
	type want struct {
		status  int
		missing string // in 403 diagnostics
	}
	ok := want{status: 200}
	cases := []struct {
		name    string
		scope   string
		patient string
		path    string // %b = a pt-1 Binary, %o = a pt-2 Binary
		allow   bool   // --allow-patient-access
		want    want
	}{
		{"v1 all", allScopes, "", "/Binary/%b", false, ok},
		{"v1 binary + docref", "user/Binary.read user/DocumentReference.read", "", "/Binary/%b", false, ok},
		{"v1 binary + diagreport", "user/Binary.read user/DiagnosticReport.read", "", "/Binary/%b", false, ok},
		{"system v1", "system/Binary.read system/DocumentReference.read", "", "/Binary/%b", false, ok},
		{"v2 r", "user/Binary.r user/DocumentReference.r", "", "/Binary/%b", false, ok},
		{"v2 rs", "user/Binary.rs user/DiagnosticReport.rs", "", "/Binary/%b", false, ok},
		{"v2 cruds", "system/Binary.cruds system/DocumentReference.cruds", "", "/Binary/%b", false, ok},
		{"wildcard v1", "user/*.read", "", "/Binary/%b", false, ok},
		{"wildcard v2", "system/*.rs", "", "/Binary/%b", false, ok},
		{"wildcard star", "user/*.*", "", "/Binary/%b", false, ok},
		{"binary only", "user/Binary.read", "", "/Binary/%b", false, want{403, "user/DocumentReference.read or user/DiagnosticReport.read"}},
		{"docref only", "user/DocumentReference.read", "", "/Binary/%b", false, want{403, "user/Binary.read"}},
		{"no scopes", "openid profile", "", "/Binary/%b", false, want{403, "user/Binary.read"}},
		{"write only", "user/Binary.write user/DocumentReference.write", "", "/Binary/%b", false, want{403, "user/Binary.read"}},
		{"v2 create only", "user/Binary.c user/DocumentReference.c", "", "/Binary/%b", false, want{403, "user/Binary.read"}},
		{"v2 out of order is not a scope", "user/Binary.sr user/DocumentReference.sr", "", "/Binary/%b", false, want{403, "user/Binary.read"}},
		{"v2 granular query not honoured", "user/Binary.r?x=y user/DocumentReference.r", "", "/Binary/%b", false, want{403, "user/Binary.read"}},
		{"search needs s", "user/DocumentReference.r", "", "/DocumentReference?patient=pt-1", false, want{403, ".s"}},
		{"search with rs", "user/DocumentReference.rs", "", "/DocumentReference?patient=pt-1", false, ok},
		{"search v1", "user/DocumentReference.read", "", "/DocumentReference?patient=pt-1", false, ok},
		{"docref read needs docref scope", "user/DiagnosticReport.read user/Binary.read", "", "/DocumentReference/S26-1-2", false, want{403, "user/DocumentReference.read"}},
		{"diagreport read", "user/DiagnosticReport.read", "", "/DiagnosticReport/S26-1-2", false, ok},
		{"patient scope refused by default", "patient/Binary.read patient/DocumentReference.read", "pt-1", "/Binary/%b", false, want{403, "patient/ scopes are not accepted"}},
		{"patient scope allowed, own", "patient/Binary.read patient/DocumentReference.read", "pt-1", "/Binary/%b", true, ok},
		{"patient scope allowed, v2", "patient/Binary.r patient/DiagnosticReport.rs", "pt-1", "/Binary/%b", true, ok},
		{"patient scope allowed, other patient's binary", "patient/Binary.read patient/DocumentReference.read", "pt-1", "/Binary/%o", true, want{status: 404}},
		{"patient scope allowed, other patient's docref", "patient/DocumentReference.read", "pt-1", "/DocumentReference/R-9-1", true, want{status: 404}},
		{"patient scope allowed, own docref", "patient/DocumentReference.read", "pt-1", "/DocumentReference/S26-1-1", true, ok},
		{"patient scope without patient claim", "patient/Binary.read patient/DocumentReference.read", "", "/Binary/%b", true, want{403, "patient"}},
		{"user scope not confined by patient claim", allScopes, "pt-1", "/Binary/%o", true, ok},
	}
	for _, allow := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.AllowPatientAccess = allow })
		for _, c := range cases {
			if c.allow != allow {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				cl := goodClaims(c.scope)
				cl.patient = c.patient
				path := strings.NewReplacer("%b", e.pdf2, "%o", e.rad).Replace(c.path)
				res, body := e.get(t, path, "Authorization", "Bearer "+sign(t, e.key, cl))
				if res.StatusCode != c.want.status {
					t.Fatalf("status %d, want %d: %.300s", res.StatusCode, c.want.status, body)
				}
				if c.want.status == 200 {
					return
				}
				oo := outcome(t, res, body)
				if c.want.status == 403 && (oo.Issue[0].Code != "forbidden" || !strings.Contains(oo.Issue[0].Diagnostics, c.want.missing)) {
					t.Errorf("issue %+v, want forbidden naming %q", oo.Issue[0], c.want.missing)
				}
				wa := res.Header.Get("WWW-Authenticate")
				if c.want.status == 403 {
					// RFC 6750 3.1: 403 with insufficient_scope and a scope that suffices.
					wantScope := map[string]string{
						"/Binary/%b":                      `scope="user/Binary.read user/DocumentReference.read"`,
						"/DocumentReference?patient=pt-1": `scope="user/DocumentReference.read"`,
						"/DocumentReference/S26-1-2":      `scope="user/DocumentReference.read"`,
					}[c.path]
					if !strings.HasPrefix(wa, `Bearer realm="folio", error="insufficient_scope", `) || !strings.Contains(wa, wantScope) || !rfc6750Challenge.MatchString(wa) {
						t.Errorf("WWW-Authenticate %q, want insufficient_scope with %s", wa, wantScope)
					}
				} else if c.want.status != 403 && wa != "" {
					t.Errorf("%d with WWW-Authenticate %q", c.want.status, wa)
				}
				if c.want.status == 404 && oo.Issue[0].Code != "not-found" {
					t.Errorf("issue %+v, want not-found", oo.Issue[0])
				}
			})
		}
	}
}

func TestPatientTokenSearchSeesOnlyOwnRecords(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowPatientAccess = true })
	cl := goodClaims("patient/DocumentReference.rs")
	cl.patient = "pt-1"
	tok := "Bearer " + sign(t, e.key, cl)
	res, body := e.get(t, "/DocumentReference?patient=pt-2", "Authorization", tok)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"total":0`) {
		t.Fatalf("other patient's search: %d %.300s; want an empty searchset", res.StatusCode, body)
	}
	res, body = e.get(t, "/DocumentReference?patient=pt-1", "Authorization", tok)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"total":2`) {
		t.Fatalf("own search: %d %.300s", res.StatusCode, body)
	}
}

func TestOpenEndpointsNeedNoToken(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Ready = nil })
	for _, p := range []string{"/metadata", "/.well-known/smart-configuration", "/healthz", "/readyz"} {
		res, body := e.get(t, p)
		if res.StatusCode != 200 {
			t.Errorf("%s: %d %.200s", p, res.StatusCode, body)
		}
	}
	res, body := e.get(t, "/DocumentReference?patient=pt-1")
	if res.StatusCode != 401 {
		t.Errorf("search without token: %d %.200s", res.StatusCode, body)
	}
}

func TestParseScope(t *testing.T) {
	cases := []struct {
		in    string
		ok    bool
		perms string
	}{
		{"user/Binary.read", true, "rs"},
		{"system/*.read", true, "rs"},
		{"patient/Observation.write", true, "cud"},
		{"user/Binary.*", true, "cruds"},
		{"user/Binary.r", true, "r"},
		{"user/Binary.rs", true, "rs"},
		{"user/Binary.cruds", true, "cruds"},
		{"user/Binary.cd", true, "cd"},
		{"user/Binary.rr", false, ""},
		{"user/Binary.sr", false, ""},
		{"user/Binary.x", false, ""},
		{"user/Binary.", false, ""},
		{"user/.read", false, ""},
		{"admin/Binary.read", false, ""},
		{"openid", false, ""},
		{"launch/patient", false, ""},
		{"user/Binary.rs?category=x", false, ""},
	}
	for _, c := range cases {
		s, ok := parseScope(c.in)
		if ok != c.ok || s.perms != c.perms {
			t.Errorf("parseScope(%q) = %+v, %v; want perms %q, %v", c.in, s, ok, c.perms, c.ok)
		}
	}
}

func TestRememberedTokenNeverOutlivesExp(t *testing.T) {
	k := newECKey(t, "k1")
	v := NewVerifier(StaticKeys(keySet(t, k)), testIssuer, testAudience)
	v.Skew = 0
	c := goodClaims("user/Binary.read")
	c.exp = time.Now().Add(2 * time.Second)
	tok := sign(t, k, c)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("remembered token: %v", err)
	}
	v.Now = func() time.Time { return time.Now().Add(time.Minute) }
	if _, err := v.Verify(t.Context(), tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("token past exp accepted from memory: %v", err)
	}
}

// TestECDSAEitherS: ECDSA is malleable; (r, n-s) verifies whenever (r, s)
// does. Exactly one of the two is "high S", so checking both shows folio
// accepts a high-S signature, and that it yields the very same claims (the
// reason it is harmless, see Verifier). An S out of range is refused.
func TestECDSAEitherS(t *testing.T) {
	k := newECKey(t, "k1")
	v := NewVerifier(StaticKeys(keySet(t, k)), testIssuer, testAudience)
	v.Remember = -1
	tok := sign(t, k, goodClaims(allScopes))
	parts := strings.Split(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("ES256 signature: %d bytes, %v", len(sig), err)
	}
	n := elliptic.P256().Params().N
	withS := func(s *big.Int) string {
		b := append([]byte{}, sig[:32]...)
		b = append(b, s.FillBytes(make([]byte, 32))...)
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(b)
	}
	s := new(big.Int).SetBytes(sig[32:])
	flipped := new(big.Int).Sub(n, s)
	half := new(big.Int).Rsh(n, 1)
	if (s.Cmp(half) > 0) == (flipped.Cmp(half) > 0) {
		t.Fatal("exactly one of s and n-s must be high")
	}
	want, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(t.Context(), withS(flipped))
	if err != nil {
		t.Fatalf("the other S of a valid signature: %v", err)
	}
	if *got != *want {
		t.Errorf("claims %+v from the other S, want %+v", got, want)
	}
	for name, bad := range map[string]*big.Int{"s = 0": big.NewInt(0), "s = n": n, "s = n-s+1": new(big.Int).Add(flipped, big.NewInt(1))} {
		if _, err := v.Verify(t.Context(), withS(bad)); err == nil || !strings.Contains(err.Error(), "bad signature") {
			t.Errorf("%s: %v, want bad signature", name, err)
		}
	}

}

// TestMaxLifetimeConfigurable: a Verifier's MaxLifetime replaces the 24 h default.
func TestMaxLifetimeConfigurable(t *testing.T) {
	k := newECKey(t, "k1")
	v := NewVerifier(StaticKeys(keySet(t, k)), testIssuer, testAudience)
	v.MaxLifetime = time.Hour
	c := goodClaims(allScopes)
	c.exp = time.Now().Add(50 * time.Minute)
	if _, err := v.Verify(t.Context(), sign(t, k, c)); err != nil {
		t.Fatalf("50-minute token under a 1 h cap: %v", err)
	}
	c.exp = time.Now().Add(2 * time.Hour)
	if _, err := v.Verify(t.Context(), sign(t, k, c)); err == nil || !strings.Contains(err.Error(), "lifetime longer than the 1h0m0s") {
		t.Fatalf("2-hour token under a 1 h cap: %v", err)
	}
}
