#!/usr/bin/env bash
# Both stack scripts against every runtime flavour, one after the other,
# then a table of "N passed, N failed, N skipped" per (stack, runtime).
#
#   bash tests/stack/run-all.sh [RUNTIME...]   (default: runc moat-compat moat-baseline moat)
#
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
rc=0
rows=()
for stack in containerd podman; do
    for rt in "$@"; do
        log=$logs/$stack-$rt.log
        echo "== $stack / $rt" >&2
        bash "$here/$stack.sh" "$rt" >"$log" 2>&1 || rc=1
        rows+=("$(printf '| %-10s | %-13s | %s |' "$stack" "$rt" "$(tail -1 "$log")")")
    done
done
echo "| stack      | runtime       | result |"
echo "|------------|---------------|--------|"
printf '%s\n' "${rows[@]}"
echo "# logs: $logs"
exit $rc
