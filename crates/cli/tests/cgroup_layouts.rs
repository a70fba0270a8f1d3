//! End to end on the two cgroup layouts this (hybrid) host does not have, each made in a
//! private mount namespace around one `run` (root only; skipped elsewhere):
//!
//! * **pure v2**: `umount -R /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup` — the
//!   unified hierarchy is the only one, so moat's `Root::detect()` sees V2 (device rules
//!   become an eBPF program, the init is cloned with `CLONE_INTO_CGROUP`). On this host the
//!   v1 hierarchies keep every controller, so cgroup2 has none of them (no `pids.max`).
//! * **pure v1**: `umount /sys/fs/cgroup/unified` (crun's trick).
//!
//! Each case runs against runc too, to prove the expectation. The container prints
//! /proc/self/cgroup and probes devices and the pids limit; afterwards its cgroup dirs must
//! be gone.
//!
//! Device probes: the config denies `c 1:5` (/dev/zero), but runc appends its always-allowed
//! devices (which include `c 1:5 rwm`) *after* the config's rules and the last match wins,
//! so /dev/zero stays readable under both runtimes. The denied device is therefore one the
//! config adds itself: `/dev/ghost` (`c 1:200`, no driver) denied, `/dev/ghostr`
//! (`c 1:201`) allowed `r` only. With no driver behind it, an open the cgroup lets through
//! fails with ENXIO ("No such device or address"), one it stops fails with EPERM: the
//! errno says which layer answered.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    V2,
    V1,
}

/// The shell that turns this host's layout into `want` inside the namespace, or None
/// (skip) when we are not root or the host cannot be reshaped that way.
fn setup(want: Want) -> Option<&'static str> {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !is_root {
        return None;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let fs_at = |mp: &str| {
        mi.lines()
            .filter(|l| l.split(' ').nth(4) == Some(mp))
            .filter_map(|l| l.split(" - ").nth(1)?.split(' ').next())
            .next_back()
            .map(str::to_owned)
    };
    let v1 = mi.lines().any(|l| l.contains(" - cgroup "));
    let top = fs_at("/sys/fs/cgroup");
    let unified = fs_at("/sys/fs/cgroup/unified").as_deref() == Some("cgroup2");
    match want {
        Want::V2 if top.as_deref() == Some("cgroup2") => Some("true"),
        Want::V2 if unified => {
            Some("umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup")
        }
        Want::V1 if v1 && unified => Some("umount /sys/fs/cgroup/unified"),
        Want::V1 if v1 && !mi.contains(" - cgroup2 ") => Some("true"),
        _ => None,
    }
}

/// `unshare -m sh -c '<setup> && exec "$@"' sh <runtime> [global] --root R <args>`.
fn in_layout(rt: &Runtime, setup: &str, args: &[&str]) -> std::process::Output {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"]);
    c.arg(format!("{setup} && exec \"$@\""));
    c.arg("sh").arg(&rt.binary).args(&rt.global);
    c.arg("--root").arg(rt.root_path()).args(args);
    c.stdin(std::process::Stdio::null());
    run_command(c, cmd_timeout())
}

/// What the container runs: its cgroups, then one line per probe.
const PROBE: &str = r#"cat /proc/self/cgroup
for f in null zero; do if head -c1 /dev/$f >/dev/null; then echo $f-ok; else echo $f-denied; fi; done
(exec 3</dev/ghostr) 2>&1 | grep -q "No such device" && echo ghostr-read-passes
(exec 3>/dev/ghostr) 2>&1 | grep -q "not permitted" && echo ghostr-write-denied
(exec 3</dev/ghost) 2>&1 | grep -q "not permitted" && echo ghost-denied
if sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait' 2>/dev/null; then echo pids-unlimited; else echo pids-limited; fi
"#;

fn bundle(cgpath: &str, pids: Option<i64>) -> Bundle {
    let b = Bundle::new(|c: &mut Value| {
        c["process"]["args"] = json!(["sh", "-c", PROBE]);
        c["linux"]["cgroupsPath"] = json!(cgpath);
        let r = &mut c["linux"]["resources"];
        r["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 201, "access": "r"},
            {"allow": false, "type": "c", "major": 1, "minor": 200, "access": "rwm"}
        ]);
        if let Some(l) = pids {
            r["pids"] = json!({ "limit": l });
        }
        c["linux"]["devices"] = json!([
            {"path": "/dev/ghost", "type": "c", "major": 1, "minor": 200, "fileMode": 438},
            {"path": "/dev/ghostr", "type": "c", "major": 1, "minor": 201, "fileMode": 438}
        ]);
    });
    for a in ["head", "sh"] {
        let _ = std::os::unix::fs::symlink("busybox", b.rootfs().join("bin").join(a));
    }
    b
}

