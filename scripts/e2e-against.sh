#!/bin/sh
# Run the end-to-end tests (crates/cli/tests) against runc or moat.
#   scripts/e2e-against.sh runc   # validate the harness: the "moat" side runs runc too
#   scripts/e2e-against.sh moat   # the real comparison, moat vs runc
# Extra arguments go to `cargo test` (e.g. a test binary: --test bad_input).
# Needs root, busybox-static at /bin/busybox and runc at /usr/sbin/runc.
set -eu
cd "$(dirname "$0")/.."
which="${1:-moat}"
[ $# -gt 0 ] && shift
scripts/build-checker.sh
case "$which" in
  runc) MOAT_E2E_BINARY="${RUNC_BINARY:-/usr/sbin/runc}"; export MOAT_E2E_BINARY ;;
  moat) unset MOAT_E2E_BINARY ;;
  *) echo "usage: $0 runc|moat [cargo test args]" >&2; exit 2 ;;
esac
if [ $# -eq 0 ]; then
  set -- --test exit_codes --test lifecycle --test checker_compare --test hooks \
         --test bad_input --test console
fi
exec cargo test -p moat "$@"
