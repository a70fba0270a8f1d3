#!/usr/bin/env bash
# The Kubernetes path: kubelet's CRI calls, made by moat-cri (crates/cri-client)
# against a private containerd with its CRI plugin on, one RuntimeClass
# handler at a time.
#
#   bash tests/stack/cri.sh [HANDLER...]     (default: runc moat moat-compat)
#
# HANDLER is a runtime name of deploy/containerd-moat.toml (moat,
# moat-compat) or runc, the control: every case must pass with it.
# The containerd config is a node's (CRI plugin, runc the default runtime)
# to which deploy/install.sh --containerd adds moat and moat-compat, so what
# an operator installs is what is tested. Pods run on the host network (no CNI), with a
# pause image built here from tests/stack/pause.c (no registry). Per handler:
# RunPodSandbox, CreateContainer/StartContainer, ExecSync (output, exit code),
# ContainerStatus of a container that exits 3, StopContainer of a running
# one (its TERM trap: exit 0), a missing binary (a readable StartContainer
# error, nothing left), RemoveContainer, StopPodSandbox, RemovePodSandbox,
# nothing left in the runtime's root; then CRI_ROUNDS (default 7) timed
# rounds of RunPodSandbox + CreateContainer + StartContainer (median, min,
# max in ms; each round's pod removed before the next).
# MOAT_BIN / MOAT_CRI_BIN skip the builds; MOAT_STACK_KEEP=1 keeps the temp dir.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
for b in containerd ctr jq gcc; do
    command -v $b >/dev/null || { echo "missing $b (apt-get install containerd jq gcc)" >&2; exit 2; }
