#!/bin/sh
# Build the static moat-audit-probe that `moat audit` copies into its busybox bundles.
# --target keeps the crt-static flag off the host build; the result lands in
# target/x86_64-unknown-linux-gnu/release/moat-audit-probe, where moat looks for it.
set -eu
cd "$(dirname "$0")/../.."
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p moat-audit-probe --target x86_64-unknown-linux-gnu "$@"
