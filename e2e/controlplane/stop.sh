#!/usr/bin/env bash
# Stops the control plane that start.sh started in STATE_DIR, and removes the
# state dir (certificates, etcd data, logs) unless KEEP_STATE=1.
#
# Usage: stop.sh [STATE_DIR]        (default: e2e/controlplane/.state)
# Env:   KEEP_STATE=1      keep STATE_DIR (e.g. to read logs/ after a failure)
#        STOP_TIMEOUT=10   seconds to wait after SIGTERM before SIGKILL
#
# Only PIDs listed in STATE_DIR/pids are signalled, and only while
# /proc/<pid>/exe is still the executable start.sh launched there (a PID can
# be reused by an unrelated process once ours is gone). Never kills by name.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${1:-$here/.state}"
stop_timeout="${STOP_TIMEOUT:-10}"

if [ ! -d "$state" ]; then
  echo "stop.sh: no state dir $state; nothing to stop"
  exit 0
fi
state="$(cd "$state" && pwd)"

ours() { # pid exe: is pid still the process we started?
  [ "$(readlink "/proc/$1/exe" 2>/dev/null || true)" = "$2" ]
}

declare -a names=() pids=() exes=()
if [ -f "$state/pids" ]; then
  while read -r name pid exe; do
    [ -n "${pid:-}" ] || continue
    names+=("$name"); pids+=("$pid"); exes+=("$exe")
  done <"$state/pids"
fi

# Stop one component at a time, in reverse start order (kwok and the
# controllers, then the apiserver, then etcd): an apiserver whose etcd is
# already gone hangs in its graceful shutdown instead of exiting.
stop_one() { # index
  local i="$1" deadline
  ours "${pids[i]}" "${exes[i]}" || return 0
  echo "stopping ${names[i]} (pid ${pids[i]})"
  kill -TERM "${pids[i]}" 2>/dev/null || true
  deadline=$((SECONDS + stop_timeout))
  while ours "${pids[i]}" "${exes[i]}" && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1
  done
  if ours "${pids[i]}" "${exes[i]}"; then
    echo "${names[i]} (pid ${pids[i]}) still running after ${stop_timeout}s: SIGKILL"
    kill -KILL "${pids[i]}" 2>/dev/null || true
    # Let the kernel release it (and its ports) before going on.
    for _ in $(seq 1 20); do ours "${pids[i]}" "${exes[i]}" || break; sleep 0.1; done
  fi
}
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
  stop_one "$i"
done
: >"$state/pids" 2>/dev/null || true

if [ "${KEEP_STATE:-0}" = 1 ]; then
  rm -f "$state/env" # the env file describes a running cluster; it no longer is
  echo "control plane stopped; state kept in $state"
elif [ -f "$state/.cdo-controlplane-state" ]; then
  rm -rf "$state"
  echo "control plane stopped; removed $state"
else
  echo "control plane stopped; $state is not a start.sh state dir, not removing it" >&2
fi
