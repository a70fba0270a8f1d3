#!/usr/bin/env bash
# Drive a runtime through podman (conmon), with storage of its own.
#
#   bash tests/stack/podman.sh [moat|moat-compat|runc|/path/to/binary]
#
# Default: moat (built by scripts/build.sh; MOAT_BIN=path skips the build).
# runc is the control: the same cases must pass with it.
#
# podman --runtime RT --cgroup-manager=cgroupfs --events-backend=file with
# --root/--runroot/--tmpdir under one temp dir; the busybox rootfs from
# mkimage.sh is brought in with `podman import`. Containers run with
# --network none (no host network config is touched). Everything is torn
# down on exit (trap). MOAT_STACK_KEEP=1 keeps the temp dir.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
for b in podman conmon jq; do
    command -v $b >/dev/null || { echo "missing $b (apt-get install podman jq)" >&2; exit 2; }
done

T=$(mktemp -d /tmp/moat-stack-podman.XXXXXX)
chmod 711 "$T"
# podman runs the runtime with no --root, so its state is in the runtime's
# default root (runc /run/runc, moat /run/moat), as on a real host.
# (`--runtime-flag root=DIR` is not handed to podman's exit command, whose
# cleanup then misses the container: not usable.) Container ids are podman's
# 64-hex ones; cleanup deletes only those this run made.
RTROOT=""
HAD_PARENT=0
[ -d /sys/fs/cgroup/memory/libpod_parent ] || [ -d /sys/fs/cgroup/libpod_parent ] && HAD_PARENT=1

P() {
    timeout "${STEP_TIMEOUT:-60}" podman --runtime "$RT" --cgroup-manager=cgroupfs \
        --events-backend=file --root "$T/root" --runroot "$T/runroot" --tmpdir "$T/tmp" \
        --storage-driver overlay "$@"
}

