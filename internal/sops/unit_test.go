package sops

import (
	"strings"
	"testing"
)

// enc is a well-formed sops ciphertext (random bytes, no key).
const enc = "ENC[AES256_GCM,data:Zg==,iv:EG+kQKHv+2P0HUM+6De8Q7Y74XE09bixBoFj3xn4Mo4=,tag:zMDm8nhBw1HUNSowy6XhCw==,type:str]"

const metaYAML = `sops:
    age:
        - recipient: age1lg5h2yc8ltnazg3nya4utz25suk2q224z4kueqmpjyl56jv4myys2p6jjr
          enc: x
    lastmodified: "2026-12-02T09:39:55Z"
    mac: ` + enc + `
    version: 3.13.3
`

func TestParseErrorsNeverEchoText(t *testing.T) {
	for name, data := range map[string]string{
		"a.yaml": "password: hunter2-x9\n  bad: [indent\n",
		"b.yaml": "hunter2-x9: 1\nhunter2-x9: 2\n",
		"c.json": `{"password": "hunter2-x9",}`,
		"d.env":  "PASSWORD=hunter2-x9\nhunter2-x9\n",
	} {
		r := Check(name, []byte(data), Options{})
		if r.Parsed || r.OK() || len(r.Problems) == 0 {
			t.Errorf("%s: parsed: %+v", name, r)
		}
		if out := strings.Join(r.Messages(), "\n"); strings.Contains(out, "hunter2") {
			t.Errorf("%s: message echoes the text: %s", name, out)
		}
	}
}

func TestMetadataProblems(t *testing.T) {
	cases := map[string]struct{ doc, want string }{
		"two rules":     {"a: " + enc + "\n" + metaYAML + "    encrypted_regex: ^a$\n    unencrypted_suffix: _u\n", "more than one encryption rule"},
		"bad regex":     {"a: " + enc + "\n" + metaYAML + "    encrypted_regex: '(('\n", "not a valid regular expression"},
		"no mac":        {"a: " + enc + "\n" + strings.Replace(metaYAML, "mac: "+enc, "mac: \"\"", 1), "mac is missing"},
		"plain mac":     {"a: " + enc + "\n" + strings.Replace(metaYAML, "mac: "+enc, "mac: 0123ABCD", 1), "mac is not an encrypted value"},
		"no date":       {"a: " + enc + "\n" + strings.Replace(metaYAML, `lastmodified: "2026-12-02T09:39:55Z"`, "lastmodified: yesterday", 1), "not an RFC 3339 date"},
		"no recipients": {"a: " + enc + "\nsops:\n    lastmodified: \"2026-12-02T09:39:55Z\"\n    mac: " + enc + "\n", "no recipients"},
		"not a mapping": {"a: " + enc + "\nsops: [1]\n", "not a mapping"},
	}
	for name, c := range cases {
		r := Check("f.yaml", []byte(c.doc), Options{})
		if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), c.want) {
			t.Errorf("%s: problems %v, want %q", name, r.Problems, c.want)
		}
	}
	r := Check("f.yaml", []byte("a: "+enc+"\n"+metaYAML), Options{})
	if !r.OK() || r.Rule.Value != "_unencrypted" || r.Encrypted != 1 {
		t.Fatalf("clean file: %+v", r)
	}
}

func TestKeysThatLookSecretAreWithheld(t *testing.T) {
	doc := string(fixture(t, "withheld-key.yaml")) + metaYAML
	r := Check("f.yaml", []byte(doc), Options{})
	out := strings.Join(r.Messages(), "\n")
	if strings.Contains(out, "ghp_") || !strings.Contains(out, "<withheld>") || !strings.Contains(out, "normal_key") {
		t.Fatalf("messages:\n%s", out)
	}
}

