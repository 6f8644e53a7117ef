package collectors

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/railiance/forge-exporter/internal/config"
	"github.com/railiance/forge-exporter/internal/gitea"
	"github.com/railiance/forge-exporter/internal/testenv/giteaenv"
	"github.com/railiance/forge-exporter/internal/testenv/sopsenv"
)

// TestSOPSFromRealGitea reads a SOPS file the real sops encrypted from a
// repository of a real Gitea 1.26.4, through the contents API at a ref,
// with a token that has only read:repository; a new commit that decrypts
// the file is followed at the next sample.
func TestSOPSFromRealGitea(t *testing.T) {
	env := sopsenv.New(t)
	g := giteaenv.Start(t, giteaenv.Options{})
	ops, breakGlass := env.NewKey(t), env.NewKey(t)
	plain, err := os.ReadFile("testdata/sops/gitea-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	enc := env.Encrypt(t, "v.yaml", plain, sopsenv.Age(ops, breakGlass))

	if code, body := g.Do(t, "POST", "/api/v1/user/repos", map[string]any{"name": "deploy", "auto_init": true, "default_branch": "main", "private": true}); code != 201 {
		t.Fatalf("create repository: %d %s", code, body)
	}
	const path = "/api/v1/repos/forgeadmin/deploy/contents/helm/gitea-values.sops.yaml"
	code, body := g.Do(t, "POST", path, map[string]any{"content": base64.StdEncoding.EncodeToString(enc), "message": "add encrypted values", "branch": "main"})
	if code != 201 {
		t.Fatalf("add file: %d %s", code, body)
	}
	var created struct {
		Content struct{ SHA string } `json:"content"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}

	tokFile := g.WriteTokenFile(t, g.CreateToken(t, "sops-reader", "read:repository"))
	cfg := &config.Config{
		Gitea: config.Gitea{URL: g.URL, TokenFile: tokFile, Timeout: config.Duration(10 * time.Second), RequestsPerSecond: 50, Interval: config.Duration(time.Hour)},
		SOPS: config.SOPS{
			Interval:           config.Duration(time.Hour), // the test triggers samples
			ExpectedRecipients: config.Recipients{Age: []string{ops.Recipient, breakGlass.Recipient}},
			Files: []config.SOPSFile{
				{Name: "values", Gitea: config.SOPSGiteaFile{Repository: "forgeadmin/deploy", Path: "helm/gitea-values.sops.yaml", Ref: "main"}},
				{Name: "absent", Gitea: config.SOPSGiteaFile{Repository: "forgeadmin/deploy", Path: "helm/absent.sops.yaml", Ref: "main"}},
			},
		},
	}
	e := startCollectors(t, cfg, "sops")
	_, v := e.scrape()
	for series, want := range map[string]float64{
		`forge_sops_file_check_passed{file="values"}`:          1,
		`forge_sops_file_fully_encrypted{file="values"}`:       1,
		`forge_sops_file_recipients{file="values",type="age"}`: 2,
		`forge_sops_file_readable{file="absent"}`:              0,
		`forge_sops_file_check_passed{file="absent"}`:          0,
		`forge_exporter_collector_success{collector="sops"}`:   1,
	} {
		if got, ok := v[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if !strings.Contains(e.logs.String(), "not found") {
		t.Errorf("the missing file is not logged as not found:\n%s", e.logs.String())
	}

	// Someone commits the decrypted file on main: the next sample sees it.
	dec := env.Decrypt(t, "v.yaml", enc, ops)
	if code, body := g.Do(t, "PUT", path, map[string]any{"content": base64.StdEncoding.EncodeToString(dec), "sha": created.Content.SHA, "message": "oops", "branch": "main"}); code != 200 {
		t.Fatalf("update file: %d %s", code, body)
	}
	e.trigger("sops")
	_, v = e.scrape()
	if v[`forge_sops_file_check_passed{file="values"}`] != 0 || v[`forge_sops_file_plaintext_values{file="values"}`] < 2 {
		t.Errorf("the decrypting commit is not seen: passed %v, plaintext %v", v[`forge_sops_file_check_passed{file="values"}`], v[`forge_sops_file_plaintext_values{file="values"}`])
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "gitea.admin.password is not encrypted") || strings.Contains(logs, "Adm1n-Pa55") {
		t.Errorf("log:\n%s", logs)
	}

	// The documented scope is needed: a token without read:repository is
	// refused, and the error says which scope is missing.
	other := gitea.New(gitea.Options{URL: g.URL, TokenFile: g.WriteTokenFile(t, g.CreateToken(t, "no-repo", "read:admin")), Timeout: 10 * time.Second}, slog.Default())
	_, err = other.File(context.Background(), "forgeadmin/deploy", "helm/gitea-values.sops.yaml", "main")
	if err == nil || !strings.Contains(err.Error(), "read:repository") {
		t.Errorf("a token without read:repository: %v", err)
	}
}
