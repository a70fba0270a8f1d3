#!/usr/bin/env bash
# Install what the stack tests drive (Debian bookworm packages), as root:
#   containerd (+ ctr), podman (+ conmon), docker.io (dockerd 20.10), runc,
#   jq, busybox-static (the image), libc6-dev + gcc (the static pause binary),
#   protobuf-compiler (moat-cri's build: k8s-cri generates the CRI API with protoc).
# Installing docker.io or containerd must not start a system daemon (the tests
# start private ones): when the host has no /usr/sbin/policy-rc.d, one that
# denies every service start is put in place for the install and removed after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkgs=(containerd podman docker.io runc jq busybox-static libc6-dev gcc protobuf-compiler)
policy=/usr/sbin/policy-rc.d
made=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; made=1
fi
trap '[ "$made" = 1 ] && rm -f "$policy"' EXIT
bash "$here/../../scripts/deps.sh" "${pkgs[@]}"
