package fhir

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

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
	cases := []struct {
		name   string
		authz  string // whole Authorization header; "" sends none
		status int
		detail string // in the diagnostics
	}{
		{"good", "Bearer " + e.token(t, allScopes), 200, ""},
		{"scheme case-insensitive", "bearer " + e.token(t, allScopes), 200, ""},
		{"missing", "", 401, "missing bearer token"},
		{"basic scheme", "Basic dXNlcjpwYXNz", 401, "malformed Authorization"},
		{"bearer without token", "Bearer ", 401, "malformed Authorization"},
		{"not a JWT", "Bearer abc.def", 401, "not a compact JWS"},
		{"garbage header", "Bearer !!!.e30.sig", 401, "header is not base64url"},
		{"expired", "Bearer " + mod(func(c *claims) { c.exp = time.Now().Add(-time.Hour) }), 401, "expired"},
		{"expired within skew", "Bearer " + mod(func(c *claims) { c.exp = time.Now().Add(-5 * time.Second) }), 200, ""},
		{"not yet valid", "Bearer " + mod(func(c *claims) { c.nbf = time.Now().Add(time.Hour) }), 401, "not valid yet"},
		{"no exp", "Bearer " + mod(func(c *claims) { c.noExp = true }), 401, "no exp"},
		{"wrong issuer", "Bearer " + mod(func(c *claims) { c.iss = "https://evil.test" }), 401, "wrong issuer"},
		{"wrong audience", "Bearer " + mod(func(c *claims) { c.aud = "https://other.test" }), 401, "wrong audience"},
		{"wrong key same kid", "Bearer " + sign(t, other, goodClaims(allScopes)), 401, "bad signature"},
		{"unknown key", "Bearer " + sign(t, rsaKey, goodClaims(allScopes)), 401, "unknown key"},
		{"alg none", "Bearer " + rawJWT(map[string]any{"alg": "none"}, payload(), none), 401, `"none" is not accepted`},
		{"alg none with kid", "Bearer " + rawJWT(map[string]any{"alg": "none", "kid": "k1"}, payload(), func(string) []byte { return []byte("x") }), 401, "not accepted"},
		{"HMAC with public key", "Bearer " + hmacWithPublic("k1"), 401, `"HS256" is not accepted`},
		{"HMAC without kid", "Bearer " + hmacWithPublic(""), 401, `"HS256" is not accepted`},
		{"RS256 header on EC key", "Bearer " + rawJWT(map[string]any{"alg": "RS256", "kid": "k1"}, payload(), func(string) []byte { return []byte("sig") }), 401, "does not fit key"},
		{"tampered payload", "Bearer " + tamper(e.token(t, "user/Binary.read")), 401, "bad signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hs []string
			if c.authz != "" {
				hs = []string{"Authorization", c.authz}
			}
			res, body := e.get(t, "/Binary/"+e.rad, hs...)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.300s", res.StatusCode, c.status, body)
			}
			if c.status == 200 {
				return
			}
			oo := outcome(t, res, body)
			if oo.Issue[0].Code != "login" || !strings.Contains(oo.Issue[0].Diagnostics, c.detail) {
				t.Errorf("issue %+v, want code login and %q", oo.Issue[0], c.detail)
			}
			if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", got)
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