cleanup() {
    set +e
    trap - EXIT
    # a second signal must not cut the cleanup short (a handler, not SIG_IGN:
    # the commands below must not inherit ignored signals)
    trap 'echo "# cleaning up, please wait" >&2' INT TERM
    local ids=""
    if [ -n "${RT:-}" ] && [ -d "$T/root" ]; then
        ids=$(P ps -a -q --no-trunc 2>/dev/null)
        P rm -a -f -t 0 >/dev/null 2>&1
        P rmi -a -f >/dev/null 2>&1
    fi
    if [ -n "$RTROOT" ]; then
        for id in $ids $CREATED; do
            timeout 10 "$RT" --root "$RTROOT" delete -f "$id" >/dev/null 2>&1
        done
    fi
    kill_ours
    sleep 0.2
    umount_ours
    # The cgroupfs parent podman makes, only if it was not there before us.
    [ "$HAD_PARENT" = 1 ] || rm_cgroups libpod_parent
    if [ "${MOAT_STACK_KEEP:-}" = 1 ]; then
        echo "# kept $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

resolve_runtime "${1:-moat}"
echo "# $(podman --version), conmon $(conmon --version 2>/dev/null | awk 'NR==1{print $3}'), runtime $RT_LABEL: $RT"
mkdir -p "$T/root" "$T/runroot" "$T/tmp"
RTROOT=$("$RT" --help 2>&1 | grep -- '--root' | grep -oE 'default: "?/[^]"]+' | head -1 | sed 's/default: "\?//')
[ -n "$RTROOT" ] || RTROOT=/run/$(basename "$RT")
echo "# runtime root (the runtime's default): $RTROOT"
CREATED=""

IMG=localhost/busybox-moat:latest
bash "$STACK_DIR/mkimage.sh" "$T/image" >/dev/null
run P import --change 'CMD ["sh"]' "$T/image/rootfs.tar" "$IMG"
run P images --format '{{.Repository}}:{{.Tag}}'
if grep -qxF "$IMG" <<<"$OUT"; then pass "image: podman import of the hand-built busybox rootfs"
else fail "image: podman import"; exit 1; fi

# podman asks for RLIMIT_NOFILE 1048576 and an RLIMIT_NPROC above the hard
# limit it leaves its runtime with (conmon's children run with nproc 32768
# here): without CAP_SYS_RESOURCE (this machine) runc itself then fails
# "setting rlimit type 7 (then 6): operation not permitted", and `--ulimit
# host` does not help in podman 4.3. Ask for limits below any hard limit.
COMMON=(--pull never --network none --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
R=(run "${COMMON[@]}")

# --- run to completion ----------------------------------------------------
run P "${R[@]}" --rm "$IMG" sh -c 'exit 3'
expect "run --rm: sh -c 'exit 3' exits 3" [ "$RC" = 3 ]

run P "${R[@]}" --rm "$IMG" true
expect "run --rm: true exits 0" [ "$RC" = 0 ]

run P "${R[@]}" --rm --hostname hello "$IMG" sh -c 'echo hello-from-$(hostname); echo to-stderr >&2'
expect "run: stdout reaches podman (and --hostname)" [ "$RC" = 0 -a "$OUT" = hello-from-hello ]
expect "run: stderr reaches podman" grep -qx to-stderr <<<"$ERR"

run P "${R[@]}" --rm -e GREETING=hi -w /tmp "$IMG" sh -c 'echo "$GREETING $(pwd)"'
expect "run: env and workdir" [ "$OUT" = "hi /tmp" ]

run P "${R[@]}" --rm "$IMG" /no/such/binary
expect "run: missing binary fails (podman: 127)" [ "$RC" = 127 ]
NOCMD_ERR=$ERR

run P "${R[@]}" --name logged "$IMG" sh -c 'echo line1; echo line2'
run P logs logged
expect "logs: podman logs of a finished container" [ "$OUT" = "line1
line2" ]
run P inspect logged --format '{{.State.ExitCode}} {{.State.Status}}'
expect "inspect: exited, exit code 0" [ "$OUT" = "0 exited" ]
run P rm logged
expect "rm: finished container" [ "$RC" = 0 ]

# Not --rm: podman makes --rm containers' overlays volatile, which moat
# cannot rebuild id-mapped (ADR 0003; such containers get no user namespace).
run P "${R[@]}" --name ident "$IMG" sh -c "$IDENT"
check_ident "run: identity" "$RT_LABEL"
run P rm ident

# --- detached: ps, top, exec, pause/unpause, stop, rm ----------------------
run P "${R[@]}" -d --name bg "$IMG" sh -c 'trap "exit 42" TERM; while :; do sleep 1; done'
expect "run -d: detached container starts" [ "$RC" = 0 ]

run P ps --format '{{.Names}} {{.Status}}'
expect "ps: bg is Up" grep -Eq '^bg Up' <<<"$OUT"
run P inspect bg --format '{{.State.Pid}}'
BGPID=$OUT
CID=$(P inspect bg --format '{{.Id}}' 2>/dev/null)
CREATED="$CREATED $CID"
run "$RT" --root "$RTROOT" state "$CID"
expect "runtime state (default root): running, pid $BGPID" \
    [ "$(jq -r .status <<<"$OUT" 2>/dev/null)" = running -a "$(jq -r .pid <<<"$OUT" 2>/dev/null)" = "$BGPID" ]

run P top bg pid args
expect "top: shows the loop" grep -q 'while' <<<"$OUT"

if runtime_has exec; then
    run P exec bg sh -c 'echo in-exec; exit 5'
    expect "exec: output + exit code 5" [ "$RC" = 5 -a "$OUT" = in-exec ]
    run P exec -e X=1 -w /tmp bg sh -c 'echo $X $(pwd)'
    expect "exec: env and workdir" [ "$OUT" = "1 /tmp" ]
    run P exec bg /no/such/binary
    expect "exec: missing binary fails (podman: 127)" [ "$RC" = 127 ]
    EXEC_ERR=$ERR
else
    skip "exec" "$RT_LABEL has no exec"
fi

if runtime_has pause && runtime_has resume; then
    run P pause bg
    expect "pause: rc 0" [ "$RC" = 0 ]
    run P inspect bg --format '{{.State.Status}}'
    expect "inspect: paused" [ "$OUT" = paused ]
    run P unpause bg
    expect "unpause: rc 0" [ "$RC" = 0 ]
    run P inspect bg --format '{{.State.Status}}'
    expect "inspect: running again" [ "$OUT" = running ]
else
    skip "pause/unpause" "$RT_LABEL has no pause/resume"
fi

# Bad input from the stack: a CRIU checkpoint (--leave-running). podman
# runs `RT checkpoint`; a runtime without it must fail readably and at once,
# and the container must keep running.
run P container checkpoint --leave-running bg
if [ "$RC" = 124 ]; then
    fail "checkpoint: hung (timeout)"
elif runtime_has checkpoint; then
    pass "checkpoint: $RT_LABEL has checkpoint: rc $RC"
else
    expect "checkpoint: fails with an error naming checkpoint" eval '[ "$RC" != 0 ] && grep -qi checkpoint <<<"$ERR"'
    CKPT_ERR=$ERR
fi
run P inspect bg --format '{{.State.Status}}'
expect "inspect: running after the checkpoint attempt" [ "$OUT" = running ]

run P stop -t 10 bg
expect "stop: rc 0" [ "$RC" = 0 ]
run P inspect bg --format '{{.State.ExitCode}} {{.State.Status}}'
expect "stop: SIGTERM reached the trap (exit code 42, exited)" [ "$OUT" = "42 exited" ]
run P rm bg
expect "rm: stopped container" [ "$RC" = 0 ]

# kill, wait, rm -f of a running one.
run P "${R[@]}" -d --name bg2 "$IMG" sleep 1000
run P kill bg2
run P wait bg2
expect "kill + wait: exit code 137 (sleep as pid 1: SIGKILL)" [ "$OUT" = 137 ]
run P rm bg2
run P "${R[@]}" -d --name bg3 "$IMG" sleep 1000
run P rm -f -t 0 bg3
expect "rm -f of a running container: rc 0" [ "$RC" = 0 ]

# restart: the same container created and started twice.
run P create "${COMMON[@]}" --name again "$IMG" sh -c 'echo again'
run P start -a again
run P start -a again
expect "start -a twice: same container runs again" [ "$RC" = 0 -a "$OUT" = again ]
run P rm again

run P ps -a -q
expect "end: podman has no containers left" [ -z "$OUT" ]
run "$RT" --root "$RTROOT" list -q
ALL=$OUT
run "$RT" --root "$RTROOT" state "$CID"
expect "end: the runtime no longer knows the containers this run made" [ "$RC" != 0 ]

echo
echo "# podman's message for the missing binary (run): $(head -c 600 <<<"$NOCMD_ERR")"
[ -n "${CKPT_ERR:-}" ] && echo "# podman's message for checkpoint: $(head -c 600 <<<"$CKPT_ERR")"
[ -n "${EXEC_ERR:-}" ] && echo "# podman's message for the missing binary (exec): $(head -c 600 <<<"$EXEC_ERR")"

summary
[ "$FAIL" = 0 ]
