package sops

import (
	"sort"
	"strings"
)

// recipientsOf lists the recipients in the metadata, from the top-level
// key lists (one key group) or from key_groups (Shamir secret sharing), and
// the number of key groups.
func recipientsOf(m map[string]any) ([]Recipient, int) {
	seen := map[Recipient]bool{}
	var out []Recipient
	add := func(group map[string]any) int {
		n := 0
		for _, typ := range RecipientTypes() {
			list, _ := group[typ].([]any)
			for _, k := range list {
				km, ok := k.(map[string]any)
				if !ok {
					continue
				}
				id := recipientID(typ, km)
				if id == "" {
					continue
				}
				n++
				r := Recipient{Type: typ, ID: id}
				if !seen[r] {
					seen[r] = true
					out = append(out, r)
				}
			}
		}
		return n
	}
	groups := 0
	if add(m) > 0 {
		groups = 1
	} else if kg, ok := m["key_groups"].([]any); ok {
		for _, g := range kg {
			if gm, ok := g.(map[string]any); ok && add(gm) > 0 {
				groups++
			}
		}
	}
	sortRecipients(out)
	return out, groups
}

// recipientID returns the identity of one key entry in the form its sops
// command-line flag takes (--age, --pgp, --kms, --gcp-kms, --azure-kv,
// --hc-vault-transit, --hckms), so the expected set in the configuration
// reads like the .sops.yaml creation rule.
func recipientID(typ string, k map[string]any) string {
	switch typ {
	case "age":
		return strings.TrimSpace(str(k["recipient"]))
	case "pgp":
		return NormalizeRecipient("pgp", str(k["fp"]))
	case "kms":
		id := str(k["arn"])
		if role := str(k["role"]); role != "" && id != "" {
			id += "+" + role
		}
		return id
	case "gcp_kms":
		return str(k["resource_id"])
	case "azure_kv":
		u, name, ver := strings.TrimSuffix(str(k["vault_url"]), "/"), str(k["name"]), str(k["version"])
		if u == "" || name == "" {
			return ""
		}
		id := u + "/keys/" + name
		if ver != "" {
			id += "/" + ver
		}
		return id
	case "hc_vault":
		addr, engine, name := strings.TrimSuffix(str(k["vault_address"]), "/"), strings.Trim(str(k["engine_path"]), "/"), str(k["key_name"])
		if addr == "" || name == "" {
			return ""
		}
		return addr + "/v1/" + engine + "/keys/" + name
	case "hckms":
		return str(k["key_id"])
	}
	return ""
}

// NormalizeRecipient returns id in the form Report.Recipients uses: PGP
// fingerprints upper-case without blanks, everything else trimmed.
func NormalizeRecipient(typ, id string) string {
	id = strings.TrimSpace(id)
	if typ == "pgp" {
		id = strings.ToUpper(strings.ReplaceAll(id, " ", ""))
	}
	return id
}

func sortRecipients(rs []Recipient) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Type != rs[j].Type {
			return rs[i].Type < rs[j].Type
		}
		return rs[i].ID < rs[j].ID
	})
}

// drift compares the file's recipients with the expected set.
func drift(expected, actual []Recipient) (missing, unexpected []Recipient) {
	want := map[Recipient]bool{}
	for _, e := range expected {
		want[Recipient{Type: e.Type, ID: NormalizeRecipient(e.Type, e.ID)}] = true
	}
	have := map[Recipient]bool{}
	for _, a := range actual {
		have[a] = true
		if !want[a] {
			unexpected = append(unexpected, a)
		}
	}
	for e := range want {
		if !have[e] {
			missing = append(missing, e)
		}
	}
	sortRecipients(missing)
	sortRecipients(unexpected)
	return missing, unexpected
}

// CountByType counts recipients per type, with a zero for every type.
func CountByType(rs []Recipient) map[string]int {
	out := map[string]int{}
	for _, t := range RecipientTypes() {
		out[t] = 0
	}
	for _, r := range rs {
		out[r.Type]++
	}
	return out
}
