#!/bin/sh
# Build the static moat-checker used by the e2e tests (crates/cli/tests).
# --target keeps the crt-static flag off the host build; the result lands in
# target/x86_64-unknown-linux-gnu/release/moat-checker.
set -eu
cd "$(dirname "$0")/.."
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p moat-checker --target x86_64-unknown-linux-gnu "$@"
