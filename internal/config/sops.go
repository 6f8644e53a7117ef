package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/railiance/forge-exporter/internal/sops"
)

// SOPS configures the SOPS sentinel: which SOPS-encrypted files it checks
// and the recipients they must be encrypted to. The exporter never holds a
// key: it reads the files as they are stored in Git.
type SOPS struct {
	// Interval is how often the files are re-read.
	Interval Duration `yaml:"interval"`
	// ExpectedRecipients applies to every file that does not list its own.
	ExpectedRecipients Recipients `yaml:"expected_recipients"`
	// Files are the SOPS files to check.
	Files []SOPSFile `yaml:"files"`
}

// SOPSFile is one SOPS-encrypted file, read from a path (a git-sync
// volume, a mounted ConfigMap) or from a Gitea repository at a ref.
type SOPSFile struct {
	// Name labels the file's metrics and names it in asset signals.
	Name string `yaml:"name"`
	// Path is a local file.
	Path string `yaml:"path"`
	// Gitea reads the file through the Gitea API (needs the gitea section
	// and a token with read:repository).
	Gitea SOPSGiteaFile `yaml:"gitea"`
	// Format is yaml, json or dotenv; empty guesses from the file name.
	Format string `yaml:"format"`
	// ExpectedRecipients, when set, replaces sops.expected_recipients.
	ExpectedRecipients *Recipients `yaml:"expected_recipients"`
}

// SOPSGiteaFile is a file in a Gitea repository.
type SOPSGiteaFile struct {
	// Repository is owner/name.
	Repository string `yaml:"repository"`
	// Path is the file's path in the repository.
	Path string `yaml:"path"`
	// Ref is a branch, tag or commit; empty means the default branch.
	Ref string `yaml:"ref"`
}

// Set reports whether the Gitea source is configured.
func (g SOPSGiteaFile) Set() bool { return g.Repository != "" || g.Path != "" || g.Ref != "" }

// Recipients are the keys a SOPS file's data key must be encrypted to, by
// type, written as the sops command-line flags take them: age recipients
// (age1…), PGP fingerprints, AWS KMS ARNs (arn+role when a role is used),
// GCP KMS resource ids, Azure Key Vault key URLs
// (https://VAULT.vault.azure.net/keys/NAME/VERSION), Vault transit key URLs
// (https://vault:8200/v1/ENGINE/keys/NAME) and HuaweiCloud KMS key ids.
type Recipients struct {
	Age     []string `yaml:"age"`
	PGP     []string `yaml:"pgp"`
	KMS     []string `yaml:"kms"`
	GCPKMS  []string `yaml:"gcp_kms"`
	AzureKV []string `yaml:"azure_kv"`
	HCVault []string `yaml:"hc_vault"`
	HCKMS   []string `yaml:"hckms"`
}

// byType returns the lists with their sops type names.
func (r *Recipients) byType() []struct {
	typ  string
	list []string
} {
	return []struct {
		typ  string
		list []string
	}{
		{"age", r.Age}, {"pgp", r.PGP}, {"kms", r.KMS}, {"gcp_kms", r.GCPKMS},
		{"azure_kv", r.AzureKV}, {"hc_vault", r.HCVault}, {"hckms", r.HCKMS},
	}
}

// List returns the recipients as the sops package compares them.
func (r *Recipients) List() []sops.Recipient {
	var out []sops.Recipient
	for _, t := range r.byType() {
		for _, id := range t.list {
			out = append(out, sops.Recipient{Type: t.typ, ID: sops.NormalizeRecipient(t.typ, id)})
		}
	}
	return out
}

// Empty reports whether no recipient is listed.
func (r *Recipients) Empty() bool { return len(r.List()) == 0 }

// Expected returns the recipients f must be encrypted to.
func (s *SOPS) Expected(f SOPSFile) []sops.Recipient {
	if f.ExpectedRecipients != nil {
		return f.ExpectedRecipients.List()
	}
	return s.ExpectedRecipients.List()
}

