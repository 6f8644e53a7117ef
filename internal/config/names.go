package config

import "regexp"

// nameRE is what a configured name (used as a label value) may look like.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// dnsLabelRE is a Kubernetes namespace name (RFC 1123 label).
var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
