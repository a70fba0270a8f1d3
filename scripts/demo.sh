#!/usr/bin/env bash
# Build moat and run a real busybox container with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh busybox-static libseccomp-dev pkg-config gcc
export PATH="$HOME/.cargo/bin:$PATH"
moat=$(bash scripts/build.sh)
bundle=$(mktemp -d /tmp/moat-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/"
for a in sh echo id hostname cat ls ps mount; do ln -s busybox "$bundle/rootfs/bin/$a"; done
(cd "$bundle" && "$moat" spec)
# Not a terminal, and a command that shows where it runs.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo hello from $(hostname) as $(id -u); cat \/proc\/self\/status | grep -E \\"^(CapEff|NoNewPrivs|Seccomp):\\"; exit 7"/' "$bundle/config.json"
set +e
"$moat" run --bundle "$bundle" "moat-demo-$$"
rc=$?
set -e
echo "container exited with status $rc (expected 7)"
[ "$rc" -eq 7 ]
