package secretscan

import (
	"encoding/base64"
	"math"
	"regexp"
	"strings"
)

// Detector names. They are metric label values: a fixed, small set.
const (
	DetPrivateKey        = "private-key"
	DetAgeSecretKey      = "age-secret-key"
	DetSOPSDecrypted     = "sops-decrypted-value"
	DetOpenBaoToken      = "openbao-token"
	DetOpenBaoRootToken  = "openbao-root-token"
	DetUnsealKey         = "openbao-unseal-key"
	DetRecoveryCode      = "recovery-code"
	DetConnString        = "connection-string-password"
	DetPassword          = "password"
	DetTokenizedURL      = "tokenized-url"
	DetPackageToken      = "package-token"
	DetGiteaToken        = "gitea-token"
	DetRunnerToken       = "runner-registration-token"
	DetObjectStorageKey  = "object-storage-key"
	DetCloudAccessKey    = "cloud-access-key"
	DetKubeconfig        = "kubeconfig"
	DetKubeSecret        = "kubernetes-secret-manifest"
	DetBearerToken       = "bearer-token"
	DetBasicAuth         = "basic-auth-credentials"
	DetJWT               = "jwt"
	DetSecretAssignment  = "secret-assignment"
	detHighEntropyInName = "high-entropy-value"
)

var detectorNames = []string{
	DetPrivateKey, DetAgeSecretKey, DetSOPSDecrypted, DetOpenBaoToken, DetOpenBaoRootToken,
	DetUnsealKey, DetRecoveryCode, DetConnString, DetPassword, DetTokenizedURL, DetPackageToken,
	DetGiteaToken, DetRunnerToken, DetObjectStorageKey, DetCloudAccessKey, DetKubeconfig,
	DetKubeSecret, DetBearerToken, DetBasicAuth, DetJWT, DetSecretAssignment,
}

// pattern is a detector that recognises a secret by its shape on one line.
// group selects the submatch that is the secret (0: the whole match); check,
// when set, must accept it (placeholders and low-entropy values are not
// secrets).
type pattern struct {
	name string
	// need lists lower-case substrings of which at least one must occur in
	// the line before the regular expression is run: a cheap prefilter that
	// keeps scanning ordinary text fast.
	need  []string
	re    *regexp.Regexp
	group int
	check func(secret, line string) bool
}

var (
	hex40RE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	rootRE   = regexp.MustCompile(`(?i)\broot[ _-]?token`)
	runnerRE = regexp.MustCompile(`(?i)\b(?:act_runner|act-runner|forgejo-runner|gitea-runner|runner\s+register|register\s+runner)\b`)
)

