#!/usr/bin/env bash
# moat's benchmark, one command (Debian bookworm, as root):
#
#   bash bench/run.sh            # full run: writes bench/RESULTS.md, results.json, results.png
#   bash bench/run.sh --quick    # smoke: 3 samples, 5 containers, output to a tmp dir
#   bash bench/run.sh --only density   # just some benchmarks (run,split,rss,syscall,hyperfine,density): medians printed, results.json in a tmp dir
#
# Installs what is missing (Debian packages), builds moat the way it ships
# (scripts/build.sh: static, lld, function order; a no-op when up to date),
# then runs bench/harness.py. MOAT=PATH benchmarks another moat binary. Other options are passed
# to the harness (--out DIR, --moat PATH, --samples N, --containers N).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
want=(python3 hyperfine crun runc busybox-static time strace gcc libc6-dev binutils util-linux
  golang-github-containers-common)
[ "$quick" = 1 ] || want+=(python3-matplotlib)
moat=${MOAT:-}
if [ -z "$moat" ]; then want+=(libseccomp-dev pkg-config); fi
for p in "${want[@]}"; do have "$p" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Always (re)built unless MOAT names a binary: cargo does nothing when it is
# fresh, and a stale binary would measure old code.
if [ -z "$moat" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null || apt-get install -y -qq cargo rustc >/dev/null
  echo "bench: building moat (scripts/build.sh)" >&2
  moat=$(bash scripts/build.sh)
fi

# Debian's python3, so Debian's matplotlib is importable whatever PATH says.
exec /usr/bin/python3 bench/harness.py --moat "$moat" "$@"