/// True when the unified hierarchy of this host can take a pids limit.
fn v2_has_pids() -> bool {
    [
        "/sys/fs/cgroup/cgroup.controllers",
        "/sys/fs/cgroup/unified/cgroup.controllers",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .any(|c| c.split_whitespace().any(|x| x == "pids"))
}

fn assert_gone(rt: &Runtime, leaf: &str) {
    let left = cgroup_dirs_named(leaf);
    assert!(left.is_empty(), "{}: cgroup dirs left: {left:?}", rt.name);
}

fn assert_device_probes(rt: &Runtime, out: &str) {
    for want in [
        "null-ok",
        "zero-ok", // deny c 1:5 is overridden by the always-allowed defaults (as runc)
        "ghostr-read-passes",
        "ghostr-write-denied",
        "ghost-denied",
    ] {
        assert!(
            out.lines().any(|l| l == want),
            "{}: no {want:?} in\n{out}",
            rt.name
        );
    }
}

#[test]
fn pure_v2_devices_and_cgroup() {
    let Some(setup) = setup(Want::V2) else {
        eprintln!("skipped: needs root on a hybrid or v2 host");
        return;
    };
    for rt in Runtime::both() {
        let id = unique_id("cglv2");
        let leaf = format!("moat-e2e-layout-{id}");
        let pids = v2_has_pids().then_some(5);
        let b = bundle(&format!("/{leaf}"), pids);
        let out = in_layout(&rt, setup, &["run", "--bundle", b.path_str(), &id]);
        assert_eq!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
        let s = out.stdout_str();
        assert!(
            s.lines().any(|l| l == format!("0::/{leaf}")),
            "{}: not in 0::/{leaf}:\n{s}",
            rt.name
        );
        // Pure v2: no v1 hierarchy was joined (they are still the host's "/").
        assert!(
            s.lines().any(|l| l.ends_with(":pids:/")),
            "{}: v1 joined?\n{s}",
            rt.name
        );
        assert_device_probes(&rt, &s);
        if pids.is_some() {
            assert!(s.lines().any(|l| l == "pids-limited"), "{}:\n{s}", rt.name);
        }
        assert_gone(&rt, &leaf);
    }
}

/// The pids limit on pure v2. On this host the pids controller belongs to the v1
/// hierarchy, so cgroup2 has no `pids.max`: both runtimes must then fail the create
/// cleanly (naming the file) and leave no cgroup behind; where v2 has pids, it must bite.
#[test]
fn pure_v2_pids_limit() {
    let Some(setup) = setup(Want::V2) else {
        eprintln!("skipped: needs root on a hybrid or v2 host");
        return;
    };
    for rt in Runtime::both() {
        let id = unique_id("cglv2pids");
        let leaf = format!("moat-e2e-layout-{id}");
        let b = bundle(&format!("/{leaf}"), Some(5));
        let out = in_layout(&rt, setup, &["run", "--bundle", b.path_str(), &id]);
        if v2_has_pids() {
            assert_eq!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
            assert!(
                out.stdout_str().lines().any(|l| l == "pids-limited"),
                "{}:\n{}",
                rt.name,
                out.describe()
            );
        } else {
            assert_ne!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
            assert!(
                out.stderr_str().contains("pids.max"),
                "{}: error should name pids.max:\n{}",
                rt.name,
                out.describe()
            );
        }
        assert_gone(&rt, &leaf);
        let _ = in_layout(&rt, setup, &["delete", "--force", &id]);
    }
}

#[test]
fn pure_v1_devices_pids_and_cgroup() {
    let Some(setup) = setup(Want::V1) else {
        eprintln!("skipped: needs root on a hybrid or v1 host");
        return;
    };
    for rt in Runtime::both() {
        let id = unique_id("cglv1");
        let leaf = format!("moat-e2e-layout-{id}");
        let b = bundle(&format!("/{leaf}"), Some(5));
        let out = in_layout(&rt, setup, &["run", "--bundle", b.path_str(), &id]);
        assert_eq!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
        let s = out.stdout_str();
        for ctrl in ["pids", "memory", "devices", "freezer"] {
            assert!(
                s.lines().any(|l| l.ends_with(&format!(":{ctrl}:/{leaf}"))),
                "{}: not in {ctrl}:/{leaf}:\n{s}",
                rt.name
            );
        }
        // The unified hierarchy is not mounted: not joined.
        assert!(
            !s.lines().any(|l| l == format!("0::/{leaf}")),
            "{}: joined cgroup2?\n{s}",
            rt.name
        );
        assert_device_probes(&rt, &s);
        assert!(s.lines().any(|l| l == "pids-limited"), "{}:\n{s}", rt.name);
        assert_gone(&rt, &leaf);
        assert!(
            !Path::new(&format!("/sys/fs/cgroup/pids/{leaf}")).exists(),
            "{}",
            rt.name
        );
    }
}

/// Pure v2 made by mounting cgroup2 *over* /sys/fs/cgroup, leaving the v1 mounts below it
/// in mountinfo but unreachable. runc decides the layout by statfs(/sys/fs/cgroup); moat
/// skips mountinfo entries with a later mount at or above them (it used to take the shadowed
/// v1 mounts as live and fail with `mkdir /sys/fs/cgroup/cpu/<path>: No such file`).
#[test]
fn pure_v2_over_mounted() {
    let Some(_) = setup(Want::V2) else {
        eprintln!("skipped: needs root on a hybrid or v2 host");
        return;
    };
    let setup = "mount -t cgroup2 none /sys/fs/cgroup";
    for rt in Runtime::both() {
        let id = unique_id("cglover");
        let leaf = format!("moat-e2e-layout-{id}");
        let b = bundle(&format!("/{leaf}"), None);
        let out = in_layout(&rt, setup, &["run", "--bundle", b.path_str(), &id]);
        assert_eq!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
        let s = out.stdout_str();
        assert!(
            s.lines().any(|l| l == format!("0::/{leaf}")),
            "{}: not in 0::/{leaf}:\n{s}",
            rt.name
        );
        assert_device_probes(&rt, &s);
        assert_gone(&rt, &leaf);
    }
}