// The order matters only for which detector names a value that several
// would match; every match is reported.
var patterns = []pattern{
	{name: DetPrivateKey, need: []string{"private key"}, re: regexp.MustCompile(`-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----`)},
	{name: DetPrivateKey, need: []string{"putty-user-key-file"}, re: regexp.MustCompile(`PuTTY-User-Key-File-\d+:`)},
	{name: DetAgeSecretKey, need: []string{"age-secret-key-1"}, re: regexp.MustCompile(`(?i)AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`)},
	// Vault/OpenBao service, batch and recovery tokens (hvs./hvb./hvr. and
	// the un-prefixed s./b./r. form OpenBao issues).
	{name: DetOpenBaoToken, need: []string{"hvs.", "hvb.", "hvr."}, re: regexp.MustCompile(`\bhv[sbr]\.[A-Za-z0-9_-]{24,}`)},
	{name: DetOpenBaoToken, need: []string{"s.", "b.", "r."}, re: regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])([sbr]\.[A-Za-z0-9]{24}(?:\.[A-Za-z0-9]{5})?)(?:$|[^A-Za-z0-9_/-])`), group: 1,
		check: func(s, _ string) bool { return mixedClasses(s[2:]) >= 3 }},
	{name: DetUnsealKey, need: []string{"unseal", "recovery"}, re: regexp.MustCompile(`(?i)\b(?:unseal|recovery)[ _-]?(?:key|share)s?(?:[ _-]?(?:\d+|b64|hex|base64))?["']?\s*[:=]\s*\[?\s*["']?([A-Za-z0-9+/=_-]{16,})`), group: 1, check: notPlaceholder},
	{name: DetUnsealKey, need: []string{"operator"}, re: regexp.MustCompile(`(?i)\b(?:bao|vault)\s+operator\s+unseal\s+(?:-\S+\s+)*["']?([A-Za-z0-9+/=]{16,})`), group: 1, check: notPlaceholder},
	{name: DetRecoveryCode, need: []string{"recovery"}, re: regexp.MustCompile(`(?i)\brecovery[ _-]?codes?["']?\s*[:=]\s*["']?([A-Za-z0-9][A-Za-z0-9-]{7,})`), group: 1,
		check: func(s, line string) bool { return notPlaceholder(s, line) && hasDigitAndLetter(s) }},
	{name: DetConnString, need: []string{"://"}, re: regexp.MustCompile(`(?i)\b(?:jdbc:)?(?:postgres(?:ql)?|pgsql|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse|cockroachdb|oracle)(?:\+[a-z0-9]+)?://[^\s:/@'"]*:([^\s@'"]+)@`), group: 1, check: notPlaceholder},
	{name: DetConnString, need: []string{"password", "pwd"}, re: regexp.MustCompile(`(?i)(?:^|[\s?&;'"])(?:password|pwd)\s*=\s*'?([^\s&;'"]+)`), group: 1,
		check: func(s, line string) bool { return notPlaceholder(s, line) && dsnRE.MatchString(line) }},
	{name: DetTokenizedURL, need: []string{"://"}, re: regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@'"]+:([^\s@/'"]+)@`), group: 1, check: notPlaceholder},
	{name: DetTokenizedURL, need: []string{"://"}, re: regexp.MustCompile(`(?i)\b(?:https?|git|ssh|oci|docker)://([A-Za-z0-9_.~-]{20,})@`), group: 1,
		check: func(s, _ string) bool { return highEntropyToken(s, 20, 3.3) }},
	{name: DetTokenizedURL, need: []string{"?", "&"}, re: regexp.MustCompile(`(?i)[?&](?:token|access_token|private_token|api_key|apikey|auth|sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential|secret|password)=([^&\s'"#]{8,})`), group: 1, check: notPlaceholder},
	{name: DetPackageToken, need: []string{":_auth", ":_password"}, re: regexp.MustCompile(`(?i):_(?:authToken|auth|password)\s*=\s*["']?([^\s"']+)`), group: 1, check: notPlaceholder},
	{name: DetPackageToken, need: []string{"pypi-age"}, re: regexp.MustCompile(`\bpypi-AgE[A-Za-z0-9_-]{40,}`)},
	{name: DetPackageToken, need: []string{"npm_"}, re: regexp.MustCompile(`\bnpm_[A-Za-z0-9]{36}\b`)},
	{name: DetPackageToken, need: []string{"login"}, re: regexp.MustCompile(`(?i)\b(?:docker|podman|buildah|skopeo|helm\s+registry|oras|crane)\s+login\b.*?\s(?:-p|--password)[ =]["']?([^\s"']+)`), group: 1, check: notPlaceholder},
	{name: DetGiteaToken, need: []string{"token", "authorization"}, re: regexp.MustCompile(`(?i)\b(?:token|access[_ -]?token|authorization)\b["']?\s*[:= ]\s*["']?(?:token\s+)?([0-9a-f]{40})\b`), group: 1},
	{name: DetGiteaToken, need: []string{"successfully created"}, re: regexp.MustCompile(`(?i)access token was successfully created\W*([0-9a-f]{40})\b`), group: 1},
	{name: DetRunnerToken, need: []string{"--token"}, re: regexp.MustCompile(`(?i)\b(?:act_runner|act-runner|forgejo-runner|gitea-runner)\b.*?\s--token[ =]["']?([^\s"']+)`), group: 1, check: notPlaceholder},
	{name: DetObjectStorageKey, need: []string{"mc "}, re: regexp.MustCompile(`(?i)\bmc\s+(?:alias\s+set|config\s+host\s+add)\s+\S+\s+\S+\s+(\S+)\s+(\S+)`), group: 2, check: notPlaceholder},
	{name: DetObjectStorageKey, need: []string{"accountkey="}, re: regexp.MustCompile(`(?i)\bAccountKey=([A-Za-z0-9+/=]{20,})`), group: 1},
	{name: DetCloudAccessKey, need: []string{"akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"}, re: regexp.MustCompile(`\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b`)},
	{name: DetCloudAccessKey, need: []string{"aiza"}, re: regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)},
	{name: DetCloudAccessKey, need: []string{"goog1"}, re: regexp.MustCompile(`\bGOOG1[A-Z0-9]{20,}\b`)},
	{name: DetKubeconfig, need: []string{"-data"}, re: regexp.MustCompile(`(?i)(?:^|[\s"'{,])["']?(?:client-key-data|client-certificate-data)["']?\s*:\s*["']?([A-Za-z0-9+/=]{16,})`), group: 1},
	{name: DetBearerToken, need: []string{"bearer"}, re: regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{12,})`), group: 1,
		check: func(s, line string) bool {
			return notPlaceholder(s, line) && !hex40RE.MatchString(s) && highEntropyToken(s, 12, 3.0)
		}},
	{name: DetBasicAuth, need: []string{"basic"}, re: regexp.MustCompile(`(?i)\bauthorization\W{0,3}\s*:?\s*basic\s+([A-Za-z0-9+/=]{8,})`), group: 1, check: notPlaceholder},
	{name: DetJWT, need: []string{"eyj"}, re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
}

// dsnRE recognises a libpq/ODBC keyword connection string on a line.
var dsnRE = regexp.MustCompile(`(?i)\b(?:host|hostaddr|dbname|server|database|user|uid|port|sslmode)\s*=`)

// kvRE finds key: value and key=value pairs (YAML, JSON, env assignments,
// HTTP headers); flagRE finds --flag value and --flag=value.
var (
	quotedRE = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	kvRE     = regexp.MustCompile(`(?:^|[\s{,;&?(\[=])["']?([A-Za-z_][A-Za-z0-9_.-]{0,80})["']?[ \t]*(:|=)[ \t]*("[^"]*"|'[^']*'|[^\s"',;&)}\]]+)`)
	flagRE   = regexp.MustCompile(`(?:^|\s)--([A-Za-z][A-Za-z0-9-]{1,60})(?:=|[ \t]+)("[^"]*"|'[^']*'|[^\s"']+)`)
)

// scanLine runs the shape detectors and the key/value classifier on one line.
func scanLine(c *collector, line string, lineNo int, field string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	lower := strings.ToLower(line)
	for _, p := range patterns {
		if !containsAny(lower, p.need) {
			continue
		}
		for _, m := range p.re.FindAllStringSubmatchIndex(line, -1) {
			start, end := m[2*p.group], m[2*p.group+1]
			if start < 0 {
				continue
			}
			secret := line[start:end]
			if p.check != nil && !p.check(secret, line) {
				continue
			}
			name := p.name
			if name == DetOpenBaoToken && rootRE.MatchString(line) {
				name = DetOpenBaoRootToken
			}
			c.add(Finding{Line: lineNo, Field: field, Detector: name})
		}
	}
	if strings.ContainsAny(line, ":=") {
		scanPairs(c, line, lineNo, field)
	}
	if strings.Contains(line, "--") {
		for _, m := range flagRE.FindAllStringSubmatchIndex(line, -1) {
			scanAssignment(c, line[m[2]:m[3]], line[m[4]:m[5]], lineNo, field, false, line)
		}
	}
}

// scanPairs classifies the key: value and key=value pairs of a line.
func scanPairs(c *collector, line string, lineNo int, field string) {
	for _, m := range kvRE.FindAllStringSubmatchIndex(line, -1) {
		key, sep, value := line[m[2]:m[3]], line[m[4]:m[5]], line[m[6]:m[7]]
		if sep == ":" && !isQuoted(value) && prose(line[m[7]:]) {
			// "password: stored in OpenBao at platform/..." is prose about
			// a secret, not a secret.
			continue
		}
		if strings.HasPrefix(value, "[") {
			// An inline list: key: ["a", "b"].
			for _, q := range quotedRE.FindAllString(line[m[6]:], -1) {
				scanAssignment(c, key, q, lineNo, field, false, line)
			}
			continue
		}
		scanAssignment(c, key, value, lineNo, field, false, line)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return len(subs) == 0
}

func isQuoted(v string) bool {
	return len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]
}

// prose reports whether the rest of a line continues with more words.
func prose(rest string) bool {
	rest = strings.TrimSpace(rest)
	if rest == "" || strings.HasPrefix(rest, "#") || strings.HasPrefix(rest, "//") {
		return false
	}
	r := rest[0]
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// scanAssignment classifies a value by the key it is assigned to. line is
// the whole line for context (optional).
func scanAssignment(c *collector, key, value string, lineNo int, field string, sops bool, line ...string) {
	ctx := ""
	if len(line) > 0 {
		ctx = line[0]
	}
	value = strings.TrimSpace(value)
	quoted := isQuoted(value)
	if quoted {
		value = value[1 : len(value)-1]
	}
	if key == "" || value == "" {
		return
	}
	det, strict := classify(key, ctx)
	if det == "" {
		return
	}
	lk := strings.ToLower(key)
	if lk == "authorization" {
		// "Authorization: Bearer x" is the pattern detectors' business.
		return
	}
	// Values with blanks are prose ("stored in OpenBao"), except a quoted
	// passphrase.
	spaced := strings.ContainsAny(value, " \t") && !(quoted && det == DetPassword)
	if strings.Contains(value, "://") || spaced || !notPlaceholder(value, ctx) {
		return
	}
	if sops && det != DetSecretAssignment && !strings.HasPrefix(value, "ENC[") {
		det = DetSOPSDecrypted
	}
	switch {
	case det == DetSecretAssignment && sops:
		if len(value) >= 6 {
			c.add(Finding{Line: lineNo, Field: field, Detector: DetSOPSDecrypted})
		}
	case strict:
		// Machine-made secrets are never lower-case words joined by dashes;
		// such a value names a resource (gitea_token: forge-exporter-gitea-token).
		// A password can be a passphrase, so passwords are kept.
		if len(value) >= 6 && (det == DetPassword || !resourceName(value)) {
			c.add(Finding{Line: lineNo, Field: field, Detector: det})
		}
	default:
		if hex40RE.MatchString(value) && strings.Contains(normKey(key), "token") {
			c.add(Finding{Line: lineNo, Field: field, Detector: DetGiteaToken})
		} else if highEntropyToken(value, 16, 3.0) && !resourceName(value) {
			c.add(Finding{Line: lineNo, Field: field, Detector: det})
		}
	}
}

// referenceSuffixes end key names that hold references or metadata about a
// secret, never the secret itself (secret_name, token_path, password_file).
var referenceSuffixes = []string{
	"name", "names", "ref", "refs", "reference", "references", "path", "paths", "file", "files", "filename",
	"dir", "directory", "policy", "policies", "purpose", "scope", "scopes", "digest", "sha", "sha256",
	"url", "urls", "uri", "endpoint", "host", "server", "location", "mount", "env", "type", "kind", "ttl",
	"expiry", "expires", "expiresat", "length", "count", "owner", "provider", "method", "format", "enabled",
	"required", "rotation", "rotated", "rotatedat", "namespace", "source", "store", "backend", "engine",
	"role", "user", "username", "login", "issuer", "audience", "recorded", "accessor", "hint", "label",
	"labels", "selector", "template", "version", "created", "createdat", "updated", "id", "existingsecret",
}

// normKey lowercases a key and removes separators: secretAccessKey,
// secret_access_key and SECRET-ACCESS-KEY all become secretaccesskey.
func normKey(k string) string {
	k = strings.ToLower(strings.Trim(k, `"'-_ `))
	return keySeparators.Replace(k)
}

var keySeparators = strings.NewReplacer("_", "", "-", "", ".", "")

// classify maps a key name to a detector. strict means the key names a
// secret so plainly that any non-placeholder value is flagged; otherwise the
// value must also look random.
func classify(key, line string) (det string, strict bool) {
	k := normKey(key)
	if k == "" {
		return "", false
	}
	switch {
	case k == "accesskeyid" || k == "awsaccesskeyid" || strings.HasSuffix(k, "accesskeyid"):
		return DetObjectStorageKey, true
	}
	for _, s := range referenceSuffixes {
		if strings.HasSuffix(k, s) && k != "password" {
			return "", false
		}
	}
	switch {
	case strings.Contains(k, "roottoken"):
		return DetOpenBaoRootToken, true
	case strings.Contains(k, "unseal") || strings.Contains(k, "recoverykey") || strings.Contains(k, "recoveryshare"):
		return DetUnsealKey, true
	case strings.Contains(k, "recoverycode"):
		return DetRecoveryCode, true
	case strings.Contains(k, "vaulttoken") || strings.Contains(k, "baotoken"):
		return DetOpenBaoToken, true
	case strings.Contains(k, "registrationtoken") || strings.Contains(k, "runnertoken"):
		return DetRunnerToken, true
	case k == "token" && runnerRE.MatchString(line):
		return DetRunnerToken, true
	case strings.Contains(k, "secretaccesskey") || strings.HasSuffix(k, "accesskey") || k == "miniosecretkey" ||
		k == "miniorootpassword" || k == "s3secretkey" || k == "awssessiontoken" || k == "accountkey":
		return DetObjectStorageKey, true
	case k == "internaltoken" || k == "jwtsecret" || k == "lfsjwtsecret" || k == "oauth2jwtsecret" || k == "secretkey":
		return DetSOPSDecrypted, true
	case strings.Contains(k, "authtoken") || strings.Contains(k, "npmtoken") || strings.Contains(k, "pypitoken") ||
		strings.Contains(k, "packagetoken") || strings.Contains(k, "registrytoken") || strings.Contains(k, "twinepassword") ||
		strings.Contains(k, "registrypassword") || strings.Contains(k, "dockerpassword") || strings.Contains(k, "indexpassword") ||
		strings.HasPrefix(k, "uvindex") && strings.HasSuffix(k, "password") || strings.HasPrefix(k, "poetryhttpbasic") && strings.HasSuffix(k, "password"):
		return DetPackageToken, true
	case strings.Contains(k, "giteatoken"):
		return DetGiteaToken, true
	case k == "clientkeydata" || k == "clientcertificatedata" || k == "idtoken" || k == "refreshtoken":
		return DetKubeconfig, true
	case strings.HasSuffix(k, "password") || strings.HasSuffix(k, "passwd") || k == "pwd" || strings.HasSuffix(k, "_pwd") ||
		k == "pass" || k == "passphrase" || strings.HasSuffix(k, "passphrase") || k == "mysqlpwd":
		return DetPassword, true
	case k == "token" && strings.Contains(strings.ToLower(line), "kubectl"):
		return DetBearerToken, true
	case k == "auth" && base64Creds(line):
		return DetPackageToken, true
	case strings.Contains(k, "secret") || strings.Contains(k, "token") || strings.Contains(k, "apikey") ||
		strings.Contains(k, "credential") || strings.Contains(k, "privatekey") || k == "auth" ||
		strings.Contains(k, "signingkey") || strings.Contains(k, "encryptionkey") || strings.Contains(k, "hmac") ||
		strings.Contains(k, "cookie") || strings.Contains(k, "sessionkey"):
		return DetSecretAssignment, false
	}
	return "", false
}

// base64Creds reports whether the line has a base64 "auth" value that
// decodes to user:password, as in a docker config.json.
func base64Creds(line string) bool {
	for _, m := range b64RE.FindAllString(line, -1) {
		if b, err := base64.StdEncoding.DecodeString(m); err == nil && strings.Contains(string(b), ":") {
			return true
		}
	}
	return false
}

// resourceNameRE is a Kubernetes-style resource name that starts with a
// word, such as a Secret name with a generated suffix (gitea-db-app-h7k9m2c4tb).
var (
	resourceNameRE = regexp.MustCompile(`^[a-z]{3,}(?:-[a-z0-9]+)+$`)
	uuidRE         = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// resourceName reports whether a value assigned to a secret-like key is a
// reference to a resource by name rather than a secret.
func resourceName(v string) bool { return resourceNameRE.MatchString(v) && !uuidRE.MatchString(v) }

// stateWords describe a secret without being one (password: rotated), or
// are the words documentation puts in its place (postgres://user:password@).
var stateWords = map[string]bool{
	"unchanged": true, "rotated": true, "revoked": true, "expired": true, "disabled": true, "enabled": true,
	"required": true, "optional": true, "default": true, "unknown": true, "missing": true, "provided": true,
	"present": true, "absent": true, "stored": true, "generated": true, "random": true, "external": true,
	"inherited": true, "reused": true, "renewed": true, "verified": true, "unused": true, "invalid": true,
	"pw": true, "pwd": true, "pass": true, "password": true, "passwd": true, "secret": true, "token": true,
	"user": true, "username": true, "key": true, "value": true, "example": true,
}

var (
	placeholderWords = []string{"redacted", "redact", "masked", "hidden", "removed", "omitted", "placeholder", "elided", "censored", "not-recorded", "notrecorded", "sanitized", "sanitised"}
	refPathRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*(?:/[a-z0-9._{}<>@-]+)+/?$`)
	envRefRE         = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_]*$`)
)

// notPlaceholder reports whether s is a real value rather than a placeholder
// or a reference ("<redacted>", "${DB_PASSWORD}", "$(cat /run/secrets/x)",
// "platform/databases/gitea", "ENC[AES256_GCM,...]").
func notPlaceholder(s, _ string) bool {
	v := strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"'`))
	if v == "" {
		return false
	}
	l := strings.ToLower(v)
	for _, w := range placeholderWords {
		if strings.Contains(l, w) {
			return false
		}
	}
	switch {
	case strings.HasPrefix(v, "<") || strings.HasSuffix(v, ">"),
		strings.HasPrefix(v, "${") || strings.HasPrefix(v, "$(") || envRefRE.MatchString(v) || strings.HasPrefix(v, "%("),
		strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") || strings.HasPrefix(v, "ENC["),
		strings.HasPrefix(v, "/") || strings.HasPrefix(v, "@/") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../") || strings.HasPrefix(v, "~/") || strings.HasPrefix(v, "file:") || strings.HasPrefix(v, "env:"),
		strings.HasPrefix(l, "vault:") || strings.HasPrefix(l, "openbao:") || strings.HasPrefix(l, "bao:") || strings.HasPrefix(l, "ref+"),
		strings.HasPrefix(l, "secret:") || strings.HasPrefix(l, "secretref:") || strings.HasPrefix(l, "k8s:"),
		strings.HasPrefix(l, "sha256:") || strings.HasPrefix(l, "sha512:"),
		stateWords[l],
		l == "none" || l == "null" || l == "nil" || l == "true" || l == "false" || l == "yes" || l == "no" ||
			l == "n/a" || l == "na" || l == "tbd" || l == "todo" || l == "unset" || l == "empty" || l == "-" || l == "~",
		refPathRE.MatchString(v):
		return false
	}
	return !repeated(v)
}

// repeated reports values made of one repeated character or of mask
// characters only (xxxxxx, ******, ......).
func repeated(v string) bool {
	mask := true
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if ch != '*' && ch != 'x' && ch != 'X' && ch != '.' && ch != '#' && ch != '-' && ch != '_' {
			mask = false
		}
		if ch != v[0] && !mask {
			return false
		}
	}
	return true
}

// mixedClasses counts character classes (lower, upper, digit, other).
func mixedClasses(s string) int {
	var lo, up, di, ot int
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z':
			lo = 1
		case ch >= 'A' && ch <= 'Z':
			up = 1
		case ch >= '0' && ch <= '9':
			di = 1
		default:
			ot = 1
		}
	}
	return lo + up + di + ot
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// highEntropyToken reports whether s looks like a random token: long
// enough, no whitespace, several character classes (or long hex), and high
// Shannon entropy. Words, paths, version strings and ids with few distinct
// characters stay below it.
func highEntropyToken(s string, minLen int, minEntropy float64) bool {
	if len(s) < minLen || strings.ContainsAny(s, " \t") || !notPlaceholder(s, "") {
		return false
	}
	classes := mixedClasses(s)
	isHex := hexRE.MatchString(s)
	if classes < 2 && !(isHex && len(s) >= 32) {
		return false
	}
	if classes == 2 && !isHex && !hasDigitAndLetter(s) {
		return false
	}
	return entropy(s) >= minEntropy
}

func hasDigitAndLetter(s string) bool {
	var d, l bool
	for i := 0; i < len(s); i++ {
		ch := s[i]
		d = d || ch >= '0' && ch <= '9'
		l = l || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z'
	}
	return d && l
}

var (
	kindConfigRE  = regexp.MustCompile(`^\s*["']?kind["']?\s*:\s*["']?Config["']?\s*,?\s*$`)
	kubeSectionRE = regexp.MustCompile(`^\s*["']?(?:users|clusters|contexts)["']?\s*:`)
	kindSecretRE  = regexp.MustCompile(`^\s*["']?kind["']?\s*:\s*["']?Secret["']?\s*,?\s*$`)
	secretDataRE  = regexp.MustCompile(`^\s*["']?(?:data|stringData)["']?\s*:`)
)

// scanDocumentShape finds secrets that are recognisable by the shape of a
// whole document rather than a line: a kubeconfig, a Kubernetes Secret
// manifest with its data.
func scanDocumentShape(c *collector, lines [][]byte, fields *lineFields) {
	kindConfig, kubeSection, kindSecret, secretData := 0, 0, 0, 0
	for i, raw := range lines {
		if len(raw) > MaxLineLength {
			continue
		}
		l := string(raw)
		switch {
		case kindConfigRE.MatchString(l):
			kindConfig = i + 1
		case kubeSectionRE.MatchString(l):
			kubeSection = i + 1
		case kindSecretRE.MatchString(l):
			kindSecret = i + 1
		case secretDataRE.MatchString(l):
			secretData = i + 1
		}
	}
	field := func(line int) string {
		if fields == nil {
			return ""
		}
		return fields.at(line)
	}
	if kindConfig > 0 && kubeSection > 0 {
		c.add(Finding{Line: kindConfig, Field: field(kindConfig), Detector: DetKubeconfig})
	}
	if kindSecret > 0 && secretData > 0 {
		c.add(Finding{Line: secretData, Field: field(secretData), Detector: DetKubeSecret})
	}
}

// SafeKey returns k when it is safe to print (a short, plain identifier that
// no detector would flag), else a placeholder: a key name can itself be a
// pasted secret, and a message must never echo one.
func SafeKey(k string) string {
	if safeIdentRE.MatchString(k) && entropy(k) < 3.6 && len(New().ScanValue("", "", k)) == 0 && !hex40RE.MatchString(k) {
		return k
	}
	return "<withheld>"
}

var (
	safeIdentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,39}$`)
	b64RE       = regexp.MustCompile(`[A-Za-z0-9+/]{8,}={0,2}`)
	hexRE       = regexp.MustCompile(`^[0-9a-fA-F]+$`)
)
