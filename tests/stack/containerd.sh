#!/usr/bin/env bash
# Drive a runtime through a real, private containerd and its runc.v2 shim.
#
#   bash tests/stack/containerd.sh [moat|moat-compat|runc|/path/to/binary]
#
# Default: moat (built by scripts/build.sh; MOAT_BIN=path skips the build).
# runc is the control: the same cases must pass with it.
#
# A containerd of its own (config.toml, root, state, sockets all under one
# temp dir, CRI plugin disabled), the busybox image built by mkimage.sh and
# imported with `ctr images import`, and the runtime picked per container by
# `ctr run --runtime io.containerd.runc.v2 --runc-binary RT --runc-root DIR`
# (the shim's options.BinaryName / options.Root). Every failing case prints
# what ctr printed: the shim puts the runtime's `--log-format json` error
# line in it. Everything is torn down on exit (trap). MOAT_STACK_KEEP=1
# keeps the temp dir (logs, transcript) for a look afterwards.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
for b in containerd ctr jq; do
    command -v $b >/dev/null || { echo "missing $b (apt-get install containerd jq)" >&2; exit 2; }
done

T=$(mktemp -d /tmp/moat-stack-ctrd.XXXXXX)
chmod 711 "$T"
NS=moatstack$$
# The runc.v2 shim runs the runtime with --root <options.Root>/<namespace>.
RTROOT=$T/runtime-root/$NS
SOCK=$T/containerd.sock
CTRD_PID=""
# The shims put their sockets in /run/containerd/s (fixed in 1.6); if this
# run is what makes /run/containerd, it is removed again (only when empty).
HAD_RUN_CTRD=0
[ -d /run/containerd ] && HAD_RUN_CTRD=1

