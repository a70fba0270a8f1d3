#!/usr/bin/env bash
# Every stack script against every runtime flavour, one after the other,
# then a table of "N passed, N failed, N skipped" per (stack, runtime).
#
#   bash tests/stack/run-all.sh [RUNTIME...]   (default: runc moat-compat moat-baseline moat)
#
# containerd.sh, podman.sh and docker.sh run once per runtime; cri.sh runs
# once for the CRI handlers among them (runc, moat, moat-compat: the runtimes
# deploy/containerd-moat.toml defines). STACKS="containerd podman" picks the
# per-runtime stacks (default: containerd podman docker; docker is skipped
# when dockerd is not installed); CRI=0 leaves cri.sh out.
# Full logs go to $STACK_LOGS (default: a temp dir, printed). Exit 0 only if
# every run passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- runc moat-compat moat-baseline moat
logs=${STACK_LOGS:-$(mktemp -d /tmp/moat-stack-logs.XXXXXX)}
mkdir -p "$logs"
if [ -z "${MOAT_BIN:-}" ]; then
    MOAT_BIN=$(bash "$here/../../scripts/build.sh") || exit 2
fi
export MOAT_BIN
stacks=${STACKS:-containerd podman docker}
rc=0
rows=()
row() { rows+=("$(printf '| %-10s | %-26s | %s | %ss |' "$1" "$2" "$(tail -1 "$3")" "$4")"); }
for stack in $stacks; do
    if [ "$stack" = docker ] && ! command -v dockerd >/dev/null; then
        rows+=("$(printf '| %-10s | %-26s | %s |' docker all "skipped: no dockerd (apt-get install docker.io)")")
        continue
    fi
    for rt in "$@"; do
        log=$logs/$stack-$rt.log
        echo "== $stack / $rt" >&2
        t0=$SECONDS
        bash "$here/$stack.sh" "$rt" >"$log" 2>&1 || rc=1
        row "$stack" "$rt" "$log" $((SECONDS - t0))
    done
done
if [ "${CRI:-1}" = 1 ]; then
    handlers=()
    for rt in "$@"; do case $rt in runc | moat | moat-compat) handlers+=("$rt") ;; esac; done
    if [ ${#handlers[@]} -gt 0 ]; then
        log=$logs/cri.log
        echo "== cri / ${handlers[*]}" >&2
        t0=$SECONDS
        bash "$here/cri.sh" "${handlers[@]}" >"$log" 2>&1 || rc=1
        row cri "${handlers[*]}" "$log" $((SECONDS - t0))
        grep '^# start time' "$log" >&2
    fi
fi
echo "| stack      | runtime                    | result | time |"
echo "|------------|----------------------------|--------|------|"
printf '%s\n' "${rows[@]}"
echo "# logs: $logs"
tot() { printf '%s\n' "${rows[@]}" | grep -o "[0-9]* $1" | awk '{s += $1} END {print s + 0}'; }
echo "stack tests: ${#rows[@]} runs, $(tot passed) passed, $(tot failed) failed, $(tot skipped) skipped, $(tot known) known -> $([ $rc = 0 ] && echo OK || echo FAILED)"
exit $rc
