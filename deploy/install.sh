#!/usr/bin/env bash
# Install moat on a node: the binary, a moat-compat link, and (on request)
# the containerd and podman runtime entries.
#
#   deploy/install.sh [--binary PATH] [--prefix DIR] [--etc DIR]
#                     [--containerd] [--podman] [--reserve-range] [--uninstall]
#
#   --binary PATH    the moat to install (default: $MOAT_BIN, else build it
#                    with scripts/build.sh when run from a checkout)
#   --prefix DIR     install to DIR/bin (default /usr/local)
#   --etc DIR        config root (default /etc; for trying it out elsewhere)
#   --containerd     add the runtimes moat and moat-compat for the CRI plugin
#                    (deploy/containerd-moat.toml). containerd 1.x: appended
#                    to ETC/containerd/config.toml between "# BEGIN moat" /
#                    "# END moat" lines (1.6/1.7 `imports` REPLACE the whole
#                    CRI plugin section, so a drop-in would wipe the node's
#                    CRI config: containerd#5837); containerd >= 2.0 (which
#                    merges imports): ETC/containerd/conf.d/moat.toml. It
#                    restarts nothing itself: restart containerd afterwards
#   --runtime-root DIR  the runtimes' Root (moat's state; default
#                    /run/containerd/moat)
#   --podman         add ETC/containers/containers.conf.d/moat.conf
#   --reserve-range  write moat's user-namespace range (moat:1000000000:1073741824,
#                    moat's built-in default) to ETC/subuid and ETC/subgid so
#                    that no other tool hands those ids out
#   --uninstall      remove what this script installs
#
# The binary is replaced atomically (rename), so shims starting containers
# while it runs see the old or the new moat, never half a file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${MOAT_BIN:-} prefix=/usr/local etc=/etc rtroot=/run/containerd/moat
do_ctrd=0 do_podman=0 do_range=0 uninstall=0
while [ $# -gt 0 ]; do
    case $1 in
    --binary) bin=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --etc) etc=$2; shift 2 ;;
    --containerd) do_ctrd=1; shift ;;
    --podman) do_podman=1; shift ;;
    --reserve-range) do_range=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --runtime-root) rtroot=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 1 ;;
    esac
done
bindir=$prefix/bin
ctrd_drop=$etc/containerd/conf.d/moat.toml
podman_drop=$etc/containers/containers.conf.d/moat.conf
ctrd_cfg=$etc/containerd/config.toml
RANGE=1000000000:1073741824
# containerd's major version (1 when unknown: the merge-safe path).
ctrd_major=$(containerd --version 2>/dev/null | awk '{print $3}' | sed 's/^v//; s/\..*//')
case $ctrd_major in '' | *[!0-9]*) ctrd_major=1 ;; esac
drop_block() { # remove install.sh's block from config.toml
    [ -f "$ctrd_cfg" ] && grep -q '^# BEGIN moat' "$ctrd_cfg" &&
        sed -i '/^# BEGIN moat/,/^# END moat/d' "$ctrd_cfg" && echo "removed the moat runtimes from $ctrd_cfg"
    return 0
}

if [ "$uninstall" = 1 ]; then
    rm -fv "$bindir/moat-compat" "$bindir/moat" "$ctrd_drop" "$podman_drop"
    drop_block
    for f in "$etc/subuid" "$etc/subgid"; do
        [ -f "$f" ] && grep -q "^moat:$RANGE\$" "$f" && sed -i "/^moat:$RANGE\$/d" "$f" && echo "removed moat range from $f"
    done
    echo "moat uninstalled (restart containerd if it had the moat runtimes)"
    exit 0
fi

if [ -z "$bin" ]; then
    if [ -f "$here/../scripts/build.sh" ] && command -v cargo >/dev/null; then
        echo "building moat (scripts/build.sh) ..." >&2
        bin=$(bash "$here/../scripts/build.sh")
    else
        echo "install.sh: no moat binary: pass --binary PATH" >&2; exit 1
    fi
