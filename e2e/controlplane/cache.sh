# Sourced by build.sh and build-prometheus.sh: binaries built into a cache OUTSIDE the clone, in a
# directory keyed by what determines them, with a stamp written only after every binary built (an
# interrupted build is redone) and a lock that makes a concurrent build of the same key wait.
#
#   binaries=(a b)                 the binaries the build must leave in $bin
#   cache_open NAME KEY LINK WHAT  sets $dir, $bin, $stamp; exits 0 (LINK pointed at $bin) when the
#                                  cache is complete, else returns holding the lock, $bin empty of a stamp
#   ...build into $bin...
#   cache_close ENV_FILE           checks every binary, writes the stamp, points LINK at $bin
# Env:  CDO_CACHE_DIR  cache root (default $HOME/.cache/capture-drain-operator)
#       FORCE_REBUILD=1  ignore the stamp and rebuild

cache_open() {
  cache_key="$2"
  cache_link="$3"
  cache_what="$4"
  dir="${CDO_CACHE_DIR:-$HOME/.cache/capture-drain-operator}/$1-$2"
  bin="$dir/bin"
  stamp="$dir/stamp"
  if cache_complete; then
    cache_link_bin
    echo "$cache_what up to date at $bin"
    exit 0
  fi
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  if command -v flock >/dev/null; then
    flock 9
    if cache_complete; then
      cache_link_bin
      echo "$cache_what up to date at $bin (built by a concurrent run)"
      exit 0
    fi
  fi
  rm -f "$stamp"
  mkdir -p "$bin"
  cache_start=$(date +%s)
}

cache_close() {
  local b elapsed
  for b in "${binaries[@]}"; do
    [ -x "$bin/$b" ] || { echo "$0: $bin/$b missing after build" >&2; exit 1; }
  done
  elapsed=$(($(date +%s) - cache_start))
  {
    echo "key=$cache_key"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "build_seconds=$elapsed"
    echo "go=$(go env GOVERSION)"
    cat "$1"
  } >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
  cache_link_bin
  echo "$cache_what built in ${elapsed}s at $bin"
}

cache_complete() {
  [ "${FORCE_REBUILD:-0}" != 1 ] && [ -f "$stamp" ] || return 1
  local b
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done
}

# ln -sfn replaces an existing symlink and never descends into it (plain ln -sf would for a dir).
cache_link_bin() { ln -sfn "$bin" "$cache_link"; }
