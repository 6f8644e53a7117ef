#!/usr/bin/env bash
# realbin.sh: build (once per machine) the real servers the integration tests run,
# from the Go module proxy, into a cache outside the repository.
#
#   hack/realbin.sh path NAME   print the cached binary's path (exit 1 if not built)
#   hack/realbin.sh ensure NAME build NAME unless cached, then print its path
#   hack/realbin.sh all         ensure every binary (used by .ci/run and `make tools`)
#
# NAME: etcd | kube-apiserver | kubectl | gitea | helm | gitleaks | sops | age | age-keygen
# Cold builds are slow on a 2-core machine (kube-apiserver ~15 min, gitea ~14 min,
# helm ~4 min, etcd ~3 min, sops ~3 min, age ~1 min); a warm cache costs nothing. Builds run under `nice`
# so they can go on in the background while other work continues.
set -euo pipefail

CACHE=${FORGE_CACHE:-$HOME/.cache/forge-exporter}
BIN=$CACHE/bin
SRC=$CACHE/src
mkdir -p "$BIN" "$SRC"

ETCD_VERSION=v3.6.16
KUBE_VERSION=v1.37.2
KUBE_STAGING_VERSION=v0.37.2
GITEA_VERSION=v1.26.4
HELM_VERSION=v3.22.0
GITLEAKS_VERSION=v8.30.1
SOPS_VERSION=v3.13.3
AGE_VERSION=v1.3.2

say() { echo "realbin: $*" >&2; }

binpath() {
  case "$1" in
    etcd) echo "$BIN/etcd-$ETCD_VERSION" ;;
    kube-apiserver) echo "$BIN/kube-apiserver-$KUBE_VERSION" ;;
    kubectl) echo "$BIN/kubectl-$KUBE_VERSION" ;;
    gitea) echo "$BIN/gitea-$GITEA_VERSION" ;;
    helm) echo "$BIN/helm-$HELM_VERSION" ;;
    gitleaks) echo "$BIN/gitleaks-$GITLEAKS_VERSION" ;;
    sops) echo "$BIN/sops-$SOPS_VERSION" ;;
    age) echo "$BIN/age-$AGE_VERSION" ;;
    age-keygen) echo "$BIN/age-keygen-$AGE_VERSION" ;;
    *) say "unknown binary $1"; exit 2 ;;
  esac
}

# with_lock serialises concurrent builds of the same binary (parallel test packages).
with_lock() {
  local name=$1; shift
  exec 9>"$CACHE/.lock-$name"
  flock 9
  "$@"
}

build_etcd() {
  local out; out=$(binpath etcd)
  [ -x "$out" ] && return 0
  say "building etcd $ETCD_VERSION from the Go module proxy (first run on this machine only, ~3 min)"
  local d=$SRC/etcd-$ETCD_VERSION
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  go mod init forge-realbin/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
  nice -n 19 go build -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3
  mv "$out.tmp" "$out"
}

kube_module() {
  local d=$SRC/kubernetes-$KUBE_VERSION
  if [ -f "$d/.ready" ]; then echo "$d"; return 0; fi
  say "preparing a kubernetes $KUBE_VERSION build module (go mod tidy, ~1 min)"
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  go mod init forge-realbin/kubernetes >/dev/null 2>&1
  go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
  local kmod; kmod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod
  {
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    # kubernetes' own go.mod points its staging modules at ./staging; use the published ones.
    grep -oE 'k8s.io/[a-z0-9-]+ => \./staging/src/k8s.io/[a-z0-9-]+' "$kmod" |
      awk '{print $1}' | grep -v -e sample-cli-plugin -e sample-controller |
      sort -u | while read -r m; do echo "replace $m => $m $KUBE_STAGING_VERSION"; done
  } >>go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >/dev/null 2>&1
  touch .ready
  echo "$d"
}

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"

build_kube_apiserver() {
  local out; out=$(binpath kube-apiserver)
  [ -x "$out" ] && return 0
  local d; d=$(kube_module)
  say "building kube-apiserver $KUBE_VERSION (first run on this machine only, ~15 min on 2 cores)"
  cd "$d"
  nice -n 19 go build -ldflags "$kube_ldflags" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$out.tmp" "$out"
}

build_kubectl() {
  local out; out=$(binpath kubectl)
  [ -x "$out" ] && return 0
  local d; d=$(kube_module)
  say "building kubectl $KUBE_VERSION (first run on this machine only, ~2 min)"
  cd "$d"
  nice -n 19 go build -ldflags "$kube_ldflags" -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$out.tmp" "$out"
}

