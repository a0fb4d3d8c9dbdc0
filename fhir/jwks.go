package fhir

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// JWKSOptions tunes a JWKS key source. Zero values take the defaults.
type JWKSOptions struct {
	// HTTPClient fetches the key set (a client with a 10 s timeout).
	HTTPClient *http.Client
	// MinRefresh and MaxRefresh bound the background refresh interval,
	// which otherwise follows the response's Cache-Control (5 min, 1 h).
	MinRefresh, MaxRefresh time.Duration
	// ForcedRefreshEvery limits fetches caused by tokens naming an unknown
	// key id (key rotation) to one per interval (30 s), so that made-up key
	// ids cannot make the endpoint hammer the identity provider.
	ForcedRefreshEvery time.Duration
	// StartupWait is how long NewJWKS waits for the first fetch (5 s). The
	// endpoint starts regardless; until keys arrive every token is refused.
	StartupWait time.Duration
}

// JWKS is a KeySource reading a JSON Web Key Set from a URL through
// jwk.Cache: fetched at start, refreshed in the background, and refreshed
// on demand when a token names a key id the cached set lacks. When the URL
// cannot be reached the last fetched set stays in use; before any set has
// been fetched every token is refused.
type JWKS struct {
	url    string
	cache  *jwk.Cache
	cancel context.CancelFunc
	every  time.Duration

	mu         sync.Mutex
	lastForced time.Time
}

// NewJWKS starts a cached key source for url. Close stops it.
func NewJWKS(ctx context.Context, url string, opt JWKSOptions) (*JWKS, error) {
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.MinRefresh <= 0 {
		opt.MinRefresh = 5 * time.Minute
	}
	if opt.MaxRefresh <= 0 {
		opt.MaxRefresh = time.Hour
	}
	if opt.MaxRefresh < opt.MinRefresh {
		opt.MaxRefresh = opt.MinRefresh
	}
	if opt.ForcedRefreshEvery <= 0 {
		opt.ForcedRefreshEvery = 30 * time.Second
	}
	if opt.StartupWait <= 0 {
		opt.StartupWait = 5 * time.Second
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cache, err := jwk.NewCache(cctx, httprc.NewClient())
	if err != nil {
		cancel()
		return nil, fmt.Errorf("fhir: jwks: %w", err)
	}
	err = cache.Register(cctx, url,
		jwk.WithHTTPClient(opt.HTTPClient),
		jwk.WithWaitReady(false),
		jwk.WithHttprcResourceOption(httprc.WithMinInterval(opt.MinRefresh)),
		jwk.WithHttprcResourceOption(httprc.WithMaxInterval(opt.MaxRefresh)),
	)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("fhir: jwks %s: %w", url, err)
	}
	k := &JWKS{url: url, cache: cache, cancel: cancel, every: opt.ForcedRefreshEvery}
	wctx, wcancel := context.WithTimeout(ctx, opt.StartupWait)
	defer wcancel()
	cache.Ready(wctx, url)
	return k, nil
}

// Ready reports whether a key set has been fetched.
func (k *JWKS) Ready(ctx context.Context) error {
	if _, err := k.cache.Lookup(ctx, k.url); err != nil {
		return errors.New("fhir: jwks: no key set fetched yet")
	}
	return nil
}

// Keys returns the cached key set, trying one fetch if none is cached.
func (k *JWKS) Keys(ctx context.Context) (jwk.Set, error) {
	if set, err := k.cache.Lookup(ctx, k.url); err == nil {
		return set, nil
	}
	return k.Refresh(ctx)
}

// Refresh fetches the key set now unless it did so within
// ForcedRefreshEvery, and returns the cached set.
func (k *JWKS) Refresh(ctx context.Context) (jwk.Set, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.lastForced) >= k.every {
		k.lastForced = time.Now()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if set, err := k.cache.Refresh(rctx, k.url); err == nil {
			return set, nil
		}
	}
	return k.cache.Lookup(ctx, k.url)
}

// Close stops the background refresh.
func (k *JWKS) Close() error {
	err := k.cache.Shutdown(context.Background())
	k.cancel()
	return err
}