fi
ver=$("$bin" --version 2>/dev/null) || { echo "install.sh: $bin does not run" >&2; exit 1; }
case $ver in moat\ *) ;; *) echo "install.sh: $bin is not moat ($ver)" >&2; exit 1 ;; esac

install -d -m 0755 "$bindir"
install -m 0755 "$bin" "$bindir/.moat.new.$$"
mv -f "$bindir/.moat.new.$$" "$bindir/moat"
# A link, not a copy or a wrapper: moat takes the compat policy from argv[0].
ln -sfn moat "$bindir/moat-compat"
echo "installed $ver: $bindir/moat, $bindir/moat-compat -> moat"
"$bindir/moat-compat" --help >/dev/null

sub() { sed -e "s#/usr/local/bin/#$bindir/#g" -e "s#/run/containerd/moat#$rtroot#g" "$1"; }

if [ "$do_ctrd" = 1 ] && [ "$ctrd_major" -ge 2 ]; then
    install -d -m 0755 "$(dirname "$ctrd_drop")"
    sub "$here/containerd-moat.toml" >"$ctrd_drop"
    echo "wrote $ctrd_drop (runtimes moat, moat-compat; containerd $ctrd_major.x merges imports)"
    if [ -f "$ctrd_cfg" ] && grep -Eq '^imports *=.*conf\.d' "$ctrd_cfg"; then
        echo "  $ctrd_cfg imports conf.d: restart containerd to load it"
    else
        echo "  add at the top level of $ctrd_cfg: imports = [\"$etc/containerd/conf.d/*.toml\"]"
        echo "  then restart containerd; check: containerd config dump | grep -A3 runtimes.moat"
    fi
elif [ "$do_ctrd" = 1 ]; then
    install -d -m 0755 "$(dirname "$ctrd_cfg")"
    if [ ! -s "$ctrd_cfg" ]; then
        # the runtimes alone would leave the CRI plugin without its runc
        command -v containerd >/dev/null || { echo "install.sh: no $ctrd_cfg and no containerd to write its default" >&2; exit 1; }
        containerd config default >"$ctrd_cfg"
        echo "wrote containerd's default config to $ctrd_cfg"
    fi
    grep -Eq '^version *= *2' "$ctrd_cfg" || {
        echo "install.sh: $ctrd_cfg is not a version = 2 config; add the tables of $here/containerd-moat.toml by hand" >&2; exit 1; }
    drop_block
    if grep -Eq 'runtimes\.(moat|moat-compat)\]' "$ctrd_cfg"; then
        echo "install.sh: $ctrd_cfg already defines a moat runtime (outside install.sh's block); not touching it" >&2; exit 1
    fi
    { echo "# BEGIN moat (deploy/install.sh; --uninstall removes it)"; sub "$here/containerd-moat.toml"; echo "# END moat"; } >>"$ctrd_cfg"
    rm -f "$ctrd_drop"  # an earlier install's drop-in would replace the CRI section
    echo "added the runtimes moat, moat-compat to $ctrd_cfg (containerd $ctrd_major.x)"
    echo "  restart containerd; check: containerd config dump | grep -A3 runtimes.moat"
fi

if [ "$do_podman" = 1 ]; then
    install -d -m 0755 "$(dirname "$podman_drop")"
    sub "$here/containers-moat.conf" >"$podman_drop"
    echo "wrote $podman_drop (podman --runtime moat | moat-compat)"
fi

if [ "$do_range" = 1 ]; then
    for f in "$etc/subuid" "$etc/subgid"; do
        touch "$f"
        if grep -q '^moat:' "$f"; then
            echo "$f already has a moat range: $(grep '^moat:' "$f")"
        else
            echo "moat:$RANGE" >>"$f"; echo "reserved moat:$RANGE in $f"
        fi
    done
fi
