#!/usr/bin/env bash
# Builds the binaries of the local e2e control plane from source, at the
# versions pinned in versions.env:
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  (k8s/ wrapper module)
#   etcd                                                           (etcd/ wrapper module)
#   kwok helm                                                      (go install pkg@version)
#
# The binaries go to a cache OUTSIDE the repo, keyed by a hash of everything
# that determines them (versions.env, wrapper go.mod/go.sum, Go version,
# platform, this recipe), so every clone/worktree on the machine shares one
# build and a version bump never reuses stale binaries:
#   ${CDO_CACHE_DIR:-$HOME/.cache/capture-drain-operator}/controlplane-<key>/bin
# A stamp file is written only after every binary built, so an interrupted
# build is redone; when the stamp exists this script is a quick no-op.
# e2e/controlplane/bin is (re)pointed at that directory (git-ignored symlink).
#
# Env:  CDO_CACHE_DIR  cache root (default $HOME/.cache/capture-drain-operator)
#       FORCE_REBUILD=1  ignore the stamp and rebuild
# Needs only Go (+ the Go module proxy on a cold module cache); no stdin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=cache.sh
. "$here/cache.sh"

command -v go >/dev/null || { echo "build.sh: go not found in PATH" >&2; exit 1; }

# Static, cgo-free binaries: no C toolchain needed and they run anywhere.
export CGO_ENABLED=0
# Never prompt (CI has no stdin); fail instead of asking for credentials.
export GIT_TERMINAL_PROMPT=0
# Bump when the way binaries are built changes (flags, list), to change the key.
recipe=2

binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm)

key="$(
  {
    echo "recipe=$recipe"
    go env GOVERSION GOOS GOARCH CGO_ENABLED
    cat "$here/versions.env" "$here/k8s/go.mod" "$here/k8s/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum"
  } | sha256sum | cut -c1-16
)"
cache_open controlplane "$key" "$here/bin" "control plane binaries"
echo "building control plane binaries into $bin (key $key, $(go env GOVERSION))"
echo "  kubernetes $KUBERNETES_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION, helm $HELM_VERSION"

# k8s version info as upstream's hack/lib/version.sh sets it, so that
# `kubectl version` / the apiserver's /version report the pinned release.
k8s_minor="${KUBERNETES_VERSION#v*.}"; k8s_minor="${k8s_minor%%.*}"
k8s_major="${KUBERNETES_VERSION#v}"; k8s_major="${k8s_major%%.*}"
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION"
  k8s_ldflags+=" -X $pkg.gitMajor=$k8s_major -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean"
  k8s_ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

step() { echo "==> $*"; }

# One `go build` for the four k8s commands: they share most packages, and a
# single invocation compiles each shared package once using all cores.
step "kube-apiserver kube-controller-manager kube-scheduler kubectl ($KUBERNETES_VERSION)"
go build -C "$here/k8s" -trimpath -ldflags "$k8s_ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl

step "etcd ($ETCD_VERSION)"
# server/v3 is etcd's main package (server/main.go -> etcdmain.Main).
go build -C "$here/etcd" -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3

# kwok and helm have no replace directives, so `go install pkg@version` builds
# them exactly as their own go.mod/go.sum pin (checked against the checksum DB).
step "kwok ($KWOK_VERSION)"
GOBIN="$bin" go install -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
  "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"

step "helm ($HELM_VERSION)"
GOBIN="$bin" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

cache_close "$here/versions.env"
