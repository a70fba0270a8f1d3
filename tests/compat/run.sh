#!/usr/bin/env bash
# moat ↔ runc compatibility harness, full mode: every scenario of tests/compat/harness.rs under
# runc and moat --policy compat; prints the agreement table and writes tests/compat/RESULTS.md.
# Exit 0 when every difference is one docs/compat.md declares, 1 otherwise.
#   tests/compat/run.sh            full mode (RESULTS.md)
#   tests/compat/run.sh --quick    the CI subset only (what `cargo test -p moat --test compat` runs)
# Needs root. Installs its own apt packages (runc, busybox-static, libseccomp-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/deps.sh runc busybox-static libseccomp-dev pkg-config
[ -x target/x86_64-unknown-linux-gnu/release/moat-checker ] || bash scripts/build-checker.sh </dev/null
if [ "${1:-}" = "--quick" ]; then
  exec cargo test -p moat --test compat -- --nocapture --test-threads=1 compat_quick the_harness
fi
exec cargo test -p moat --test compat -- --nocapture --ignored compat_full_results