done
[ $# -gt 0 ] || set -- runc moat moat-compat
HANDLERS=("$@")
ROUNDS=${CRI_ROUNDS:-7}

T=$(mktemp -d /tmp/moat-stack-cri.XXXXXX)
chmod 711 "$T"
SOCK=$T/containerd.sock
CG=moatcri$$            # every pod's cgroup parent is /$CG/<pod>
CTRD_PID=""
HAD_RUN_CTRD=0
[ -d /run/containerd ] && HAD_RUN_CTRD=1
declare -A RTBIN=()

cleanup() {
    set +e
    trap - EXIT
    # a second signal must not cut the cleanup short (a handler, not SIG_IGN:
    # the commands below must not inherit ignored signals)
    trap 'echo "# cleaning up, please wait" >&2' INT TERM
    if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
        for p in $(K pods 2>/dev/null); do
            K stopp "$p" >/dev/null 2>&1
            K rmp "$p" >/dev/null 2>&1
        done
    fi
    # Anything a runtime still holds in its root (the shim appends k8s.io).
    for h in "${!RTBIN[@]}"; do
        for root in "$T"/rt/*/k8s.io; do
            [ -d "$root" ] || continue
            for id in $("${RTBIN[$h]}" --root "$root" list -q 2>/dev/null); do
                timeout 10 "${RTBIN[$h]}" --root "$root" delete -f "$id" >/dev/null 2>&1
            done
        done
    done
    if [ -n "$CTRD_PID" ]; then
        kill "$CTRD_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    kill_ours
    sleep 0.2
    umount_ours
    rm_cgroups "$CG"
    [ "$HAD_RUN_CTRD" = 1 ] || rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
    if [ "${MOAT_STACK_KEEP:-}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binaries -----------------------------------------------------------------
for h in "${HANDLERS[@]}"; do
    case $h in runc | moat | moat-compat) ;; *) echo "unknown handler $h (runc, moat, moat-compat)" >&2; exit 2 ;; esac
done
resolve_runtime moat
MOAT=$RT
RUNC=$(command -v runc) || { echo "missing runc (apt-get install runc)" >&2; exit 2; }
CRI=${MOAT_CRI_BIN:-}
if [ -z "$CRI" ]; then
    (cd "$REPO" && cargo build --release -q -p moat-cri) >"$T/cri-build.log" 2>&1 || {
        cat "$T/cri-build.log" >&2; echo "moat-cri build failed" >&2; exit 2; }
    CRI=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release/moat-cri
fi
[ -x "$CRI" ] || { echo "moat-cri: $CRI is not executable" >&2; exit 2; }
K() { "$CRI" --endpoint "unix://$SOCK" --timeout "${STEP_TIMEOUT:-60}" "$@"; }

# --- images: busybox and a pause image, both built here -------------------------
IMG=$(bash "$STACK_DIR/mkimage.sh" "$T/image") || exit 2
mkdir -p "$T/pause-rootfs"
gcc -static -Os -s -o "$T/pause-rootfs/pause" "$STACK_DIR/pause.c" || { echo "gcc -static pause.c failed (libc6-dev)" >&2; exit 2; }
PAUSE=$(MKIMAGE_ROOTFS=$T/pause-rootfs MKIMAGE_CMD='["/pause"]' \
    bash "$STACK_DIR/mkimage.sh" "$T/pause-image" localhost/moat-stack/pause:1) || exit 2

# --- a private containerd with the CRI plugin --------------------------------------
# Its config.toml is a node's (CRI plugin with runc as the default runtime);
# deploy/install.sh then adds moat and moat-compat to it exactly as on a node
# (binaries under $T/prefix, runtime Root under $T/rt/moat).
mkdir -p "$T/root" "$T/state" "$T/opt" "$T/rt" "$T/cni/conf" "$T/logs" "$T/etc/containerd"
P='plugins."io.containerd.grpc.v1.cri"'
CFG=$T/etc/containerd/config.toml
cat >"$CFG" <<EOF
version = 2
root = "$T/root"
state = "$T/state"

[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$T/debug.sock"
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"

[$P]
  sandbox_image = "$PAUSE"
  # no CAP_SYS_RESOURCE here: never ask for a lower oom_score_adj than ours
  restrict_oom_score_adj = true
  disable_cgroup = false
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [$P.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$T/cni/conf"
  [$P.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [$P.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [$P.containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        Root = "$T/rt/runc"
        SystemdCgroup = false
EOF
run bash "$REPO/deploy/install.sh" --binary "$MOAT" --prefix "$T/prefix" --etc "$T/etc" \
    --runtime-root "$T/rt/moat" --containerd
expect "deploy/install.sh --containerd adds moat and moat-compat to config.toml" \
    eval '[ "$RC" = 0 ] && grep -q "BinaryName = \"$T/prefix/bin/moat-compat\"" "$CFG"'
RTBIN[runc]=$RUNC RTBIN[moat]=$T/prefix/bin/moat RTBIN[moat-compat]=$T/prefix/bin/moat-compat
containerd --config "$CFG" >"$T/containerd.log" 2>&1 &
CTRD_PID=$!
for _ in $(seq 100); do
    [ -S "$SOCK" ] && K version >/dev/null 2>&1 && break
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.1
done
run K version
if [ "$RC" = 0 ]; then pass "CRI Version: $OUT"
else fail "CRI Version (containerd with the CRI plugin did not come up)" "$(tail -20 "$T/containerd.log")"; exit 1; fi
echo "# containerd $(containerd --version | awk '{print $3}'), handlers: ${HANDLERS[*]}"

C() { timeout "${STEP_TIMEOUT:-60}" ctr --address "$SOCK" -n k8s.io "$@"; }
run C images import "$T/image/oci.tar"
run C images import "$T/pause-image/oci.tar"
run C images ls -q
expect "images: busybox and pause imported into k8s.io" \
    eval 'grep -qxF "$IMG" <<<"$OUT" && grep -qxF "$PAUSE" <<<"$OUT"'

# wait_exited CID: poll ContainerStatus until CONTAINER_EXITED (or give up).
wait_exited() {
    for _ in $(seq 100); do
        run K status "$1"
        [[ $OUT == CONTAINER_EXITED* ]] && return 0
        sleep 0.1
    done
    return 0
}

# podargs NAME: what runp and create both send (kubelet resends the config)
podargs() { echo --pod-name "$1" --pod-uid "uid-$1" --pod-namespace moat-stack --cgroup-parent "/$CG/$1" --log-dir "$T/logs/$1"; }

declare -A TIMES=()
NOCMD_ERR=()
for h in "${HANDLERS[@]}"; do
    echo "## handler $h (${RTBIN[$h]})"
    case $h in runc) root=$T/rt/runc/k8s.io ;; *) root=$T/rt/moat/k8s.io ;; esac
    pod=pod-$h
    mkdir -p "$T/logs/$pod"
    # shellcheck disable=SC2046
    run K runp --handler "$h" $(podargs $pod)
    POD=$OUT
    if [ "$RC" != 0 ] || [ -z "$POD" ]; then fail "$h: RunPodSandbox"; continue; fi
    pass "$h: RunPodSandbox -> ${POD:0:12}"
    run K inspectp "$POD"
    expect "$h: PodSandboxStatus SANDBOX_READY" [ "$OUT" = SANDBOX_READY ]
    run "${RTBIN[$h]}" --root "$root" state "$POD"
    expect "$h: the pause container is the handler's ($h state: running)" [ "$(jq -r .status <<<"$OUT" 2>/dev/null)" = running ]

    # shellcheck disable=SC2046
    run K create "$POD" $(podargs $pod) --name main --image "$IMG" --env WHO=cri -- \
        sh -c 'echo started-$WHO; trap "exit 0" TERM; while :; do sleep 1; done'
    MAIN=$OUT
    expect "$h: CreateContainer main" [ "$RC" = 0 -a -n "$MAIN" ]
    run K start "$MAIN"
    expect "$h: StartContainer main" [ "$RC" = 0 ]
    run K status "$MAIN"
    expect "$h: ContainerStatus main CONTAINER_RUNNING" [ "${OUT%% *}" = CONTAINER_RUNNING ]

    run K exec "$MAIN" -- sh -c 'echo out-$WHO; echo to-stderr >&2; exit 4'
    expect "$h: ExecSync output and exit code 4" [ "$RC" = 4 -a "$OUT" = out-cri -a "$ERR" = to-stderr ]
    run K exec "$MAIN" -- sh -c 'tr "\0" " " </proc/1/cmdline'
    expect "$h: ExecSync runs in the container (its pid 1 is main's sh)" grep -q 'while' <<<"$OUT"
    run K exec "$MAIN" -- sh -c "$IDENT"
    check_ident "$h: ExecSync identity" "$h"
    run K exec "$MAIN" -- /no/such/binary
    expect "$h: ExecSync of a missing binary fails (rc $RC)" [ "$RC" != 0 ]

    # shellcheck disable=SC2046
    run K create "$POD" $(podargs $pod) --name exit3 --image "$IMG" -- sh -c 'exit 3'
    E3=$OUT
    run K start "$E3"
    expect "$h: StartContainer exit3" [ "$RC" = 0 ]
    wait_exited "$E3"
    expect "$h: ContainerStatus exit3: CONTAINER_EXITED, exit code 3" eval '[[ $OUT == "CONTAINER_EXITED 3"* ]]'

    # Bad input through the stack: a binary that is not there. containerd
    # creates the task (runtime create) at StartContainer.
    # shellcheck disable=SC2046
    run K create "$POD" $(podargs $pod) --name nocmd --image "$IMG" -- /no/such/binary
    NOCMD=$OUT
    run K start "$NOCMD"
    expect "$h: StartContainer of a missing binary fails with the runtime's error" \
        eval '[ "$RC" != 0 ] && grep -q "no/such/binary" <<<"$ERR"'
    NOCMD_ERR[${#NOCMD_ERR[@]}]="$h: $ERR"
    run K rm "$NOCMD"
    expect "$h: RemoveContainer of the failed one" [ "$RC" = 0 ]

    run K stop "$MAIN" --grace 10
    expect "$h: StopContainer main" [ "$RC" = 0 ]
    run K status "$MAIN"
    expect "$h: main stopped by its TERM trap: CONTAINER_EXITED 0" eval '[[ $OUT == "CONTAINER_EXITED 0"* ]]'
    expect "$h: main's log has its output" grep -q 'stdout F started-cri' "$T/logs/$pod/main.log"
    run K rm "$MAIN"
    expect "$h: RemoveContainer main" [ "$RC" = 0 ]
    run K rm "$E3"
    run K ps
    expect "$h: ListContainers: none left in the pod" eval '! grep -q " $POD " <<<"$OUT "'
    run K stopp "$POD"
    expect "$h: StopPodSandbox" [ "$RC" = 0 ]
    run K inspectp "$POD"
    expect "$h: PodSandboxStatus SANDBOX_NOTREADY" [ "$OUT" = SANDBOX_NOTREADY ]
    run K rmp "$POD"
    expect "$h: RemovePodSandbox" [ "$RC" = 0 ]
    run K pods
    expect "$h: ListPodSandbox: the pod is gone" eval '! grep -qxF "$POD" <<<"$OUT"'
    run "${RTBIN[$h]}" --root "$root" list -q
    expect "$h: nothing left in the handler's root" [ -z "$OUT" ]
    # the pod-level dir is kubelet's to remove (it made it); the runtime's
    # container cgroups under it must be gone
    left=$(find /sys/fs/cgroup/*/"$CG/$pod" /sys/fs/cgroup/"$CG/$pod" -mindepth 1 -type d 2>/dev/null)
    expect "$h: no container cgroup left under /$CG/$pod" [ -z "$left" ]

    # Start time: RunPodSandbox + CreateContainer + StartContainer, as kubelet
    # does for a one-container pod (moat-cri's own exec included: a few ms).
    ms=()
    for i in $(seq "$ROUNDS"); do
        p=t-$h-$i
        t0=$(date +%s%N)
        # shellcheck disable=SC2046
        P=$(K runp --handler "$h" $(podargs $p) 2>>"$T/timing.err") &&
            c=$(K create "$P" $(podargs $p) --name c --image "$IMG" -- sleep 1000 2>>"$T/timing.err") &&
            K start "$c" 2>>"$T/timing.err"
        r=$?
        t1=$(date +%s%N)
        [ "$r" = 0 ] && ms+=($(((t1 - t0) / 1000000)))
        [ -n "${P:-}" ] && { K stopp "$P" >/dev/null 2>&1; K rmp "$P" >/dev/null 2>&1; }
        P=""
    done
    if [ ${#ms[@]} = "$ROUNDS" ]; then
        sorted=($(printf '%s\n' "${ms[@]}" | sort -n))
        TIMES[$h]="median ${sorted[$((ROUNDS / 2))]} ms (min ${sorted[0]}, max ${sorted[$((ROUNDS - 1))]}, n=$ROUNDS)"
        pass "$h: pod+container start x$ROUNDS: ${TIMES[$h]}"
    else
        fail "$h: timed rounds (${#ms[@]}/$ROUNDS succeeded)" "$(tail -5 "$T/timing.err")"
    fi
done

run K pods
expect "end: no pods left" [ -z "$OUT" ]
run K ps
expect "end: no containers left" [ -z "$OUT" ]

echo
for h in "${HANDLERS[@]}"; do echo "# start time $h: ${TIMES[$h]:-n/a}"; done
for e in "${NOCMD_ERR[@]}"; do echo "# StartContainer error, $(head -c 500 <<<"$e")"; done
if grep -v 'copy shim log' "$T/containerd.log" | grep -q 'level=error'; then
    echo "# containerd's error lines (last 10):"
    grep 'level=error' "$T/containerd.log" | grep -v 'copy shim log' | tail -10 | cut -c1-600 | sed 's/^/#   /'
fi
RT_LABEL="cri: ${HANDLERS[*]}" RT=$CRI
summary
[ "$FAIL" = 0 ]
