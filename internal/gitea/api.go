package gitea

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/railiance/forge-exporter/internal/pkgstore"
)

// ErrRunnerListUnsupported is returned by Runners when the server is older
// than Gitea 1.24, which introduced GET /api/v1/admin/actions/runners.
var ErrRunnerListUnsupported = errors.New("the admin runner list (GET /api/v1/admin/actions/runners) needs Gitea 1.24 or newer")

// Runner is one registered Actions runner as the admin API reports it.
type Runner struct {
	ID       int64
	Name     string
	Online   bool
	Busy     bool
	Disabled bool
	Labels   []string
}

// session returns the server info (for the page size) and an SDK client
// with the current token.
func (c *Client) session(ctx context.Context) (ServerInfo, *sdk.Client, secret, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return ServerInfo{}, nil, "", err
	}
	cl, tok, err := c.api(ctx)
	return info, cl, tok, err
}

// Runners lists every runner (global, organisation and repository runners).
// The token's user must be a site admin and the token needs read:admin.
func (c *Client) Runners(ctx context.Context) ([]Runner, error) {
	info, cl, tok, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	if !AtLeast(info.Version, 1, 24) {
		return nil, fmt.Errorf("server version %s: %w", info.Version, ErrRunnerListUnsupported)
	}
	var out []Runner
	// Gitea pages by offset: a runner registered while we page shifts the
	// list, and the next page repeats an item. IDs are never reused.
	seen := map[int64]bool{}
	err = paginate(ctx, info.MaxPageSize, func(page, size int) (int, int64, error) {
		// The SDK gates this call on 1.25; SetGiteaVersion("") lifts the
		// gate, and our own check above allows 1.24.
		res, resp, err := cl.ListAdminActionRunners(sdk.ListActionRunnersOptions{ListOptions: sdk.ListOptions{Page: page, PageSize: size}})
		if err != nil {
			return 0, 0, c.describe(tok, "GET /api/v1/admin/actions/runners", resp, err)
		}
		if res == nil {
			return 0, 0, errors.New("GET /api/v1/admin/actions/runners: empty answer")
		}
		fresh := 0
		for _, r := range res.Runners {
			if r == nil || seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			fresh++
			run := Runner{ID: r.ID, Name: r.Name, Online: r.Status == "online", Busy: r.Busy, Disabled: r.Disabled}
			for _, l := range r.Labels {
				if l != nil && l.Name != "" {
					run.Labels = append(run.Labels, l.Name)
				}
			}
			sort.Strings(run.Labels)
			out = append(out, run)
		}
		if fresh == 0 && len(res.Runners) > 0 {
			return 0, 0, errNoProgress("GET /api/v1/admin/actions/runners", page)
		}
		return len(res.Runners), res.TotalCount, nil
	})
	return out, err
}

