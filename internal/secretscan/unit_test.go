package secretscan

import (
	"strings"
	"testing"
)

func TestSecretInHugeLineIsFound(t *testing.T) {
	s := New()
	// A token straddling the first window edge must still be seen.
	for _, at := range []int{0, MaxLineLength - 20, 3 * MaxLineLength} {
		line := strings.Repeat("a ", at/2) + "AKIAFAKE0123456789AB " + strings.Repeat("b ", 3*MaxLineLength)
		f := s.Scan([]byte(line))
		if len(f) != 1 || f[0].Detector != DetCloudAccessKey || f[0].Line != 1 {
			t.Errorf("offset %d: findings %v", at, f)
		}
	}
}

func TestFindingsNameLineAndField(t *testing.T) {
	doc := "drill: source-forge\ncommands:\n  - kubectl get pods\n  - |\n    export PGPASSWORD=FakeValue1234\n    psql -h db\n"
	f := New().Scan([]byte(doc))
	if len(f) != 1 {
		t.Fatalf("findings %v", f)
	}
	if f[0].Line != 5 || f[0].Field != "commands[1]" || f[0].Detector != DetPassword {
		t.Errorf("finding %+v, want line 5, field commands[1], detector password", f[0])
	}
	if strings.Contains(f[0].String(), "FakeValue1234") {
		t.Errorf("finding echoes the secret: %s", f[0])
	}
}

func TestSecretKeyNamesAreWithheld(t *testing.T) {
	doc := "hvs.FAKEabcdefghijklmnopqrstuvwxyz012345: true\n"
	f := New().Scan([]byte(doc))
	if len(f) == 0 {
		t.Fatal("token used as a key was not found")
	}
	for _, x := range f {
		if strings.Contains(x.String(), "FAKEabcdef") {
			t.Errorf("finding echoes a key that is a secret: %s", x)
		}
	}
	for k, want := range map[string]string{
		"operator":                                 "operator",
		"restored_environment":                     "restored_environment",
		"AKIAFAKE0123456789AB":                     "<withheld>",
		"9fceb02d0ae598e95dc970b74767f19372d61af8": "<withheld>",
		"x" + strings.Repeat("y", 60):              "<withheld>",
		"key with spaces":                          "<withheld>",
	} {
		if got := SafeKey(k); got != want {
			t.Errorf("SafeKey(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestLooksLikeSecret(t *testing.T) {
	s := New()
	for _, v := range []string{
		"databases/gitea-db-app",
		"platform/workloads/default/gitea/gitea-admin",
		"helm/gitea-values.sops.yaml",
		"Kubernetes Secret default/forge-registry-pull (pull only)",
		"OpenBao policy forge-backup-read",
		"platform/object-storage/forge-backup",
	} {
		if d, ok := s.LooksLikeSecret(v); ok {
			t.Errorf("%q flagged as %s", v, d)
		}
	}
	for _, v := range []string{
		"databases/Fak3Xq9LmN2pR7sT4vW8yZ1b",
		"9fceb02d0ae598e95dc970b74767f19372d61af8",
		"platform/databases/gitea hvs.FAKEabcdefghijklmnopqrstuvwxyz012345",
		"postgres://gitea:FakePassw0rd@db/gitea",
	} {
		if _, ok := s.LooksLikeSecret(v); !ok {
			t.Errorf("%q not flagged", v)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	for _, v := range []string{"<redacted>", "${PGPASSWORD}", "$(cat /run/secrets/x)", "$TOKEN", "***", "xxxxxxxx",
		"REDACTED", "[masked]", "ENC[AES256_GCM,data:x]", "platform/databases/gitea", "{{ .Values.token }}", "/run/secrets/token", "null"} {
		if notPlaceholder(v, "") {
			t.Errorf("%q is a placeholder", v)
		}
	}
	for _, v := range []string{"hunter2fake", "Fake0token9", "s3cr3t-Value"} {
		if !notPlaceholder(v, "") {
			t.Errorf("%q is a value", v)
		}
	}
}
