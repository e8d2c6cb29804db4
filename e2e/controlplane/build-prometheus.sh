#!/usr/bin/env bash
# Builds prometheus and promtool from source at the version pinned in prometheus.env, into the
# same cache root as the control plane (build.sh), in a directory keyed by what determines them:
#   ${CDO_CACHE_DIR:-$HOME/.cache/capture-drain-operator}/prometheus-<key>/bin
# and (re)points e2e/controlplane/prometheus-bin at it (git-ignored symlink). A stamp file is
# written only after both binaries built; when it exists this script is a quick no-op.
#
# How: github.com/prometheus/prometheus has no replace directives, so `go install pkg@version`
# builds it exactly as its own go.mod/go.sum pin (checked against the checksum DB). Two choices
# keep the cold build short and the binaries sufficient for the tests:
#   -tags remove_all_sd  drops the cloud service-discovery plugins (AWS, Azure, GCE, Kubernetes, ...);
#                        static_configs and file_sd_configs remain, which is all the tests use.
#   no builtinassets     the web UI assets are not embedded (the UI answers with a notice); the
#                        HTTP API (/api/v1/...), which the tests use, is complete.
#
# Env:  CDO_CACHE_DIR  cache root (default $HOME/.cache/capture-drain-operator)
#       FORCE_REBUILD=1  ignore the stamp and rebuild
# Needs only Go (+ the Go module proxy on a cold module cache); no stdin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=prometheus.env
. "$here/prometheus.env"
# shellcheck source=cache.sh
. "$here/cache.sh"

command -v go >/dev/null || { echo "build-prometheus.sh: go not found in PATH" >&2; exit 1; }

export CGO_ENABLED=0
export GIT_TERMINAL_PROMPT=0
# Bump when the way the binaries are built changes (flags, tags, list), to change the key.
recipe=1
tags=remove_all_sd
binaries=(prometheus promtool)

key="$(
  {
    echo "recipe=$recipe tags=$tags"
    go env GOVERSION GOOS GOARCH CGO_ENABLED
    cat "$here/prometheus.env"
  } | sha256sum | cut -c1-16
)"
cache_open prometheus "$key" "$here/prometheus-bin" "prometheus binaries"
echo "building prometheus $PROMETHEUS_VERSION (module $PROMETHEUS_MODULE_VERSION) into $bin (key $key, $(go env GOVERSION))"

# The version fields upstream's release build sets, so /api/v1/status/buildinfo and --version
# report the pinned release.
v=github.com/prometheus/common/version
ldflags="-s -w -X $v.Version=$PROMETHEUS_VERSION -X $v.Revision=$PROMETHEUS_MODULE_VERSION"
ldflags+=" -X $v.Branch=HEAD -X $v.BuildUser=capture-drain-operator -X $v.BuildDate=19700101-00:00:00"

# One invocation for both commands: they share most packages, compiled once.
GOBIN="$bin" go install -trimpath -tags "$tags" -ldflags "$ldflags" \
  "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"

cache_close "$here/prometheus.env"
