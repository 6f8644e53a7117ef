package sops

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv/sopsenv"
)

// planted returns the fake secret values planted in the plaintext
// fixtures: every check's output is searched for each of them, and a
// sentinel that echoes one has failed.
func planted(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(string(fixture(t, "planted.txt")), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// fixture reads a file under testdata/ (the plaintext inputs hold fake
// secrets on purpose; testdata/ is where the repository allows them).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type formatCase struct {
	// name is the plaintext fixture under testdata/plain/.
	name string
	// after is where testdata/added/FORMAT, a line holding a plaintext
	// secret under a key sops would encrypt, is inserted (after the first
	// line matching it).
	after string
	// addedPath is the key path the check must name for it.
	addedPath string
}

var formats = []formatCase{
	{"gitea-values.sops.yaml", `^gitea:`, "gitea.smtp_password"},
	{"gitea-values.sops.json", `^\{`, "smtp_password"},
	{"gitea.sops.env", `^GITEA__security`, "SMTP_PASSWORD"},
}

// output renders everything a report would show a person.
func output(r *Report) string {
	var b strings.Builder
	for _, m := range r.Messages() {
		b.WriteString(m + "\n")
	}
	for _, p := range r.Unencrypted {
		b.WriteString(p.String() + "\n")
	}
	fmt.Fprintf(&b, "%+v\n", *r)
	return b.String()
}

func assertNoValue(t *testing.T, r *Report) {
	t.Helper()
	out := output(r)
	for _, s := range planted(t) {
		if strings.Contains(out, s) {
			t.Errorf("the report echoes a planted secret value:\n%s", out)
		}
	}
}

func insertAfter(t *testing.T, data []byte, pattern, line string) []byte {
	t.Helper()
	re := regexp.MustCompile(pattern)
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if re.MatchString(l) {
			out := append(append(append([]string{}, lines[:i+1]...), line), lines[i+1:]...)
			return []byte(strings.Join(out, "\n"))
		}
	}
	t.Fatalf("no line matches %s", pattern)
	return nil
}

func expect(keys ...sopsenv.Key) []Recipient {
	out := make([]Recipient, len(keys))
	for i, k := range keys {
		out[i] = Recipient{Type: "age", ID: k.Recipient}
	}
	return out
}

// TestRealSOPSFiles encrypts Gitea values files with the real sops and
// real age keys in all three formats and checks the sentinel's verdicts:
// clean when encrypted, caught when decrypted or edited by hand, drift
// when the recipients change, and never a value in its output.
func TestRealSOPSFiles(t *testing.T) {
	env := sopsenv.New(t)
	ops, breakGlass, extra := env.NewKey(t), env.NewKey(t), env.NewKey(t)
	want := expect(ops, breakGlass)
	for _, fc := range formats {
		t.Run(FormatOf(fc.name).String(), func(t *testing.T) {
			enc := env.Encrypt(t, fc.name, fixture(t, "plain/"+fc.name), sopsenv.Age(ops, breakGlass))

			t.Run("encrypted", func(t *testing.T) {
				r := Check(fc.name, enc, Options{Expected: want})
				if !r.OK() || !r.FullyEncrypted() || !r.MAC {
					t.Fatalf("a file sops just encrypted fails the check:\n%s\n%s", strings.Join(r.Messages(), "\n"), enc)
				}
				if r.encryptedAgainstRule != 0 {
					t.Errorf("%d encrypted values or comments the rule would leave plaintext: the rule logic differs from sops", r.encryptedAgainstRule)
				}
				if r.Encrypted < 4 {
					t.Errorf("only %d encrypted values", r.Encrypted)
				}
				if len(r.Unencrypted) != 1 || !strings.EqualFold(r.Unencrypted[0].Path, "image_unencrypted") {
					t.Errorf("values left in plaintext = %v, want only image_unencrypted", r.Unencrypted)
				}
				if r.LastModified.IsZero() || r.Version != "3.13.3" {
					t.Errorf("lastmodified %v, version %q", r.LastModified, r.Version)
				}
				if got := CountByType(r.Recipients)["age"]; got != 2 {
					t.Errorf("%d age recipients, want 2", got)
				}
			})

			t.Run("decrypted", func(t *testing.T) {
				dec := env.Decrypt(t, fc.name, enc, ops)
				if !bytes.Contains(dec, []byte(planted(t)[1])) {
					t.Fatalf("sops -d did not give the plaintext back")
				}
				r := Check(fc.name, dec, Options{Expected: want})
				if r.OK() || r.FullyEncrypted() || r.Metadata || r.MAC {
					t.Fatalf("a decrypted file passes: %+v", r)
				}
				if len(r.Plaintext) < 4 {
					t.Errorf("only %d plaintext values reported in a decrypted file", len(r.Plaintext))
				}
				assertNoValue(t, r)
				t.Logf("decrypted file:\n%s", strings.Join(r.Messages(), "\n"))
			})

			t.Run("plaintext value added by hand", func(t *testing.T) {
				added := strings.TrimSuffix(string(fixture(t, "added/"+FormatOf(fc.name).String())), "\n")
				edited := insertAfter(t, enc, fc.after, added)
				r := Check(fc.name, edited, Options{Expected: want})
				if r.OK() || r.FullyEncrypted() {
					t.Fatalf("a hand-added plaintext value passes:\n%s", edited)
				}
				if len(r.Plaintext) != 1 || r.Plaintext[0].Path != fc.addedPath {
					t.Fatalf("plaintext = %v, want exactly %s", r.Plaintext, fc.addedPath)
				}
				if !strings.Contains(strings.Join(r.Messages(), "\n"), fc.addedPath) {
					t.Errorf("the messages do not name %s: %v", fc.addedPath, r.Messages())
				}
				assertNoValue(t, r)
				// The MAC still verifies nothing here, but sops itself refuses the file.
				env.DecryptFails(t, fc.name, edited, ops)
			})

			t.Run("recipient removed", func(t *testing.T) {
				upd := env.UpdateKeys(t, fc.name, enc, ops, sopsenv.Age(ops))
				r := Check(fc.name, upd, Options{Expected: want})
				if r.OK() || !r.FullyEncrypted() {
					t.Fatalf("a file without its break-glass recipient passes")
				}
				if len(r.Missing) != 1 || r.Missing[0].ID != breakGlass.Recipient || len(r.Unexpected) != 0 {
					t.Fatalf("missing %v, unexpected %v; want the break-glass recipient missing", r.Missing, r.Unexpected)
				}
			})

			t.Run("recipient added", func(t *testing.T) {
				upd := env.UpdateKeys(t, fc.name, enc, ops, sopsenv.Age(ops, breakGlass, extra))
				r := Check(fc.name, upd, Options{Expected: want})
				if r.OK() {
					t.Fatalf("a file with an extra recipient passes")
				}
				if len(r.Unexpected) != 1 || r.Unexpected[0].ID != extra.Recipient || len(r.Missing) != 0 {
					t.Fatalf("missing %v, unexpected %v; want the extra recipient unexpected", r.Missing, r.Unexpected)
				}
				if r.LastModified.Before(Check(fc.name, enc, Options{}).LastModified) {
					t.Errorf("updatekeys did not move lastmodified forward")
				}
			})
		})
	}
}