build_gitea() {
  local out; out=$(binpath gitea)
  [ -x "$out" ] && return 0
  say "building gitea $GITEA_VERSION with SQLite (first run on this machine only, ~14 min on 2 cores)"
  local d=$SRC/gitea-$GITEA_VERSION
  if [ ! -f "$d/go.mod" ]; then
    go mod download "code.gitea.io/gitea@$GITEA_VERSION"
    rm -rf "$d"
    cp -r "$(go env GOMODCACHE)/code.gitea.io/gitea@$GITEA_VERSION" "$d"
    chmod -R u+w "$d"
  fi
  cd "$d"
  CGO_ENABLED=1 nice -n 19 go build -tags "sqlite sqlite_unlock_notify" \
    -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" -o "$out.tmp" .
  mv "$out.tmp" "$out"
}

build_helm() {
  local out; out=$(binpath helm)
  [ -x "$out" ] && return 0
  say "building helm $HELM_VERSION (first run on this machine only, ~4 min)"
  local d=$SRC/helm-$HELM_VERSION
  mkdir -p "$d"
  GOBIN=$d nice -n 19 go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$d/helm" "$out"
}

# gitleaks is not a server but the secret scanner a fork's CI would run; the
# repository's .gitleaks.toml is tested against it (internal/treecheck).
build_gitleaks() {
  local out; out=$(binpath gitleaks)
  [ -x "$out" ] && return 0
  say "building gitleaks $GITLEAKS_VERSION (first run on this machine only, ~1 min)"
  local d=$SRC/gitleaks-$GITLEAKS_VERSION
  mkdir -p "$d"
  GOBIN=$d nice -n 19 go install -ldflags "-s -w -X github.com/zricethezav/gitleaks/v8/version.Version=$GITLEAKS_VERSION" \
    "github.com/zricethezav/gitleaks/v8@$GITLEAKS_VERSION"
  mv "$d/gitleaks" "$out"
}

# sops and age are not servers either: the SOPS sentinel's tests encrypt real
# files with them (internal/testenv/sopsenv).
build_sops() {
  local out; out=$(binpath sops)
  [ -x "$out" ] && return 0
  say "building sops $SOPS_VERSION from the Go module proxy (first run on this machine only, ~3 min)"
  local d=$SRC/sops-$SOPS_VERSION
  mkdir -p "$d"
  GOBIN=$d nice -n 19 go install "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"
  mv "$d/sops" "$out"
}

# build_age builds both age commands (one module, one download).
build_age() {
  local out; out=$(binpath age-keygen)
  [ -x "$out" ] && [ -x "$(binpath age)" ] && return 0
  say "building age and age-keygen $AGE_VERSION from the Go module proxy (first run on this machine only, ~1 min)"
  local d=$SRC/age-$AGE_VERSION
  mkdir -p "$d"
  GOBIN=$d nice -n 19 go install "filippo.io/age/cmd/age@$AGE_VERSION" "filippo.io/age/cmd/age-keygen@$AGE_VERSION"
  mv "$d/age" "$(binpath age)"
  mv "$d/age-keygen" "$out"
}

ensure() {
  local name=$1
  case "$name" in
    etcd) with_lock "$name" build_etcd ;;
    kube-apiserver) with_lock kube build_kube_apiserver ;;
    kubectl) with_lock kube build_kubectl ;;
    gitea) with_lock "$name" build_gitea ;;
    helm) with_lock "$name" build_helm ;;
    gitleaks) with_lock "$name" build_gitleaks ;;
    sops) with_lock "$name" build_sops ;;
    age | age-keygen) with_lock age build_age ;;
    *) say "unknown binary $name"; exit 2 ;;
  esac
  binpath "$name"
}

case "${1:-}" in
  path)
    p=$(binpath "$2"); [ -x "$p" ] || { say "$2 is not built yet: run hack/realbin.sh ensure $2"; exit 1; }
    echo "$p" ;;
  ensure) ensure "$2" ;;
  gitea-src) echo "$SRC/gitea-$GITEA_VERSION" ;;
  all)
    for n in etcd helm gitleaks sops age-keygen kube-apiserver kubectl gitea; do (ensure "$n" >/dev/null); done
    for n in etcd helm gitleaks sops age age-keygen kube-apiserver kubectl gitea; do binpath "$n"; done ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
