#!/usr/bin/env bash
# Install what moat needs to build and test on a fresh Debian (bookworm) as
# root: the C library for seccomp, busybox for images, and the peer runtimes
# the tests compare against. Safe to run again: it installs only what is
# missing.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "$@"; do have "$p" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "deps: no Rust toolchain found; installing Debian's (may be older than rust-version)"
    apt-get install -y -qq cargo rustc >/dev/null
  fi
fi