// FormatOf returns the file's format (configured or guessed from its name).
func (f SOPSFile) FormatOf() sops.Format {
	if f.Format != "" {
		ft, _ := sops.ParseFormat(f.Format)
		return ft
	}
	if f.Path != "" {
		return sops.FormatOf(f.Path)
	}
	return sops.FormatOf(f.Gitea.Path)
}

var (
	ageRecipientRE = regexp.MustCompile(`^age1[02-9ac-hj-np-z]{58}$`)
	pgpRE          = regexp.MustCompile(`^[0-9A-Fa-f]{40}$`)
	repoRE         = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
)

func (s *SOPS) validate(p *problems, path string, giteaSet bool) {
	if s.Interval == 0 {
		s.Interval = Duration(5 * time.Minute)
	}
	if s.Interval < Duration(time.Second) {
		p.add(path+".interval", "must be at least 1s, got %s", s.Interval)
	}
	s.ExpectedRecipients.validate(p, path+".expected_recipients")
	seen := map[string]bool{}
	for i := range s.Files {
		f := &s.Files[i]
		fp := fmt.Sprintf("%s.files[%d]", path, i)
		requireName(p, fp+".name", f.Name, seen)
		switch {
		case f.Path != "" && f.Gitea.Set():
			p.add(fp, "set path or gitea, not both")
		case f.Path != "":
			requirePath(p, fp+".path", &f.Path)
		case f.Gitea.Set():
			f.Gitea.validate(p, fp+".gitea")
			if !giteaSet {
				p.add(fp+".gitea", "needs the gitea section (url, token_file with the read:repository scope)")
			}
		default:
			p.add(fp, "set path (a mounted file) or gitea (repository, path, ref)")
		}
		if f.Format != "" {
			if _, err := sops.ParseFormat(f.Format); err != nil {
				p.add(fp+".format", "%q is not a SOPS format (yaml, json or dotenv)", f.Format)
			}
		} else if (f.Path != "" || f.Gitea.Path != "") && f.FormatOf() == sops.Unknown {
			p.add(fp+".format", "cannot tell the format from the file name (.yaml, .yml, .json, .env): set format to yaml, json or dotenv")
		}
		if f.ExpectedRecipients != nil {
			f.ExpectedRecipients.validate(p, fp+".expected_recipients")
		}
		if s.Expected(*f) == nil {
			p.add(fp+".expected_recipients", "is required (here or in %s.expected_recipients): the sentinel compares the file's recipients with it, and a removed break-glass recipient is found only that way", path)
		}
	}
}

func (g *SOPSGiteaFile) validate(p *problems, path string) {
	if g.Repository == "" {
		p.add(path+".repository", "is required")
	} else if !repoRE.MatchString(g.Repository) {
		p.add(path+".repository", "%q must be owner/name", g.Repository)
	}
	g.Path = strings.TrimPrefix(g.Path, "/")
	if g.Path == "" {
		p.add(path+".path", "is required")
	} else if strings.Contains("/"+g.Path+"/", "/../") {
		p.add(path+".path", "must not contain ..")
	}
	if strings.ContainsAny(g.Ref, " \t\n?#") {
		p.add(path+".ref", "%q is not a branch, tag or commit", g.Ref)
	}
}

func (r *Recipients) validate(p *problems, path string) {
	for _, t := range r.byType() {
		seen := map[string]bool{}
		for i, id := range t.list {
			ip := fmt.Sprintf("%s.%s[%d]", path, t.typ, i)
			n := sops.NormalizeRecipient(t.typ, id)
			switch {
			case n == "":
				p.add(ip, "must not be empty")
			case strings.HasPrefix(strings.ToUpper(n), "AGE-SECRET-KEY-"):
				// Never echo it: it is a private key.
				p.add(ip, "is an age identity (a private key): give its public recipient (age1…), and treat the identity as leaked")
			case t.typ == "age" && !ageRecipientRE.MatchString(n):
				p.add(ip, "%q is not an age recipient (age1 followed by 58 characters)", n)
			case t.typ == "pgp" && !pgpRE.MatchString(n):
				p.add(ip, "%q is not a PGP fingerprint (40 hexadecimal digits)", n)
			case seen[n]:
				p.add(ip, "duplicate recipient %q", n)
			}
			seen[n] = true
		}
	}
}
