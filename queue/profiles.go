package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/profile"
)

// BucketProfiles is the KV bucket of the deployment's site profiles: key =
// profile id, value = the profile.Bundle as JSON (the profile file and its
// logo). Every worker renders with what it holds, so all agree whatever
// their disks hold; only the admin role writes it (folio profile put,
// folio serve --profiles at start).
const BucketProfiles = "folio-profiles"

// PutProfiles makes the bucket hold exactly the profiles of set: each is
// written (an unchanged one is left as it is) and any other is deleted. It
// needs the admin role. A profile's signing key and chain go in with it
// (only the admin and worker roles may read the bucket).
func (q *Queue) PutProfiles(ctx context.Context, set *profile.Set) error {
	if q.cfg.Role != broker.RoleAdmin && q.cfg.Role != "" {
		return q.errRole("write site profiles")
	}
	if q.profiles == nil {
		return errors.New("queue: no profile bucket")
	}
	keep := map[string]bool{}
	for _, p := range set.Profiles() {
		b, err := p.Bundle()
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.ID, err)
		}
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		keep[p.ID] = true
		cctx, cancel := context.WithTimeout(ctx, q.cfg.CallTimeout)
		cur, err := q.profiles.Get(cctx, p.ID)
		if err == nil && string(cur.Value()) == string(data) {
			cancel()
			continue
		}
		_, err = q.profiles.Put(cctx, p.ID, data)
		cancel()
		if err != nil {
			return fmt.Errorf("queue: putting profile %s: %w", p.ID, err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, q.cfg.CallTimeout)
	defer cancel()
	keys, err := q.profiles.ListKeys(cctx)
	if err != nil {
		return fmt.Errorf("queue: listing profiles: %w", err)
	}
	for k := range keys.Keys() {
		if !keep[k] {
			if err := q.profiles.Delete(cctx, k); err != nil {
				return fmt.Errorf("queue: deleting profile %s: %w", k, err)
			}
		}
	}
	return nil
}

// Profiles is the site profile set kept in NATS, followed as it changes.
// It implements ProfileSource; a job renders with the set current when it
// starts.
type Profiles struct {
	kv      jetstream.KeyValue
	timeout time.Duration
	mu      sync.Mutex
	set     *profile.Set
	err     error
	seen    uint64 // the bucket's last revision the set includes
	ready   chan struct{}
	bundles map[string]profile.Bundle
}

var _ ProfileSource = (*Profiles)(nil)

// WatchProfiles follows the profile bucket until ctx ends. It returns once
// the bucket's current content is loaded.
func (q *Queue) WatchProfiles(ctx context.Context) (*Profiles, error) {
	if q.profiles == nil {
		return nil, q.errRole("read site profiles")
	}
	w, err := q.profiles.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: watching profiles: %w", err)
	}
	p := &Profiles{kv: q.profiles, timeout: q.cfg.CallTimeout, ready: make(chan struct{}), bundles: map[string]profile.Bundle{}}
	go func() {
		defer w.Stop()
		initial := true
		var last uint64
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // the current content is all in
					initial = false
					p.rebuild(last)
					close(p.ready)
					continue
				}
				last = max(last, e.Revision())
				if e.Operation() == jetstream.KeyValuePut {
					var b profile.Bundle
					if err := json.Unmarshal(e.Value(), &b); err == nil {
						p.bundles[e.Key()] = b
					} else {
						p.bundles[e.Key()] = profile.Bundle{File: e.Key(), JSON: e.Value()}
					}
				} else {
					delete(p.bundles, e.Key())
				}
				if !initial {
					p.rebuild(last)
				}
			}
		}
	}()
	select {
	case <-p.ready:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// rebuild checks the bundles as a set. A set that does not check (it
// cannot, unless written around folio) is an error for every job until
// it is fixed: jobs are retried, never rendered with part of a set.
func (p *Profiles) rebuild(seen uint64) {
	var names []string
	byName := map[string]profile.Bundle{}
	for _, b := range p.bundles {
		names = append(names, b.File)
		byName[b.File] = b
	}
	slices.Sort(names)
	var ps []*profile.Profile
	var err error
	for _, n := range names {
		pr, perr := profile.LoadBundle(byName[n])
		if perr != nil {
			err = fmt.Errorf("site profile %s in %s: %w", n, BucketProfiles, perr)
			break
		}
		ps = append(ps, pr)
	}
	var set *profile.Set
	if err == nil && len(ps) > 0 {
		set, err = profile.NewSet(ps...)
	}
	p.mu.Lock()
	p.set, p.err, p.seen = set, err, seen
	p.mu.Unlock()
}

// ProfileSet implements ProfileSource: the set as the bucket holds it now.
// It asks the server for the bucket's last revision and waits (polling,
// at most Config.CallTimeout) until the watcher has applied it, so a job
// that starts after a folio profile put renders with the new set.
func (p *Profiles) ProfileSet(ctx context.Context) (*profile.Set, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	st, err := p.kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: profile bucket: %w", err)
	}
	var want uint64
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		want = bs.StreamInfo().State.LastSeq
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		p.mu.Lock()
		set, err, seen := p.set, p.err, p.seen
		p.mu.Unlock()
		if seen >= want {
			return set, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("queue: the site profiles of revision %d did not arrive: %w", want, ctx.Err())
		case <-tick.C:
		}
	}
}

// String describes the set without its bundles (which hold signing keys).
func (p *Profiles) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("site profiles (%d, bucket revision %d)", len(p.set.Profiles()), p.seen)
}

// GoString is String.
func (p *Profiles) GoString() string { return p.String() }