// TestRealSOPSUnencryptedSuffix: a key under the _unencrypted suffix stays
// plaintext and is allowed, unless its value looks like a secret.
func TestRealSOPSUnencryptedSuffix(t *testing.T) {
	env := sopsenv.New(t)
	k := env.NewKey(t)
	enc := env.Encrypt(t, "a.yaml", fixture(t, "suffix-ok.yaml"), sopsenv.Age(k))
	if r := Check("a.yaml", enc, Options{Expected: expect(k)}); !r.OK() || len(r.Unencrypted) != 2 {
		t.Fatalf("plain unencrypted-suffix values are refused: %v", r.Messages())
	}
	enc = env.Encrypt(t, "b.yaml", fixture(t, "suffix-leak.yaml"), sopsenv.Age(k))
	r := Check("b.yaml", enc, Options{Expected: expect(k)})
	if r.OK() || !r.FullyEncrypted() || len(r.Findings) != 1 || r.Findings[0].Field != "db_password_unencrypted" {
		t.Fatalf("a password under the unencrypted suffix is not caught: findings %v", r.Findings)
	}
	assertNoValue(t, r)
}

// TestRealSOPSRules encrypts with each rule sops offers and checks that the
// sentinel decides exactly as sops did (nothing sops encrypted is thought
// plaintext-allowed, nothing sops left plaintext is thought a leak), and
// that decrypting the file is caught.
func TestRealSOPSRules(t *testing.T) {
	env := sopsenv.New(t)
	k := env.NewKey(t)
	secret := string(fixture(t, "rules/secret.yaml"))
	values := string(fixture(t, "rules/values.yaml"))
	cases := []struct {
		name, plain string
		key, value  string
		// plaintextAllowed is how many values sops leaves in plaintext.
		plaintextAllowed int
	}{
		{"encrypted_regex", secret, "encrypted_regex", "^(data|stringData)$", 6},
		{"unencrypted_regex", secret, "unencrypted_regex", "^(apiVersion|kind|metadata|type)$", 6},
		{"encrypted_suffix", values, "encrypted_suffix", "_enc", 5},
		{"unencrypted_suffix", values, "unencrypted_suffix", "_mode", 1},
		{"encrypted_comment_regex", values, "encrypted_comment_regex", "sops:enc", 5},
		{"unencrypted_comment_regex", values, "unencrypted_comment_regex", "plain", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := c.name + ".yaml"
			enc := env.Encrypt(t, name, []byte(c.plain), sopsenv.Age(k).With(c.key, c.value))
			r := Check(name, enc, Options{Expected: expect(k)})
			if !r.OK() {
				t.Fatalf("sops' own output fails:\n%s\n%s", strings.Join(r.Messages(), "\n"), enc)
			}
			if r.Rule.Kind != c.name {
				t.Errorf("rule %v, want %s", r.Rule, c.name)
			}
			if r.encryptedAgainstRule != 0 {
				t.Errorf("%d values or comments sops encrypted are thought plaintext-allowed:\n%s", r.encryptedAgainstRule, enc)
			}
			if len(r.Unencrypted) != c.plaintextAllowed {
				t.Errorf("%d values left in plaintext, want %d: %v\n%s", len(r.Unencrypted), c.plaintextAllowed, r.Unencrypted, enc)
			}
			dec := env.Decrypt(t, name, enc, k)
			// Keep the metadata block: a file whose values were decrypted in
			// place by hand, still carrying its sops block.
			meta := enc[bytes.Index(enc, []byte("\nsops:"))+1:]
			mixed := append(append([]byte{}, dec...), meta...)
			r = Check(name, mixed, Options{Expected: expect(k)})
			if r.OK() || len(r.Plaintext) == 0 {
				t.Fatalf("decrypted values under a sops block pass:\n%s", mixed)
			}
			assertNoValue(t, r)
		})
	}
}
