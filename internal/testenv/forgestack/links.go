package forgestack

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Link is a page of the running stack a person can open (make demo prints
// them; the whole-forge test fetches each and expects 200).
type Link struct {
	What string
	URL  string
	// TokenFile holds the bearer token the URL needs; empty: none.
	TokenFile string
}

// Links lists where to look. Prometheus's alert and target pages are at
// /alerts and /targets in Prometheus 3, but Debian's 2.42 ships only the
// classic UI under /classic/...: the first that answers is listed. Debian's
// Alertmanager has no web UI, so its API is listed instead.
func (s *Stack) Links(ctx context.Context) []Link {
	prom := func(page string) string {
		for _, p := range []string{"/" + page, "/classic/" + page} {
			if fetch(ctx, s.PrometheusURL+p, "") == http.StatusOK {
				return s.PrometheusURL + p
			}
		}
		return s.PrometheusURL + "/" + page
	}
	token := filepath.Join(s.Dir, "secrets", "gitea-token")
	return []Link{
		{What: "exporter metrics", URL: s.ExporterURL + "/metrics"},
		{What: "Prometheus alerts", URL: prom("alerts")},
		{What: "Prometheus targets", URL: prom("targets")},
		{What: "Alertmanager alerts (API)", URL: s.AlertmanagerURL + "/api/v2/alerts"},
		{What: "Gitea runners (admin API)", URL: s.GiteaURL + "/api/v1/admin/actions/runners", TokenFile: token},
	}
}

// Fetch GETs the link (with its token) and returns the HTTP status, or 0
// when the server did not answer.
func (l Link) Fetch(ctx context.Context) int {
	tok := ""
	if l.TokenFile != "" {
		b, err := os.ReadFile(l.TokenFile)
		if err != nil {
			return 0
		}
		tok = strings.TrimSpace(string(b))
	}
	return fetch(ctx, l.URL, tok)
}

func fetch(ctx context.Context, url, token string) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
