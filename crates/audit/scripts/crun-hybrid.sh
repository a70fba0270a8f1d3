#!/bin/sh
# crun 1.8 refuses hybrid cgroup hosts. Run it in a private mount namespace without the
# cgroup2 mount at /sys/fs/cgroup/unified (v1 controllers only). The state lives in --root,
# so one call per namespace is fine: `moat audit run --runtime crun=crates/audit/scripts/crun-hybrid.sh`.
exec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' sh "$@"
