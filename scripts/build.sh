#!/usr/bin/env bash
# Build the release moat as a static-pie binary (no dynamic loader work at
# start: ~0.6 ms less per container start on this machine kind; see
# bench/RESULTS.md). --target keeps crt-static off build scripts and proc
# macros. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -p moat --target x86_64-unknown-linux-gnu "$@" >&2
echo "$PWD/target/x86_64-unknown-linux-gnu/release/moat"
