package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func TestNextVersion(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	for i, c := range []struct {
		id, digest string
		want       int
	}{
		{"R-1", "sha256:a", 1},
		{"R-1", "sha256:a", 1}, // the same content again: the same version
		{"R-1", "sha256:b", 2},
		{"R-2", "sha256:b", 1}, // another report: its own history
		{"R-1", "sha256:c", 3},
		{"R-1", "sha256:a", 1},
		{"R-1", "sha256:b", 2},
	} {
		v, err := s.NextVersion(ctx, c.id, c.digest)
		if err != nil || v != c.want {
			t.Errorf("step %d: NextVersion(%s, %s) = %d, %v; want %d", i, c.id, c.digest, v, err, c.want)
		}
	}
	if _, err := s.NextVersion(ctx, "R-1", ""); err == nil {
		t.Error("an empty digest was given a version")
	}
	// Known: the newest version handed out, 0 for a report never seen.
	for id, want := range map[string]int{"R-1": 3, "R-2": 1, "R-NEVER": 0} {
		if v, err := s.Versions().Known(ctx, id); err != nil || v != want {
			t.Errorf("Known(%s) = %d, %v; want %d", id, v, err, want)
		}
	}
	// Racing callers: 8 contents, each asked for by 3 callers at once, get
	// 8 distinct versions 1..8, and every caller of one content the same.
	var mu sync.Mutex
	got := map[string]map[int]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 24; i++ {
		d := fmt.Sprint("sha256:race", i%8)
		wg.Go(func() {
			v, err := s.NextVersion(ctx, "RACE", d)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if got[d] == nil {
				got[d] = map[int]bool{}
			}
			got[d][v] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for d, vs := range got {
		if len(vs) != 1 {
			t.Errorf("%s got versions %v", d, vs)
		}
		for v := range vs {
			if seen[v] || v < 1 || v > 8 {
				t.Errorf("version %d given twice or out of 1..8", v)
			}
			seen[v] = true
		}
	}
}
