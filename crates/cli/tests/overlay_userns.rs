//! An overlayfs rootfs — what containerd, docker and podman hand over —
//! under the hardened floor: the container still gets its own user
//! namespace, its root owns the image (the layers are id-mapped), what it
//! writes lands in the upper layer with the image's ids, and on the host it
//! is an unprivileged uid that no other container shares. runc on the same
//! bundle runs as host root (printed for comparison).

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

/// A bundle whose rootfs is an overlay: the busybox image is the lower
/// layer, `upper/fs` + `upper/work` the container's layer. Unmounted on drop.
struct OverlayBundle {
    bundle: Bundle,
    layers: TempDir,
}

impl OverlayBundle {
    /// `relative`: mount with layer paths relative to the mounter's cwd (as
    /// podman does for long layer lists), which moat cannot rebuild.
    fn new(relative: bool, modify: impl FnOnce(&mut Value)) -> OverlayBundle {
        let bundle = Bundle::new(modify);
        let layers = TempDir::new("layers");
        let lower = layers.path().join("lower");
        std::fs::rename(bundle.rootfs(), &lower).unwrap();
        std::fs::create_dir_all(bundle.rootfs()).unwrap();
        for d in ["upper/fs", "upper/work"] {
            std::fs::create_dir_all(layers.path().join(d)).unwrap();
        }
        let opts = if relative {
            "lowerdir=lower,upperdir=upper/fs,workdir=upper/work".to_string()
        } else {
            let p = layers.path().display();
            format!("lowerdir={p}/lower,upperdir={p}/upper/fs,workdir={p}/upper/work")
        };
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(bundle.rootfs())
            .current_dir(layers.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "mount overlay: {out:?}");
        OverlayBundle { bundle, layers }
    }

    fn upper(&self) -> PathBuf {
        self.layers.path().join("upper/fs")
    }

    /// Host mounts under the bundle besides its own overlay.
    fn extra_mounts(&self) -> Vec<String> {
        let own = format!(" {} ", self.bundle.rootfs().display());
        host_mounts_mentioning(self.bundle.path_str())
            .into_iter()
            .filter(|l| !l.contains(&own))
            .collect()
    }
}

impl Drop for OverlayBundle {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.bundle.rootfs())
            .status();
    }
}

fn supported() -> bool {
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        return false;
    }
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    if (v.next().unwrap_or(0), v.next().unwrap_or(0)) < (6, 15) {
        eprintln!("skipped: overlays from layer fds need Linux 6.15 ({rel})");
        return false;
    }
    true
}

const SCRIPT: &str = "head -1 /proc/self/uid_map | tr -s ' ' ; stat -c %u /etc/passwd; \
    echo new > /written && echo wrote; echo more >> /etc/passwd && echo appended; \
    mkdir /made && stat -c %u /made";

fn floor_note(rt: &Runtime, ob: &OverlayBundle, id: &str) -> String {
    let out = rt.create(&ob.bundle, id);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let st = rt.state(id);
    let note = st["annotations"]["io.moat.floor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(rt.delete_force(id).code(), Some(0));
    note
}

#[test]
fn overlay_rootfs_gets_a_private_user_namespace_and_owns_its_image() {
    if !supported() {
        return;
    }
    let ob = OverlayBundle::new(false, |c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["args"] = json!(["sh", "-c", SCRIPT]);
    });
    let rt = Runtime::moat_hardened();
    let id = unique_id("ovl-userns");
    let note = floor_note(&rt, &ob, &id);
    assert!(
        note.contains("rootfs: overlay rebuilt from id-mapped layers"),
        "{note}"
    );
    let out = rt.run(&ob.bundle, &id);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines.len(), 5, "{}", out.describe());
    let map: Vec<u64> = lines[0]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(map[0], 0, "{lines:?}");
    assert!(
        map[1] >= 65536,
        "container root must not be a low host uid: {lines:?}"
    );
    assert_eq!(map[2], 65536, "{lines:?}");
    // The image's root-owned files are the container root's, and it can
    // write and copy up.
    assert_eq!(
        &lines[1..],
        &["0", "wrote", "appended", "0"],
        "{}",
        out.describe()
    );
    // On disk the upper layer carries the image's ids, not host ones.
    for f in ["written", "etc/passwd", "made"] {
        let m = std::fs::metadata(ob.upper().join(f)).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0), "{f} in the upper layer");
    }
    assert!(ob.extra_mounts().is_empty(), "{:#?}", ob.extra_mounts());

    // runc, for the record: no user namespace, the container's root is
    // host root.
    let ob2 = OverlayBundle::new(false, |c| {
        c["process"]["args"] = json!(["sh", "-c", "head -1 /proc/self/uid_map | tr -s ' '"]);
    });
    let out = Runtime::runc().run(&ob2.bundle, &unique_id("ovl-runc"));
    eprintln!(
        "runc on an overlay rootfs: uid_map {}",
        out.stdout_str().trim()
    );
}