cleanup() {
    set +e
    trap - EXIT
    # a second signal must not cut the cleanup short (a handler, not SIG_IGN:
    # the commands below must not inherit ignored signals)
    trap 'echo "# cleaning up, please wait" >&2' INT TERM
    if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
        # Ask the stack to stop what it started: tasks, then containers.
        for id in $(timeout 10 ctr --address "$SOCK" -n "$NS" task ls -q 2>/dev/null); do
            timeout 10 ctr --address "$SOCK" -n "$NS" task kill -s SIGKILL "$id" >/dev/null 2>&1
            timeout 20 ctr --address "$SOCK" -n "$NS" task delete -f "$id" >/dev/null 2>&1
        done
        for id in $(timeout 10 ctr --address "$SOCK" -n "$NS" containers ls -q 2>/dev/null); do
            timeout 10 ctr --address "$SOCK" -n "$NS" containers rm "$id" >/dev/null 2>&1
        done
    fi
    # Anything the runtime still holds in our root.
    if [ -n "${RT:-}" ] && [ -d "$T/runtime-root/$NS" ]; then
        for id in $("$RT" --root "$RTROOT" list -q 2>/dev/null); do
            timeout 10 "$RT" --root "$RTROOT" delete -f "$id" >/dev/null 2>&1
        done
    fi
    if [ -n "$CTRD_PID" ]; then
        kill "$CTRD_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    kill_ours
    sleep 0.2
    umount_ours
    rm_cgroups "$NS"
    [ "$HAD_RUN_CTRD" = 1 ] || rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
    if [ "${MOAT_STACK_KEEP:-}" = 1 ]; then
        echo "# kept $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

resolve_runtime "${1:-moat}"
echo "# containerd $(containerd --version | awk '{print $3}'), runtime $RT_LABEL: $RT"

# --- a private containerd -------------------------------------------------
mkdir -p "$T/root" "$T/state" "$T/opt" "$T/runtime-root"
cat >"$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = "$T/debug.sock"
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"
EOF
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
CTRD_PID=$!
for _ in $(seq 100); do
    [ -S "$SOCK" ] && ctr --address "$SOCK" version >/dev/null 2>&1 && break
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.1
done
if ! ctr --address "$SOCK" version >/dev/null 2>&1; then
    echo "containerd did not come up:" >&2; tail -20 "$T/containerd.log" >&2; exit 2
fi

C() { timeout "${STEP_TIMEOUT:-60}" ctr --address "$SOCK" -n "$NS" "$@"; }
RUNOPTS=(--runtime io.containerd.runc.v2 --runc-binary "$RT" --runc-root "$T/runtime-root" --fifo-dir "$T/fifo")

# --- image ------------------------------------------------------------------
IMG=$(bash "$STACK_DIR/mkimage.sh" "$T/image")
run C images import "$T/image/oci.tar"
run C images ls -q
if grep -qxF "$IMG" <<<"$OUT"; then pass "image: ctr images import of the hand-built busybox ($IMG)"
else fail "image: ctr images import"; exit 1; fi

# --- run to completion ----------------------------------------------------
run C run --rm "${RUNOPTS[@]}" "$IMG" exit7 sh -c 'exit 7'
expect "run: sh -c 'exit 7' exits 7" [ "$RC" = 7 ]

run C run --rm "${RUNOPTS[@]}" "$IMG" exit0 true
expect "run: true exits 0" [ "$RC" = 0 ]

run C run --rm "${RUNOPTS[@]}" "$IMG" hello sh -c 'echo hello-stdout; echo to-stderr >&2'
expect "run: stdout reaches ctr" [ "$RC" = 0 -a "$OUT" = "hello-stdout" ]
expect "run: stderr reaches ctr" grep -qx to-stderr <<<"$ERR"


run C run --rm "${RUNOPTS[@]}" "$IMG" nocmd /no/such/binary
expect "run: missing binary fails, nothing left" [ "$RC" != 0 ]
NOCMD_ERR=$ERR
run C containers ls -q
expect "run: --rm left no container after failure" [ -z "$OUT" ]

# What the container sees (informational: differs by policy, by design).
run C run --rm "${RUNOPTS[@]}" "$IMG" ident sh -c "$IDENT"
check_ident "run: identity" "$RT_LABEL"

# --- detached task: ls, ps, exec, pause/resume, kill, delete, rm ------------
run C run -d "${RUNOPTS[@]}" "$IMG" bg sh -c 'trap "exit 42" TERM; while :; do sleep 1; done'
expect "run -d: detached task starts" [ "$RC" = 0 ]

run C task ls
expect "task ls: bg RUNNING" grep -Eq '^bg +[0-9]+ +RUNNING' <<<"$OUT"
BGPID=$(awk '$1=="bg"{print $2}' <<<"$OUT")

if runtime_has ps; then
    run C task ps bg
    expect "task ps: lists the init pid (${BGPID:-none})" grep -Eq "^${BGPID:-NOPID}( |$)" <<<"$OUT"
else
    skip "task ps" "$RT_LABEL has no ps (the shim runs \`RT ps --format json\`)"
fi

run "$RT" --root "$RTROOT" state bg
expect "runtime state: bg running, pid $BGPID" \
    [ "$(jq -r .status <<<"$OUT" 2>/dev/null)" = running -a "$(jq -r .pid <<<"$OUT" 2>/dev/null)" = "$BGPID" ]

if runtime_has exec; then
    run C task exec --fifo-dir "$T/fifo" --exec-id e1 bg sh -c 'echo in-exec; exit 5'
    expect "task exec: output + exit code 5" [ "$RC" = 5 -a "$OUT" = "in-exec" ]
    run C task exec --fifo-dir "$T/fifo" --exec-id e2 bg sh -c 'tr "\\0" " " </proc/1/cmdline' 
    expect "task exec: sees the init in the same pid ns" grep -q 'while' <<<"$OUT"
    run C task exec --fifo-dir "$T/fifo" --exec-id e3 bg /no/such/binary
    expect "task exec: missing binary fails" [ "$RC" != 0 ]
    EXEC_ERR=$ERR
else
    skip "task exec" "$RT_LABEL has no exec"
fi

if runtime_has pause && runtime_has resume; then
    run C task pause bg
    expect "task pause: rc 0" [ "$RC" = 0 ]
    run C task ls
    expect "task ls: bg PAUSED" grep -Eq '^bg +[0-9]+ +PAUSED' <<<"$OUT"
    run C task resume bg
    expect "task resume: rc 0" [ "$RC" = 0 ]
    run C task ls
    expect "task ls: bg RUNNING again" grep -Eq '^bg +[0-9]+ +RUNNING' <<<"$OUT"
else
    skip "task pause/resume" "$RT_LABEL has no pause/resume"
fi

# Bad input from the stack: a CRIU checkpoint. The shim runs `RT checkpoint`;
# a runtime without it must fail readably and at once, and the task must
# keep running.
run C task checkpoint bg
if [ "$RC" = 124 ]; then
    fail "task checkpoint: hung (timeout)"
elif runtime_has checkpoint; then
    pass "task checkpoint: $RT_LABEL has checkpoint: rc $RC"
else
    expect "task checkpoint: fails with the runtime's error naming checkpoint" \
        eval '[ "$RC" != 0 ] && grep -qi checkpoint <<<"$ERR"'
    CKPT_ERR=$ERR
fi
run C task ls
expect "task ls: bg still RUNNING after the checkpoint attempt" grep -Eq '^bg +[0-9]+ +RUNNING' <<<"$OUT"

run C task kill bg
expect "task kill (SIGTERM): rc 0" [ "$RC" = 0 ]
for _ in $(seq 50); do
    run C task ls
    grep -Eq '^bg +[0-9]+ +STOPPED' <<<"$OUT" && break
    sleep 0.2
done
expect "task ls: bg STOPPED after SIGTERM" grep -Eq '^bg +[0-9]+ +STOPPED' <<<"$OUT"
run C task delete bg
expect "task delete: reports exit code 42 (the trap)" grep -Eq '(status|exit code) 42' <<<"$OUT$ERR"
run C container rm bg
expect "container rm: rc 0" [ "$RC" = 0 ]
run "$RT" --root "$RTROOT" list -q
expect "runtime list: nothing left in the runtime root" [ -z "$OUT" ]

# SIGKILL path and delete of a running task with -f.
run C run -d "${RUNOPTS[@]}" "$IMG" bg2 sleep 1000
expect "run -d: second task" [ "$RC" = 0 ]
run C task kill -s SIGKILL bg2
for _ in $(seq 50); do
    run C task ls
    grep -Eq '^bg2 +[0-9]+ +STOPPED' <<<"$OUT" && break
    sleep 0.2
done
run C task delete bg2
expect "task kill -s SIGKILL + delete: exit code 137" grep -Eq '(status|exit code) 137' <<<"$OUT$ERR"
run C run -d "${RUNOPTS[@]}" "$IMG" bg3 sleep 1000
run C task delete -f bg3
expect "task delete -f of a running task: rc 0" [ "$RC" = 0 ]
run C container rm bg2 bg3
expect "container rm of two: rc 0" [ "$RC" = 0 ]

# Metrics come from the cgroup the runtime made (the shim reads it itself).
run C run -d "${RUNOPTS[@]}" "$IMG" met sleep 1000
run C task metrics met
expect "task metrics: the shim finds the task's cgroup" [ "$RC" = 0 ]
run C task kill -s SIGKILL met; sleep 0.3
run C task delete -f met; run C container rm met

# The runtime SIGKILLed in the middle of create: a BinaryName wrapper that
# kills `RT create` DELAY seconds in (the rest passes straight through).
# Whatever instant it dies at, the shim must report a failure (or, if create
# had finished, a working task), never hang, and after the delete nothing of
# the container may be left: state, cgroup, mount, process.
mkdir -p "$T/bin"
cat >"$T/bin/killer" <<EOF
#!/bin/bash
for a in "\$@"; do
    if [ "\$a" = create ]; then
        "$RT" "\$@" &
        p=\$!
        sleep "\$(cat "$T/kill-delay")"
        if kill -9 \$p 2>/dev/null; then echo killed >>"$T/kill-log"; wait \$p; exit 137; fi
        wait \$p; exit \$?
    fi
done
exec "$RT" "\$@"
EOF
chmod 755 "$T/bin/killer"
KOPTS=(--runtime io.containerd.runc.v2 --runc-binary "$T/bin/killer" --runc-root "$T/runtime-root" --fifo-dir "$T/fifo")
: >"$T/kill-log"
i=0
for d in 0.001 0.005 0.01 0.02 0.05; do
    i=$((i + 1))
    echo "$d" >"$T/kill-delay"
    run C run -d "${KOPTS[@]}" "$IMG" "killed$i" sleep 1000
    CRC=$RC
    if [ "$CRC" = 124 ]; then fail "kill mid-create (+${d}s): ctr run hung"; continue; fi
    [ "$CRC" = 0 ] && { run C task kill -s SIGKILL "killed$i"; sleep 0.3; }
    run C task delete -f "killed$i"
    run C container rm "killed$i"
    run "$RT" --root "$RTROOT" list -q
    left_state=$OUT
    left_dirs=$(ls "$RTROOT" 2>/dev/null)  # (moat keeps a root-wide .cache)
    left_cg=$(ls -d /sys/fs/cgroup/*/"$NS"/"killed$i" /sys/fs/cgroup/"$NS"/"killed$i" 2>/dev/null)
    left_mnt=$(grep -F "/killed$i/" /proc/self/mountinfo)
    left_proc=""
    for pr in /proc/[0-9]*; do
        r=$(readlink "$pr/root" 2>/dev/null) || continue
        [[ $r == *"/killed$i/"* ]] && left_proc+=" ${pr#/proc/}"
    done
    name="kill mid-create (+${d}s, ctr rc $CRC): no state, cgroup, mount or process left"
    if [ -z "$left_state$left_dirs$left_cg$left_mnt$left_proc" ]; then
        pass "$name"
    elif [ "$RT_LABEL" = runc ] && [ -z "$left_state$left_dirs$left_mnt$left_proc" ]; then
        # runc 1.1 records its cgroup paths only once create finished, so
        # `runc delete --force` of a killed create leaks them (ARCHITECTURE.md)
        known "$name (runc 1.1 leaks the cgroup: $(wc -l <<<"$left_cg") dirs)"
    else
        fail "$name" "left: state=[$left_state] dirs=[$left_dirs] cgroup=[$left_cg] mounts=[$left_mnt] procs=[$left_proc]"
    fi
done
echo "# kill mid-create: $(grep -c killed "$T/kill-log") of $i creates were killed before they finished"

run "$RT" --root "$RTROOT" list -q
expect "end: runtime root is empty" [ -z "$OUT" ]
run C containers ls -q
expect "end: containerd has no containers left" [ -z "$OUT" ]

# The runtime's own words, as the shim relayed them (for docs/stack.md).
echo
echo "# ctr's message for the missing binary (run): $(head -c 600 <<<"$NOCMD_ERR")"
[ -n "${CKPT_ERR:-}" ] && echo "# ctr's message for task checkpoint: $(head -c 600 <<<"$CKPT_ERR")"
[ -n "${EXEC_ERR:-}" ] && echo "# ctr's message for the missing binary (exec): $(head -c 600 <<<"$EXEC_ERR")"
if grep -v 'copy shim log' "$T/containerd.log" | grep -q 'level=error'; then
    echo "# containerd's error lines:"
    grep 'level=error' "$T/containerd.log" | grep -v 'copy shim log' | tail -20 | cut -c1-800 | sed 's/^/#   /'
fi

summary
[ "$FAIL" = 0 ]
