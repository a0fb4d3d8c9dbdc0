package fhir

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// jwksServer serves a key set that tests can rotate or take down.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	set     jwk.Set
	down    bool
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, set jwk.Set) *jwksServer {
	s := &jwksServer{set: set}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(set jwk.Set, down bool) {
	s.mu.Lock()
	s.set, s.down = set, down
	s.mu.Unlock()
}

func TestJWKSRotationAndOutage(t *testing.T) {
	k1, k2, k3 := newECKey(t, "k1"), newRSAKey(t, "k2"), newECKey(t, "k3")
	idp := newJWKSServer(t, keySet(t, k1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := NewJWKS(ctx, idp.URL, JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Verifier = NewVerifier(src, testIssuer, testAudience) })
	status := func(k *testKey) int {
		res, _ := e.get(t, "/Binary/"+e.rad, "Authorization", "Bearer "+sign(t, k, goodClaims(allScopes)))
		return res.StatusCode
	}
	if got := status(k1); got != 200 {
		t.Fatalf("k1 before rotation: %d", got)
	}

	// Rotation: the IdP now publishes k2 only. A token naming k2 makes the
	// endpoint fetch the set again; k1 is then gone.
	idp.serve(keySet(t, k2), false)
	if got := status(k2); got != 200 {
		t.Fatalf("k2 after rotation: %d", got)
	}
	if got := status(k1); got != 401 {
		t.Fatalf("retired k1 after rotation: %d, want 401", got)
	}
	// Made-up key ids do not make the endpoint refetch (rate limit).
	before := idp.fetches.Load()
	for range 5 {
		if got := status(k3); got != 401 {
			t.Fatalf("unknown k3: %d", got)
		}
	}
	if n := idp.fetches.Load() - before; n != 0 {
		t.Errorf("%d fetches for unknown key ids within the rate limit", n)
	}

	// Outage: cached keys keep working; nothing unknown is ever allowed.
	idp.serve(keySet(t, k2, k3), true)
	if got := status(k2); got != 200 {
		t.Fatalf("cached k2 while the JWKS endpoint is down: %d", got)
	}
	if got := status(k3); got != 401 {
		t.Fatalf("k3 while the JWKS endpoint is down: %d, want 401", got)
	}
}

func TestJWKSDownAtStartRefusesEverything(t *testing.T) {
	k1 := newECKey(t, "k1")
	idp := newJWKSServer(t, keySet(t, k1))
	idp.serve(keySet(t, k1), true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := NewJWKS(ctx, idp.URL, JWKSOptions{StartupWait: 200 * time.Millisecond, ForcedRefreshEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Ready(ctx) == nil {
		t.Fatal("ready without a key set")
	}
	e := newEnv(t, func(c *Config) { c.Verifier = NewVerifier(src, testIssuer, testAudience) })
	res, body := e.get(t, "/Binary/"+e.rad, "Authorization", "Bearer "+sign(t, k1, goodClaims(allScopes)))
	if oo := outcome(t, res, body); res.StatusCode != 503 || !strings.Contains(oo.Issue[0].Diagnostics, "keys unavailable") {
		t.Fatalf("status %d %+v, want 503 keys unavailable", res.StatusCode, oo.Issue[0])
	}
	// The endpoint comes back: the next token triggers a fetch and passes.
	idp.serve(keySet(t, k1), false)
	res, body = e.get(t, "/Binary/"+e.rad, "Authorization", "Bearer "+sign(t, k1, goodClaims(allScopes)))
	if res.StatusCode != 200 {
		t.Fatalf("after recovery: %d %.200s", res.StatusCode, body)
	}
}
