#!/usr/bin/env bash
# Drive a runtime through a real, private dockerd (Debian docker.io).
#
#   bash tests/stack/docker.sh [moat|moat-compat|moat-baseline|runc|/path/to/binary]
#
# Default: moat (built by scripts/build.sh; MOAT_BIN=path skips the build).
# runc is the control: the same cases must pass with it.
#
# A dockerd of its own: --data-root, --exec-root, --pidfile and its socket
# under one temp dir, no bridge and no iptables (containers use --network
# none), cgroupfs driver under a cgroup parent of its own, an empty
# daemon.json; it starts its own managed containerd under the exec root. The
# runtime is registered with --add-runtime NAME=PATH and picked with `docker
# run --runtime NAME` (dockerd hands containerd's runc.v2 shim the path as
# BinaryName). The busybox image comes from mkimage.sh as a docker-archive
# (`docker load`; docker 20.10 does not load OCI layouts). Everything is torn
# down on exit (trap); MOAT_STACK_KEEP=1 keeps the temp dir.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
for b in dockerd containerd jq; do
    command -v $b >/dev/null || { echo "missing $b (apt-get install docker.io jq)" >&2; exit 2; }
done
# Debian's client matches its daemon (API 1.41); another docker earlier in
# PATH may not.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

T=$(mktemp -d /tmp/moat-stack-docker.XXXXXX)
chmod 711 "$T"
SOCK=$T/docker.sock
CG=moatdocker$$
DPID=""
HAD_RUN_CTRD=0
[ -d /run/containerd ] && HAD_RUN_CTRD=1
# dockerd also makes /etc/docker/key.json (its trust key) and
# /run/docker/plugins whatever the flags; removed again if this run made them.
HAD=()
for f in /etc/docker /etc/docker/key.json /run/docker /var/lib/docker; do [ -e "$f" ] && HAD+=("$f"); done
made_by_us() { local h; for h in "${HAD[@]}"; do [ "$h" = "$1" ] && return 1; done; return 0; }
export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$T/cli