func TestKeyGroupsAndRecipientIDs(t *testing.T) {
	doc := "a: " + enc + `
sops:
    shamir_threshold: 2
    key_groups:
        - pgp:
            - fp: 85d77543b3d624b63cea9e6dbc17301b491b3f21
              created_at: "2026-01-01T00:00:00Z"
              enc: x
          hc_vault:
            - vault_address: https://vault.example.org:8200/
              engine_path: sops
              key_name: forge
              created_at: "2026-01-01T00:00:00Z"
              enc: x
        - azure_kv:
            - vault_url: https://forge.vault.azure.net
              name: sops-key
              version: 0123abcd
              created_at: "2026-01-01T00:00:00Z"
              enc: x
          kms:
            - arn: arn:aws:kms:eu-central-1:111122223333:key/abcd
              role: arn:aws:iam::111122223333:role/sops
              created_at: "2026-01-01T00:00:00Z"
              enc: x
          gcp_kms:
            - resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k
              created_at: "2026-01-01T00:00:00Z"
              enc: x
    lastmodified: "2026-12-02T09:39:55Z"
    mac: ` + enc + "\n"
	want := []Recipient{
		{"pgp", "85D77543 B3D624B63CEA9E6DBC17301B491B3F21"},
		{"hc_vault", "https://vault.example.org:8200/v1/sops/keys/forge"},
		{"azure_kv", "https://forge.vault.azure.net/keys/sops-key/0123abcd"},
		{"kms", "arn:aws:kms:eu-central-1:111122223333:key/abcd+arn:aws:iam::111122223333:role/sops"},
		{"gcp_kms", "projects/p/locations/global/keyRings/r/cryptoKeys/k"},
	}
	r := Check("f.yaml", []byte(doc), Options{Expected: want})
	if !r.OK() || r.KeyGroups != 2 || r.ShamirThreshold != 2 || len(r.Recipients) != 5 {
		t.Fatalf("report %+v\n%v", r, r.Messages())
	}
	r = Check("f.yaml", []byte(doc), Options{Expected: want[1:]})
	if len(r.Unexpected) != 1 || r.Unexpected[0].Type != "pgp" {
		t.Fatalf("unexpected %v", r.Unexpected)
	}
}

func TestDotenvFlattenedMetadata(t *testing.T) {
	doc := "A=" + enc + "\n#" + enc + "\nsops_age__list_0__map_recipient=age1x\nsops_age__list_1__map_recipient=age1y\nsops_lastmodified=2026-12-02T09:39:55Z\nsops_mac=" + enc + "\nsops_unencrypted_regex=^PUBLIC_\nPUBLIC_HOST=git.example.org\n"
	r := Check("f.env", []byte(doc), Options{Expected: []Recipient{{"age", "age1x"}, {"age", "age1y"}}})
	if !r.OK() || r.Rule.Kind != "unencrypted_regex" || len(r.Unencrypted) != 1 {
		t.Fatalf("%+v %v", r, r.Messages())
	}
}

func TestEncryptedShape(t *testing.T) {
	for v, want := range map[string]bool{
		enc: true,
		"ENC[AES256_GCM,data:,iv:EG+kQKHv+2P0HUM+6De8Q7Y74XE09bixBoFj3xn4Mo4=,tag:zMDm8nhBw1HUNSowy6XhCw==,type:str]":            true,
		"ENC[AES256_GCM,data:hunter2,iv:x,tag:y,type:str]":                                                                       false,
		"ENC[AES256_GCM,data:Zg==,iv:EG+kQKHv+2P0HUM+6De8Q7Y74XE09bixBoFj3xn4Mo4=,tag:zMDm8nhBw1HUNSowy6XhCw==,type:x]":          false,
		"ENC[AES256_GCM,data:Zg==,iv:Zg==,tag:zMDm8nhBw1HUNSowy6XhCw==,type:str]":                                                false,
		"prefix ENC[AES256_GCM,data:Zg==,iv:EG+kQKHv+2P0HUM+6De8Q7Y74XE09bixBoFj3xn4Mo4=,tag:zMDm8nhBw1HUNSowy6XhCw==,type:str]": false,
	} {
		if got := isEncrypted(v); got != want {
			t.Errorf("isEncrypted(%q) = %v", v, got)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("a.yaml", []byte("a: "+enc+"\n"+metaYAML))
	f.Add("a.json", []byte(`{"a": "x", "sops": {"mac": "y"}}`))
	f.Add("a.env", []byte("A=1\nsops_age__list_0__map_recipient=x\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		r := Check(name, data, Options{Expected: []Recipient{{"age", "age1x"}}})
		_ = r.Messages()
	})
}
