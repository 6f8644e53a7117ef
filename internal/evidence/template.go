package evidence

import (
	"fmt"
	"strings"
	"time"
)

// todoPrefix marks template values the operator has not filled in; a
// record still holding one is invalid.
const todoPrefix = "TODO"

// contractChecks are the post-restore checks the contract's "Minimum drills"
// list for each kind; the template proposes them.
var contractChecks = map[string][]string{
	KindSourceForge: {
		"Gitea starts in the isolated environment",
		"a known repository is listed and can be cloned",
		"a known user/org/repo permission path still exists",
	},
	KindPackageBlob: {
		"package metadata and blobs were restored together",
		"a known Python package version installs",
		"a known container image tag or digest can be pulled",
		"registry authentication behaves as expected (token not recorded)",
	},
	KindRunnerSubstrate: {
		"replacement runner registered without reusing an old registration token",
		"semantic labels match the published label contract",
		"a non-production sample workflow succeeded",
	},
	KindSecretDelivery: {
		"platform OpenBao restore evidence is cited",
		"a non-production secret reaches the intended workload path",
		"no secret value appears in Git, State Hub notes, logs, screenshots or drill artifacts",
	},
}

// ContractChecks returns the contract's minimum checks for a drill kind.
func ContractChecks(kind string) []string { return append([]string(nil), contractChecks[kind]...) }

// Template returns a record template for kind with every field, dated now.
// Values to fill in start with TODO, and no_secret_material_recorded is
// false, so an unedited template never validates.
func Template(kind string, now time.Time) (string, error) {
	checks, ok := contractChecks[kind]
	if !ok {
		return "", fmt.Errorf("unknown drill kind %q (one of %s)", kind, strings.Join(Kinds(), ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Restore-drill evidence record, schema version %d: one record per file.
# Record only non-secret evidence. Allowed: Kubernetes namespace and Secret
# names, SOPS file paths, OpenBao path and policy names, backup ids, encrypted
# snapshot locations, digests, commit SHAs. Never: decrypted values, tokens,
# passwords, keys, unseal shares, kubeconfigs, tokenized URLs.
# Check before committing: forge-exporter evidence validate FILE
%s: %d
# Drill kind: source-forge, package-blob, runner-substrate or secret-delivery.
%s: %s
# Protected assets this drill restored (names from the exporter's asset inventory).
%s:
  - %s-asset-name
# When the drill ran: YYYY-MM-DD or an RFC 3339 time with a zone.
%s: %s
# Who ran the drill.
%s: "%s: operator name or handle"
# Source backup id or encrypted snapshot location that was restored.
%s: "%s: backup id or encrypted snapshot location"
# The isolated (non-production) environment restored into.
%s: "%s: namespace or host"
# Every command run, with secret values replaced by <redacted>.
%s:
  - "%s: command, secrets as <redacted>"
# Post-restore checks, each with result passed, failed or skipped. A drill
# counts as passed only when every check passed.
%s:
`, SchemaVersion,
		FieldSchemaVersion, SchemaVersion,
		FieldDrill, kind,
		FieldAssets, todoPrefix,
		FieldDate, now.UTC().Format(time.DateOnly),
		FieldOperator, todoPrefix,
		FieldBackupReference, todoPrefix,
		FieldRestoredEnvironment, todoPrefix,
		FieldCommands, todoPrefix,
		FieldChecks)
	for _, c := range checks {
		fmt.Fprintf(&b, "  - %s: %q\n    %s: \"%s: passed, failed or skipped\"\n", FieldCheckName, c, FieldCheckResult, todoPrefix)
	}
	fmt.Fprintf(&b, `# Set to true once you have checked that this record holds no secret material.
%s: false
# How the restored environment was rolled back or cleaned up.
%s: "%s: cleanup or rollback note"
`, FieldNoSecretMaterial, FieldRollbackNote, todoPrefix)
	return b.String(), nil
}