cleanup() {
    set +e
    trap - EXIT
    # a second signal must not cut the cleanup short (a handler, not SIG_IGN:
    # the commands below must not inherit ignored signals)
    trap 'echo "# cleaning up, please wait" >&2' INT TERM
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
        ids=$(timeout 10 "$DOCKER" ps -aq 2>/dev/null)
        [ -n "$ids" ] && timeout 60 "$DOCKER" rm -f $ids >/dev/null 2>&1
        kill "$DPID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$DPID" 2>/dev/null
        wait "$DPID" 2>/dev/null
    fi
    # What the runtime still holds in dockerd's runtime root for it.
    if [ -n "${RT:-}" ]; then
        for root in "$T"/exec/runtime-*/moby; do  # (see RTROOT below)
            [ -d "$root" ] || continue
            for id in $("$RT" --root "$root" list -q 2>/dev/null); do
                timeout 10 "$RT" --root "$root" delete -f "$id" >/dev/null 2>&1
            done
        done
    fi
    kill_ours
    sleep 0.2
    umount_ours
    rm_cgroups "$CG"
    [ "$HAD_RUN_CTRD" = 1 ] || rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
    made_by_us /etc/docker/key.json && rm -f /etc/docker/key.json
    made_by_us /etc/docker && rmdir /etc/docker 2>/dev/null
    made_by_us /run/docker && rm -rf /run/docker
    made_by_us /var/lib/docker && [ -e /var/lib/docker ] && echo "# dockerd made /var/lib/docker (left in place)"
    if [ "${MOAT_STACK_KEEP:-}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

resolve_runtime "${1:-moat}"
NAME=stackrt
echo "# $(dockerd --version), runtime $RT_LABEL: $RT"

mkdir -p "$T/data" "$T/exec" "$T/cli"
echo '{}' >"$T/daemon.json"
dockerd --config-file "$T/daemon.json" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/docker.pid" -H "unix://$SOCK" --bridge=none --iptables=false \
    --ip-masq=false --userland-proxy=false --storage-driver overlay2 \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$CG" \
    --add-runtime "$NAME=$RT" >"$T/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 200); do
    [ -S "$SOCK" ] && "$DOCKER" version >/dev/null 2>&1 && break
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.1
done
run "$DOCKER" version --format '{{.Server.Version}}'
if [ "$RC" = 0 ]; then pass "dockerd $OUT up (private data-root, exec-root, socket)"
else fail "dockerd did not come up" "$(tail -20 "$T/dockerd.log")"; exit 1; fi
run "$DOCKER" info --format '{{json .Runtimes}}'
expect "docker info: runtime $NAME -> $RT" eval 'jq -e --arg n "$NAME" --arg p "$RT" ".[\$n].path == \$p" <<<"$OUT" >/dev/null'

D() { timeout "${STEP_TIMEOUT:-60}" "$DOCKER" "$@"; }
IMG=$(bash "$STACK_DIR/mkimage.sh" "$T/image") || exit 2
IMG=${IMG#docker.io/library/}
run D load -i "$T/image/docker.tar"
expect "docker load of the hand-built busybox ($IMG)" grep -q "Loaded image: $IMG" <<<"$OUT"

R=(--runtime "$NAME" --network none)
run D run --rm "${R[@]}" "$IMG" sh -c 'exit 7'
expect "run: sh -c 'exit 7' exits 7" [ "$RC" = 7 ]
run D run --rm "${R[@]}" "$IMG" true
expect "run: true exits 0" [ "$RC" = 0 ]
run D run --rm "${R[@]}" --hostname boxy -e FOO=bar -w /tmp "$IMG" sh -c 'echo "$(hostname) $FOO $PWD"; echo to-stderr >&2'
expect "run: stdout, --hostname, -e, -w" [ "$RC" = 0 -a "$OUT" = "boxy bar /tmp" ]
expect "run: stderr reaches docker" grep -qx to-stderr <<<"$ERR"
run D run --rm "${R[@]}" "$IMG" /no/such/binary
if [ "$RC" = 127 ] && grep -q "no/such/binary" <<<"$ERR"; then
    pass "run: missing binary -> 127 with the runtime's error"
else
    fail "run: missing binary -> 127 with the runtime's error"
fi
NOCMD_ERR=$ERR
run D run "${R[@]}" --name ident "$IMG" sh -c "$IDENT"
check_ident "run: identity" "$RT_LABEL"
run D logs ident
expect "logs of a finished container" grep -q '^0$' <<<"$OUT"
run D rm ident
expect "rm of a finished container" [ "$RC" = 0 ]

run D run -d "${R[@]}" --name bg "$IMG" sh -c 'trap "exit 42" TERM; while :; do sleep 1; done'
expect "run -d: detached container starts" [ "$RC" = 0 ]
run D ps --filter name=bg --format '{{.Names}} {{.Status}}'
expect "ps: bg Up" grep -Eq '^bg Up' <<<"$OUT"
run D inspect -f '{{.State.Pid}} {{.Id}}' bg
read -r BGPID BGID <<<"$OUT"
# dockerd 20.10 gives every runtime the shim Root <exec-root>/runtime-runc
# (whatever its name); the shim's options.json says which.
RTROOT=$(jq -r .root "$T/exec/containerd/daemon/io.containerd.runtime.v2.task/moby/$BGID/options.json" 2>/dev/null)/moby
run jq -r .binary_name "$T/exec/containerd/daemon/io.containerd.runtime.v2.task/moby/$BGID/options.json"
expect "the shim runs $RT_LABEL (options.json binary_name)" [ "$OUT" = "$RT" ]
run "$RT" --root "$RTROOT" state "$BGID"
expect "runtime state: running, pid $BGPID" \
    [ "$(jq -r .status <<<"$OUT" 2>/dev/null)" = running -a "$(jq -r .pid <<<"$OUT" 2>/dev/null)" = "$BGPID" ]
run D top bg
expect "top: lists the container's sh" grep -q 'while' <<<"$OUT"
run D exec bg sh -c 'echo in-exec; exit 5'
expect "exec: output + exit code 5" [ "$RC" = 5 -a "$OUT" = in-exec ]
run D exec bg sh -c 'tr "\0" " " </proc/1/cmdline'
expect "exec: same pid namespace (pid 1 is the trap loop)" grep -q while <<<"$OUT"
run D exec bg /no/such/binary
expect "exec: missing binary -> 126/127" eval '[ "$RC" = 126 ] || [ "$RC" = 127 ]'
run D pause bg
run D inspect -f '{{.State.Status}}' bg
expect "pause: paused" [ "$OUT" = paused ]
run D unpause bg
run D inspect -f '{{.State.Status}}' bg
expect "unpause: running" [ "$OUT" = running ]
run D stop -t 10 bg
expect "stop: rc 0" [ "$RC" = 0 ]
run D inspect -f '{{.State.ExitCode}}' bg
expect "stop: SIGTERM reached the trap: exit code 42" [ "$OUT" = 42 ]
run D rm bg
expect "rm: rc 0" [ "$RC" = 0 ]

run D run -d "${R[@]}" --name kk "$IMG" sleep 1000
run D kill kk
run D wait kk
expect "kill + wait: 137" [ "$OUT" = 137 ]
run D run -d "${R[@]}" --name ff "$IMG" sleep 1000
run D rm -f ff kk
expect "rm -f of a running one (and a dead one)" [ "$RC" = 0 ]

run D ps -aq
expect "end: docker has no containers left" [ -z "$OUT" ]
run "$RT" --root "$RTROOT" list -q
expect "end: nothing left in the runtime's root" [ -z "$OUT" ]

echo
echo "# docker's message for the missing binary: $(head -c 600 <<<"$NOCMD_ERR")"
summary
[ "$FAIL" = 0 ]
