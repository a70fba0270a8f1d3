#!/usr/bin/env bash
# Regenerate scripts/order/moat.order: the functions moat executes to start,
# inspect, exec into and delete a container, in link order. scripts/build.sh
# hands the list to lld so that code sits together (see there). Run it after
# large changes to the start path; bench/run.sh shows the peak RSS it buys.
#
# How: build moat as it ships (scripts/build.sh, which also writes lld's link
# map: the binary itself is stripped), run each command under bptrace.c
# (ptrace, a one-shot breakpoint on every function start in the map),
# following its clone into the container's init until the exec, and name
# every function that ran from the map. The build must be
# build.sh's own (same profile): symbol hashes differ between profiles.
# Takes seconds. Root only.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/deps.sh gcc busybox-static python3
work=$(mktemp -d /tmp/moat-order.XXXXXX)
trap 'rm -rf "$work"' EXIT
moat=$(bash scripts/build.sh)
cp "$moat" "$work/moat"
cp "$moat.map" "$work/moat.map"
moat=$work/moat
root=$work/root
cleanup() {
    for id in $("$moat" --root "$root" list -q 2>/dev/null); do
        "$moat" --root "$root" delete -f "$id" || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
gcc -O2 -Wall -o "$work/bptrace" scripts/order/bptrace.c
python3 scripts/order/names.py --starts "$work/moat.map" >"$work/starts"

b=$work/bundle
mkdir -p "$b/rootfs/bin"
cp /bin/busybox "$b/rootfs/bin/busybox"
for t in sh true sleep; do ln -s busybox "$b/rootfs/bin/$t"; done
(cd "$b" && "$moat" spec)
python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sleep", "600"]
json.dump(c, open(sys.argv[1], "w"))
PY
n=0
trace() { n=$((n + 1)); echo "gen.sh: trace $n: moat $*" >&2
          "$work/bptrace" "$work/starts" "$moat" --root "$root" "$@" >"$work/trace.$n" 2>"$work/err.$n" </dev/null ||
          { cat "$work/err.$n" >&2; exit 1; }
          tail -n1 "$work/err.$n" >&2; }
cd "$b"
# Warm the seccomp cache first: a start compiles no profile, it loads the
# cached program, and that is the path to lay out.
"$moat" --root "$root" run -d warm >/dev/null
"$moat" --root "$root" delete -f warm
# The default (hardened) policy; compat takes the same paths minus some of
# the floor, so its run below adds the rest.
trace create c1
trace state c1
trace start c1
trace exec c1 /bin/true
trace list
trace kill c1 KILL
sleep 0.2
trace delete c1
sed -i 's|"/bin/sleep",[^]]*|"/bin/true"|' config.json
trace run r1
trace --policy compat run r2
cd - >/dev/null
python3 scripts/order/names.py "$work/moat.map" "$work"/trace.* >scripts/order/moat.order
echo "gen.sh: wrote scripts/order/moat.order ($(wc -l <scripts/order/moat.order) functions)" >&2
