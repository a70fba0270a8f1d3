# Shared by tests/stack/*.sh: a tiny check harness, the runtime under test,
# and teardown helpers. Sourced, not run.

STACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$STACK_DIR/../.." && pwd)

# resolve_runtime SPEC -> sets RT (absolute path of the binary the stack
# execs) and RT_LABEL. SPEC: moat | moat-compat | moat-baseline | runc |
# /path/to/binary. moat-baseline is a wrapper script running
# `moat --policy baseline "$@"` (the floor without the user namespace).
# moat-compat is a symlink named moat-compat to the built moat: moat reads
# its policy from argv[0] (README "Secure by default"), which is exactly
# what deploy/install.sh installs on a node.
resolve_runtime() {
    local spec=${1:-moat}
    RT_LABEL=$spec
    case $spec in
    moat | moat-compat | moat-baseline)
        local bin=${MOAT_BIN:-}
        if [ -z "$bin" ]; then
            bin=$(bash "$REPO/scripts/build.sh" 2>"$T/build.log" | tail -1) || {
                cat "$T/build.log" >&2; echo "build failed" >&2; exit 2; }
        fi
        mkdir -p "$T/bin"
        if [ "$spec" = moat-compat ]; then
            ln -sf "$bin" "$T/bin/moat-compat"
            RT=$T/bin/moat-compat
        elif [ "$spec" = moat-baseline ]; then
            printf '#!/bin/sh\nexec %q --policy baseline "$@"\n' "$bin" >"$T/bin/moat-baseline"
            chmod 755 "$T/bin/moat-baseline"
            RT=$T/bin/moat-baseline
        else
            RT=$bin
        fi
        ;;
    runc) RT=$(command -v runc) ;;
    *) RT=$(readlink -f "$spec"); RT_LABEL=$(basename "$spec") ;;
    esac
    [ -x "$RT" ] || { echo "runtime $spec: $RT is not executable" >&2; exit 2; }
}

PASS=0 FAIL=0 SKIP=0 KNOWN=0
FAILED=() KNOWNS=()
OUT=""   # last command's stdout
ERR=""   # last command's stderr
RC=0     # last command's exit code

# run CMD... : runs with a timeout, captures OUT/ERR/RC, never fails.
run() {
    local o e
    o=$(mktemp "$T/out.XXXXXX") e=$(mktemp "$T/err.XXXXXX")
    if [ "$(type -t "$1")" = function ]; then
        "$@" >"$o" 2>"$e" </dev/null
    else
        timeout "${STEP_TIMEOUT:-60}" "$@" >"$o" 2>"$e" </dev/null
    fi
    RC=$?
    OUT=$(cat "$o") ERR=$(cat "$e")
    rm -f "$o" "$e"
    {
        echo "\$ $*"
        [ -n "$OUT" ] && sed 's/^/  out| /' <<<"$OUT"
        [ -n "$ERR" ] && sed 's/^/  err| /' <<<"$ERR"
        echo "  rc=$RC"
    } >>"$T/transcript.log"
    return 0
}

pass() { PASS=$((PASS + 1)); echo "ok   - $1"; }
fail() {
    FAIL=$((FAIL + 1)); FAILED+=("$1")
    echo "FAIL - $1"
    shift
    for l in "$@"; do [ -n "$l" ] && sed 's/^/       /' <<<"$l"; done
    [ -n "$OUT" ] && sed 's/^/       stdout: /' <<<"$OUT"
    [ -n "$ERR" ] && sed 's/^/       stderr: /' <<<"$ERR"
    echo "       rc=$RC"
}
skip() { SKIP=$((SKIP + 1)); echo "skip - $1 ($2)"; }
# known NAME: a case that fails with exactly a documented, reported moat
# difference (the caller checks the symptom; anything else is a fail). Not
# counted as a failure, listed in the summary.
known() {
    KNOWN=$((KNOWN + 1)); KNOWNS+=("$1"); echo "known - $1"
    [ -n "$ERR" ] && sed 's/^/       stderr: /' <<<"$ERR"
    echo "       rc=$RC"
}

# expect NAME CONDITION-EXPR... : pass if the bash test succeeds.
expect() {
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# runtime_has SUBCOMMAND: does the runtime under test implement it?
runtime_has() {
    "$RT" "$1" --help >/dev/null 2>&1
}

summary() {
    echo
    echo "# runtime: $RT_LABEL ($RT)"
    [ ${#FAILED[@]} -gt 0 ] && printf '# failed: %s\n' "${FAILED[@]}"
    [ ${#KNOWNS[@]} -gt 0 ] && printf '# known: %s\n' "${KNOWNS[@]}"
    echo "$PASS passed, $FAIL failed, $SKIP skipped$([ "$KNOWN" = 0 ] || echo ", $KNOWN known")"
}

# Kill, one by one by pid, every process whose command line mentions $T
# (shims, conmon, container processes started from our dirs). Never by name.
kill_ours() {
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        [ "$p" = "$BASHPID" ] && continue
        if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$T"; then
            kill -9 "$p" 2>/dev/null || true
        fi
    done
}

# Unmount everything mounted at or under $T, deepest first.
umount_ours() {
    local m
    for _ in 1 2 3; do
        m=$(awk -v t="$T" '$5 == t || index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
        [ -z "$m" ] && return 0
        while read -r x; do umount -l "$x" 2>/dev/null || true; done <<<"$m"
    done
}

# rmdir the (empty) cgroup directory NAME under every hierarchy, deepest first.
rm_cgroups() {
    local name=$1 d
    for d in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}

# IDENT: the command whose output check_ident reads: uid, uid_map's first
# line, and whether the container's root may write its own rootfs.
IDENT='id -u; tr -s " " </proc/self/uid_map | sed "s/^ //" | head -1; touch /.ident-w && echo wrote'

# check_ident NAME FLAVOUR: after `run ... sh -c "$IDENT"`. Every flavour
# must run as uid 0 and write its rootfs; hardened moat (FLAVOUR moat) must
# do it in a user namespace of its own whose root is an unprivileged host
# uid (the floor's, also on an overlayfs rootfs); the others map to host 0.
check_ident() {
    local name=$1 flavour=$2 uid map w host
    uid=$(sed -n 1p <<<"$OUT") map=$(sed -n 2p <<<"$OUT") w=$(sed -n 3p <<<"$OUT")
    host=$(awk '{print $2}' <<<"$map")
    if [ "$RC" != 0 ] || [ "$uid" != 0 ] || [ "$w" != wrote ]; then
        fail "$name: runs as root and writes its rootfs (rc $RC)"
    elif [ "$flavour" = moat ]; then
        if [ "${host:-0}" -ge 65536 ]; then
            pass "$name: own user namespace, root is host uid $host, writes its rootfs"
        else
            fail "$name: hardened moat without its own user namespace ($map)"
        fi
    else
        pass "$name: root is host uid ${host:-?} ($flavour), writes its rootfs"
    fi
}