#[test]
fn two_containers_on_one_image_are_different_host_users() {
    if !supported() {
        return;
    }
    let rt = Runtime::moat_hardened();
    let a = OverlayBundle::new(false, |c| c["process"]["args"] = json!(["sleep", "60"]));
    let b = OverlayBundle::new(false, |c| c["process"]["args"] = json!(["sleep", "60"]));
    let mut uids = Vec::new();
    let ids = [unique_id("ovl-a"), unique_id("ovl-b")];
    for (ob, id) in [(&a, &ids[0]), (&b, &ids[1])] {
        let out = rt.run_detached(&ob.bundle, id);
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        let pid = rt.state(id)["pid"].as_i64().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        uids.push(uid);
    }
    for id in &ids {
        assert_eq!(rt.delete_force(id).code(), Some(0));
    }
    assert!(uids.iter().all(|&u| u >= 65536), "host uids {uids:?}");
    assert_ne!(uids[0], uids[1], "two tenants share a host uid");
}

#[test]
fn overlay_it_cannot_rebuild_runs_without_user_namespace_and_says_why() {
    if !supported() {
        return;
    }
    let ob = OverlayBundle::new(true, |c| {
        c["process"]["args"] = json!(["sh", "-c", "head -1 /proc/self/uid_map | tr -s ' '"]);
    });
    let rt = Runtime::moat_hardened();
    let id = unique_id("ovl-rel");
    let note = floor_note(&rt, &ob, &id);
    assert!(
        note.contains("user namespace: not added") && note.contains("relative"),
        "{note}"
    );
    let out = rt.run(&ob.bundle, &id);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout_str().trim(), "0 0 4294967295");
}

#[test]
fn a_layer_gone_from_its_path_is_a_clear_error_and_leaves_nothing() {
    if !supported() {
        return;
    }
    let ob = OverlayBundle::new(false, |_| {});
    // The overlay keeps working, but the path the mount table names is gone.
    let lower = ob.layers.path().join("lower");
    std::fs::rename(&lower, ob.layers.path().join("moved")).unwrap();
    let rt = Runtime::moat_hardened();
    let id = unique_id("ovl-gone");
    let out = rt.create(&ob.bundle, &id);
    assert_ne!(out.code(), Some(0), "{}", out.describe());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("rebuild overlay rootfs from id-mapped layers")
            && err.contains(&lower.display().to_string())
            && err.contains("no such file or directory"),
        "{err}"
    );
    // Nothing left: no state, slot, cgroup, process or mount but the
    // bundle's own overlay.
    assert!(ob.extra_mounts().is_empty(), "{:#?}", ob.extra_mounts());
    let probe = Bundle::new(|_| {});
    assert_nothing_left(&rt, &probe, &id);
    assert!(processes_using(ob.bundle.path(), &id).is_empty());
}
