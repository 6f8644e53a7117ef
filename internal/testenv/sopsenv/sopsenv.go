// Package sopsenv runs the real sops and age-keygen binaries for tests:
// sops v3.13.3 and age v1.3.2, built from the Go module proxy by
// hack/realbin.sh into ~/.cache/forge-exporter/bin.
//
// Typical use:
//
//	s := sopsenv.New(t)                        // binaries, a private HOME and work dir
//	k := s.NewKey(t)                           // a fresh age identity (k.Recipient, k.File)
//	enc := s.Encrypt(t, "values.yaml", plain, sopsenv.Age(k)) // .sops.yaml creation rule
//	dec := s.Decrypt(t, "values.yaml", enc, k)                // sops -d, with the identity
//	enc2 := s.UpdateKeys(t, "values.yaml", enc, k, sopsenv.Age(k2))
//	enc3 := s.Encrypt(t, "s.yaml", plain, sopsenv.Age(k).With("encrypted_regex", "^data$"))
//
// Every sops call runs in the harness's own directory with a private HOME
// and an environment holding only PATH, HOME and (for decryption) the age
// identity file, so no .sops.yaml or key of the machine is used. Binaries
// not built yet are built first (testenv.RequireBinary); -short skips.
package sopsenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/railiance/forge-exporter/internal/testenv"
)

// Env is a sops work area.
type Env struct {
	SOPS, AgeKeygen string
	// Dir is the work directory; files passed to sops are written here.
	Dir  string
	home string
}

// New returns a work area with the real binaries.
func New(t testing.TB) *Env {
	t.Helper()
	e := &Env{SOPS: testenv.RequireBinary(t, "sops"), AgeKeygen: testenv.RequireBinary(t, "age-keygen"), Dir: t.TempDir(), home: t.TempDir()}
	return e
}

// Key is an age identity.
type Key struct {
	// Recipient is the public key (age1…).
	Recipient string
	// File holds the identity (AGE-SECRET-KEY-1…), mode 0600.
	File string
}

// NewKey generates an age identity with the real age-keygen.
func (e *Env) NewKey(t testing.TB) Key {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "key.txt")
	cmd := exec.Command(e.AgeKeygen, "-o", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("age-keygen: %v: %s", err, stderr.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if r, ok := strings.CutPrefix(l, "# public key: "); ok {
			return Key{Recipient: strings.TrimSpace(r), File: file}
		}
	}
	t.Fatalf("age-keygen wrote no public key line")
	return Key{}
}

// Rule is a .sops.yaml creation rule: the age recipients and any other
// keys of the rule (encrypted_regex, unencrypted_suffix,
// encrypted_comment_regex, ...).
type Rule struct {
	Age   []Key
	Extra map[string]string
}

// Age returns a rule encrypting to keys.
func Age(keys ...Key) Rule { return Rule{Age: keys} }

// With returns r with one more rule key.
func (r Rule) With(key, value string) Rule {
	extra := map[string]string{key: value}
	for k, v := range r.Extra {
		extra[k] = v
	}
	return Rule{Age: r.Age, Extra: extra}
}

// writeConfig writes the work directory's .sops.yaml with r as its only
// creation rule.
func (e *Env) writeConfig(t testing.TB, r Rule) {
	t.Helper()
	rs := make([]string, len(r.Age))
	for i, k := range r.Age {
		rs[i] = k.Recipient
	}
	var b strings.Builder
	b.WriteString("creation_rules:\n  - path_regex: .*\n")
	fmt.Fprintf(&b, "    age: %q\n", strings.Join(rs, ","))
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %s: %q\n", k, r.Extra[k])
	}
	e.Write(t, ".sops.yaml", []byte(b.String()))
}

// Run runs sops with args in the work directory; identity, when set, is
// the age key file sops may decrypt with. It returns stdout and fails the
// test on a non-zero exit.
func (e *Env) Run(t testing.TB, identity string, args ...string) []byte {
	t.Helper()
	out, stderr, err := e.run(identity, args...)
	if err != nil {
		t.Fatalf("sops %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func (e *Env) run(identity string, args ...string) (stdout []byte, stderr string, err error) {
	cmd := exec.Command(e.SOPS, args...)
	cmd.Dir = e.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + e.home, "XDG_CONFIG_HOME=" + filepath.Join(e.home, ".config")}
	if identity != "" {
		cmd.Env = append(cmd.Env, "SOPS_AGE_KEY_FILE="+identity)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.String(), err
}

// Write writes data to name in the work directory and returns its path.
func (e *Env) Write(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Encrypt encrypts plaintext (written as name, whose extension picks the
// format) under the creation rule r, and returns the encrypted file.
func (e *Env) Encrypt(t testing.TB, name string, plaintext []byte, r Rule) []byte {
	t.Helper()
	p := e.Write(t, name, plaintext)
	e.writeConfig(t, r)
	return e.Run(t, "", "encrypt", p)
}

// Decrypt decrypts an encrypted file with the identity k, as `sops -d`
// would, and returns the plaintext.
func (e *Env) Decrypt(t testing.TB, name string, encrypted []byte, k Key) []byte {
	t.Helper()
	p := e.Write(t, name, encrypted)
	return e.Run(t, k.File, "decrypt", p)
}

// DecryptFails runs sops decrypt and returns its error output; the test
// fails if decryption succeeds.
func (e *Env) DecryptFails(t testing.TB, name string, encrypted []byte, k Key) string {
	t.Helper()
	p := e.Write(t, name, encrypted)
	_, stderr, err := e.run(k.File, "decrypt", p)
	if err == nil {
		t.Fatalf("sops decrypt %s succeeded, expected a failure", name)
	}
	return stderr
}

// UpdateKeys re-encrypts the data key of an encrypted file to the
// recipients of rule r with `sops updatekeys`, the way an operator does
// after editing .sops.yaml, using identity k to decrypt the data key. It
// returns the updated file.
func (e *Env) UpdateKeys(t testing.TB, name string, encrypted []byte, k Key, r Rule) []byte {
	t.Helper()
	p := e.Write(t, name, encrypted)
	e.writeConfig(t, r)
	e.Run(t, k.File, "updatekeys", "--yes", p)
	out, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
