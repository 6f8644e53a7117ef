package forgestack

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/railiance/forge-exporter/internal/walk/blobtree"
)

// The drill kinds the exporter is told about, with their maximum ages.
var drillPolicies = []struct {
	kind   string
	maxAge string
}{
	{"source-forge", "90d"},
	{"package-blob", "90d"},
	{"runner-substrate", "90d"},
	{"secret-delivery", "180d"},
}

// Evidence file names: the overdue drill and the record with the planted
// secret are what AddPassingDrill and RemoveSecret repair.
const (
	overdueDrill     = "package-blob"
	secretRecordFile = "secret-delivery.yaml"
)

// storageDir is the stand-in for the gitea-shared-storage volume's mount
// (Gitea's /data).
func (s *Stack) storageDir() string { return filepath.Join(s.Dir, "gitea-shared-storage") }

func (s *Stack) makeBlobTree(ctx context.Context) error {
	data := s.storageDir()
	if err := os.MkdirAll(filepath.Join(data, "tmp", "package-upload"), 0o755); err != nil {
		return err
	}
	st, err := blobtree.Generate(ctx, filepath.Join(data, "packages"), blobtree.Options{Files: s.opts.Blobs, Seed: 9})
	if err != nil {
		return err
	}
	s.progress("  %d blobs in %d directories under %s", st.Files, st.Dirs, filepath.Join(data, "packages"))
	return nil
}

// record is a valid drill record of kind dated at date, whose commands
// include extra (for the planted secret).
func record(kind string, date time.Time, extra string) string {
	return fmt.Sprintf(`schema_version: 1
drill: %[1]s
assets: [gitea-database, gitea-shared-storage]
date: %[2]s
operator: platform-oncall (forge-demo)
backup_reference: CNPG backup databases/gitea-db-%[3]s and the %[1]s drill fixture
restored_environment: namespace forge-restore-drill on the staging cluster
commands:
  - kubectl apply -n forge-restore-drill -f restore/%[1]s.yaml%[4]s
checks:
  - name: the restored %[1]s answers its consumer check
    result: passed
no_secret_material_recorded: true
rollback_note: namespace forge-restore-drill deleted with its PVCs
`, kind, date.UTC().Format(time.RFC3339), date.UTC().Format("20060102t150405"), extra)
}

func (s *Stack) writeEvidence(ctx context.Context) error {
	s.evidenceDir = filepath.Join(s.Dir, "evidence")
	if err := os.MkdirAll(s.evidenceDir, 0o755); err != nil {
		return err
	}
	now := time.Now()
	// A fake runner registration token, made up at run time so that no
	// token-shaped string is committed; "Fake" says what it is.
	fake := "Fake" + randomAlnum(36)
	files := map[string]string{
		"source-forge.yaml":     record("source-forge", now.Add(-48*time.Hour), ""),
		"runner-substrate.yaml": record("runner-substrate", now.Add(-72*time.Hour), ""),
		// Overdue: 200 days old against a 90-day maximum age.
		overdueDrill + "-old.yaml": record(overdueDrill, now.Add(-200*24*time.Hour), ""),
		// Recent and passing, but a runner token was pasted into it.
		secretRecordFile: record("secret-delivery", now.Add(-24*time.Hour),
			"\n  - act_runner register --no-interactive --instance https://forge.example.invalid --token "+fake),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(s.evidenceDir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// AddPassingDrill records a passing drill of the overdue kind, dated now:
// ForgeRestoreDrillOverdue resolves.
func (s *Stack) AddPassingDrill(ctx context.Context) error {
	return os.WriteFile(filepath.Join(s.evidenceDir, overdueDrill+"-new.yaml"), []byte(record(overdueDrill, time.Now(), "")), 0o644)
}

// RemoveSecret rewrites the record with the planted token, the token
// replaced by a reference: ForgeEvidenceContainsSecret resolves.
func (s *Stack) RemoveSecret(ctx context.Context) error {
	body := record("secret-delivery", time.Now().Add(-24*time.Hour),
		"\n  - act_runner register --no-interactive --instance https://forge.example.invalid --token-file /run/secrets/runner-registration")
	return os.WriteFile(filepath.Join(s.evidenceDir, secretRecordFile), []byte(body), 0o644)
}

func randomAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
