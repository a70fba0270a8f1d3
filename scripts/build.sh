#!/usr/bin/env bash
# Build the release moat as a static-pie binary (no dynamic loader work at
# start: ~0.6 ms less per container start on this machine kind; see
# bench/RESULTS.md). --target keeps crt-static off build scripts and proc
# macros. Prints the binary's path.
#
# Linked with the toolchain's lld and scripts/order/moat.order, the list of
# functions a container start executes (made by scripts/order/gen.sh): they
# are laid out together, so the kernel's 64 KiB fault-around maps ~1.3 MiB of
# text instead of all of it (peak RSS 5.1 -> 2.6 MiB, bench/RESULTS.md).
# Names the file no longer matches are ignored, so a stale order only costs
# memory, never correctness. Without lld (a Debian rustc) it links as before.
#
#   MOAT_NO_ORDER=1  link without the order file
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
link=()
gcc_ld="$(rustc --print sysroot)/lib/rustlib/$target/bin/gcc-ld"
dir="${CARGO_TARGET_DIR:-$PWD/target}/order"
if [ -x "$gcc_ld/ld.lld" ]; then
    mkdir -p "$dir"
    link+=(-C link-arg=-fuse-ld=lld -C "link-arg=-B$gcc_ld" -C link-arg=-Wl,--no-demangle)
    key=plain
    order=scripts/order/moat.order
    if [ -z "${MOAT_NO_ORDER:-}" ] && [ -s "$order" ]; then
        # The path carries the content's hash: a new order file changes the
        # flags, so cargo relinks.
        key=$(sha256sum "$order" | cut -c1-16)
        copy="$dir/moat-$key.order"
        [ -f "$copy" ] || cp "$order" "$copy"
        link+=(-C "link-arg=-Wl,--symbol-ordering-file=$copy" -C link-arg=-Wl,--no-warn-symbol-ordering)
    fi
    # The link map (mangled names) gives every function's address although
    # the binary is stripped: scripts/order/gen.sh reads it. One map per set
    # of flags: cargo keeps one artifact per set and, switching back, reuses
    # it without linking, so a single map path would describe another build.
    map="$dir/moat-$key.map"
    link+=(-C "link-arg=-Wl,-Map=$map")
else
    echo "build.sh: no lld in the Rust toolchain ($gcc_ld): linking without the function order" >&2
fi
RUSTFLAGS="-C target-feature=+crt-static" cargo rustc --release -p moat --bin moat --target "$target" "$@" -- "${link[@]}" >&2
out="${CARGO_TARGET_DIR:-$PWD/target}/$target/release/moat"
if [ -n "${map:-}" ]; then cp "$map" "$out.map"; fi
# Say when the order file has gone stale (most names no longer in the build).
if [ -n "${copy:-}" ] && [ -f "$out.map" ]; then
    awk 'NR == FNR { want[$1] = 1; n++; next }
         NF == 5 && ($5 in want) && !($5 in seen) { seen[$5] = 1; k++ }
         END { if (n && k * 10 < n * 7)
                 printf "build.sh: only %d of %d functions in scripts/order/moat.order are in this build: run scripts/order/gen.sh\n", k, n > "/dev/stderr" }' \
        "$copy" "$out.map"
fi
echo "$out"