// Owners lists every user and organisation name, for package discovery.
func (c *Client) Owners(ctx context.Context) ([]string, error) {
	info, cl, tok, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	// Users and organisations are separate lists; both are package owners.
	lists := []struct {
		what string
		list func(sdk.ListOptions) ([]*sdk.User, *sdk.Response, error)
	}{
		{"GET /api/v1/admin/users", func(o sdk.ListOptions) ([]*sdk.User, *sdk.Response, error) {
			return cl.AdminListUsers(sdk.AdminListUsersOptions{ListOptions: o})
		}},
		{"GET /api/v1/admin/orgs", func(o sdk.ListOptions) ([]*sdk.User, *sdk.Response, error) {
			orgs, resp, err := cl.AdminListOrgs(sdk.AdminListOrgsOptions{ListOptions: o})
			// One entry per org, nil or not: the page length ends the list.
			users := make([]*sdk.User, len(orgs))
			for i, o := range orgs {
				users[i] = &sdk.User{}
				if o != nil {
					users[i].UserName = o.Name
				}
			}
			return users, resp, err
		}},
	}
	var out []string
	for _, l := range lists {
		seen := map[string]bool{}
		err = paginate(ctx, info.MaxPageSize, func(page, size int) (int, int64, error) {
			users, resp, err := l.list(sdk.ListOptions{Page: page, PageSize: size})
			if err != nil {
				return 0, 0, c.describe(tok, l.what, resp, err)
			}
			fresh := 0
			for _, u := range users {
				if u != nil && u.UserName != "" && !seen[u.UserName] {
					seen[u.UserName] = true
					out = append(out, u.UserName)
					fresh++
				}
			}
			if fresh == 0 && len(users) > 0 {
				return 0, 0, errNoProgress(l.what, page)
			}
			return len(users), totalOf(resp), nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return dedupe(out), nil
}

// errNoProgress ends a list whose page holds only items already listed: a
// server (or proxy) that answers every page alike would otherwise be paged
// until the sweep times out.
func errNoProgress(what string, page int) error {
	return fmt.Errorf("%s: page %d repeats only items already listed; the list does not advance", what, page)
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// PackageVersion is one version of one package.
type PackageVersion struct {
	// ID is the version's ID; Gitea never reuses it.
	ID      int64
	Owner   string
	Type    string
	Name    string
	Version string
}

// ErrOwnerNotFound is returned by PackageVersions for an unknown owner.
var ErrOwnerNotFound = errors.New("owner not found")

// PackageVersions lists every package version of owner.
func (c *Client) PackageVersions(ctx context.Context, owner string) ([]PackageVersion, error) {
	info, cl, tok, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	var out []PackageVersion
	seen := map[int64]bool{} // offset paging repeats items when the list changes (see Runners)
	what := fmt.Sprintf("GET /api/v1/packages/%s", owner)
	err = paginate(ctx, info.MaxPageSize, func(page, size int) (int, int64, error) {
		pkgs, resp, err := cl.ListPackages(owner, sdk.ListPackagesOptions{ListOptions: sdk.ListOptions{Page: page, PageSize: size}})
		if err != nil {
			if resp != nil && resp.Response != nil && resp.StatusCode == 404 {
				return 0, 0, fmt.Errorf("%s: %w", what, ErrOwnerNotFound)
			}
			return 0, 0, c.describe(tok, what, resp, err)
		}
		fresh := 0
		for _, p := range pkgs {
			if p == nil || seen[p.ID] {
				continue
			}
			seen[p.ID] = true
			fresh++
			out = append(out, PackageVersion{ID: p.ID, Owner: owner, Type: p.Type, Name: p.Name, Version: p.Version})
		}
		if fresh == 0 && len(pkgs) > 0 {
			return 0, 0, errNoProgress(what, page)
		}
		return len(pkgs), totalOf(resp), nil
	})
	return out, err
}

// PackageFile is one file of a package version as the API lists it.
type PackageFile struct {
	ID     int64
	Name   string
	Size   int64
	SHA256 pkgstore.Digest
}

// ErrVersionNotFound is returned by PackageFiles for a version that does
// not exist (deleted since it was listed).
var ErrVersionNotFound = errors.New("package version not found")

// PackageFiles lists the files of one package version. A file listed twice
// (same ID) is returned once.
func (c *Client) PackageFiles(ctx context.Context, v PackageVersion) ([]PackageFile, error) {
	cl, tok, err := c.api(ctx)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("GET /api/v1/packages/%s/%s/%s/%s/files", v.Owner, v.Type, v.Name, v.Version)
	list, resp, err := cl.ListPackageFiles(v.Owner, v.Type, v.Name, v.Version)
	if err != nil {
		if resp != nil && resp.Response != nil && resp.StatusCode == 404 {
			return nil, fmt.Errorf("%s: %w", what, ErrVersionNotFound)
		}
		return nil, c.describe(tok, what, resp, err)
	}
	out := make([]PackageFile, 0, len(list))
	seen := make(map[int64]bool, len(list))
	var total int64
	for _, f := range list {
		if f == nil || seen[f.ID] {
			continue
		}
		seen[f.ID] = true
		if f.Size < 0 {
			return nil, fmt.Errorf("package %s/%s/%s %s: file %q has a negative size", v.Owner, v.Type, v.Name, v.Version, f.Name)
		}
		if f.Size > math.MaxInt64-total {
			return nil, fmt.Errorf("package %s/%s/%s %s: file sizes add up to more than 2^63 bytes", v.Owner, v.Type, v.Name, v.Version)
		}
		total += f.Size
		sum, ok := pkgstore.ParseDigest(f.SHA256)
		if !ok {
			return nil, fmt.Errorf("package %s/%s/%s %s: file %q has no valid sha256 (%q)", v.Owner, v.Type, v.Name, v.Version, f.Name, firstLine(f.SHA256))
		}
		out = append(out, PackageFile{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: sum})
	}
	return out, nil
}
