package gitea

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv/giteafake"
)

// TestListsChangingBetweenPages registers and removes runners and package
// versions while a sweep pages through them (Gitea pages by offset, so an
// insertion at the front repeats an item on the next page and a removal
// skips one): a sweep never fails or reports an item twice, and the next
// sweep after the change is exact.
func TestListsChangingBetweenPages(t *testing.T) {
	for _, change := range []string{"insert", "remove"} {
		t.Run(change, func(t *testing.T) {
			f := giteafake.New(t, testToken)
			f.MaxItems = 2
			for i := range 6 {
				f.Runners = append(f.Runners, giteafake.Runner{ID: int64(10 + i), Name: fmt.Sprintf("r%d", i), Online: true})
				f.Packages["acme"] = append(f.Packages["acme"], giteafake.Package{ID: int64(100 + i), Type: "generic", Name: fmt.Sprintf("p%d", i), Version: "1"})
			}
			var churn atomic.Bool
			churn.Store(true)
			next := int64(1)
			f.Hook = func(w http.ResponseWriter, r *http.Request) bool {
				// After each first page, change the list at its front.
				if !churn.Load() || r.URL.Query().Get("page") != "2" {
					return false
				}
				f.Mu.Lock()
				defer f.Mu.Unlock()
				switch change {
				case "insert":
					f.Runners = append([]giteafake.Runner{{ID: next, Name: fmt.Sprintf("new%d", next), Online: true}}, f.Runners...)
					f.Packages["acme"] = append([]giteafake.Package{{ID: next, Type: "generic", Name: fmt.Sprintf("new%d", next), Version: "1"}}, f.Packages["acme"]...)
					next++
				case "remove":
					f.Runners = f.Runners[1:]
					f.Packages["acme"] = f.Packages["acme"][1:]
				}
				return false
			}
			c, _, _ := newClient(t, f.URL, Options{})
			ctx := context.Background()
			rs, err := c.Runners(ctx)
			if err != nil {
				t.Fatalf("runners during churn: %v", err)
			}
			seen := map[int64]bool{}
			for _, r := range rs {
				if seen[r.ID] {
					t.Errorf("runner %d reported twice in one sweep", r.ID)
				}
				seen[r.ID] = true
			}
			vs, err := c.PackageVersions(ctx, "acme")
			if err != nil {
				t.Fatalf("packages during churn: %v", err)
			}
			seenV := map[int64]bool{}
			for _, v := range vs {
				if seenV[v.ID] {
					t.Errorf("package version %d reported twice in one sweep", v.ID)
				}
				seenV[v.ID] = true
			}
			churn.Store(false)
			rs, err = c.Runners(ctx)
			vs, err2 := c.PackageVersions(ctx, "acme")
			f.Mu.Lock()
			wantR, wantV := len(f.Runners), len(f.Packages["acme"])
			f.Mu.Unlock()
			if err != nil || err2 != nil || len(rs) != wantR || len(vs) != wantV {
				t.Errorf("after the churn: %d runners (want %d), %d versions (want %d), errors %v %v", len(rs), wantR, len(vs), wantV, err, err2)
			}
		})
	}
}
