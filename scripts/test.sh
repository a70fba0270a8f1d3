#!/usr/bin/env bash
# Build everything and run the whole test suite (unit, fake-cgroupfs,
# real-syscall and end-to-end tests against moat and runc). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh busybox-static libseccomp-dev pkg-config gcc runc
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --workspace
bash scripts/build.sh >/dev/null
bash scripts/build-checker.sh
bash crates/audit/build-probe.sh
# The benchmark harness, smoke mode: checks it works end to end (3 samples,
# 5 containers); no timing is asserted.
bash bench/run.sh --quick
cargo test --workspace -- --test-threads=2
