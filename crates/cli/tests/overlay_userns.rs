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

#[test]
fn oom_score_adj_and_exec_work_in_the_floor_user_namespace() {
    // CRI sets oomScoreAdj on every container: the init and exec'd
    // processes are non-dumpable in their user namespace and cannot open
    // their own /proc files, so moat sets it from the host side.
    if !supported() {
        return;
    }
    let ob = OverlayBundle::new(false, |c| {
        c["process"]["oomScoreAdj"] = json!(100);
        c["process"]["args"] = json!(["sleep", "60"]);
    });
    let rt = Runtime::moat_hardened();
    let id = unique_id("ovl-oom");
    let out = rt.run_detached(&ob.bundle, &id);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let host: u64 = map.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(host >= 65536, "no user namespace of its own: {map}");
    let init_adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    let out = rt.exec(&["exec", &id, "cat", "/proc/self/oom_score_adj"]);
    let _ = rt.delete_force(&id);
    assert_eq!(init_adj.trim(), "100");
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout_str().trim(), "100");
}

#[test]
fn pod_container_joins_its_sandboxs_user_namespace() {
    // CRI: a pod's containers join the sandbox's ipc/uts (by /proc/<pid>
    // paths) and a host-owned netns. The sandbox got a floor-made user
    // namespace; the container joins that one (as pods with their own user
    // namespace share one) instead of going without.
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        return;
    }
    let rt = Runtime::moat_hardened();
    let sandbox = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "60"]));
    let sid = unique_id("pod-sandbox");
    let out = rt.run_detached(&sandbox, &sid);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let spid = rt.state(&sid)["pid"].as_i64().unwrap();
    let netns = TempDir::new("netns");
    let nspath = netns.path().join("net");
    std::fs::write(&nspath, "").unwrap();
    // A host-owned network namespace, as containerd's CNI setup makes.
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("unshare --net={} true", nspath.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let app = Bundle::new(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
            let t = n["type"].as_str().unwrap().to_string();
            if t == "ipc" || t == "uts" {
                n["path"] = json!(format!("/proc/{spid}/ns/{t}"));
            }
            if t == "network" {
                n["path"] = json!(nspath);
            }
        }
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "for f in user ipc net; do readlink /proc/self/ns/$f; done"
        ]);
    });
    let aid = unique_id("pod-app");
    let out = rt.run(&app, &aid);
    let link = |p: String| std::fs::read_link(p).unwrap().display().to_string();
    let want = vec![
        link(format!("/proc/{spid}/ns/user")),
        link(format!("/proc/{spid}/ns/ipc")),
        format!("net:[{}]", std::fs::metadata(&nspath).unwrap().ino()),
    ];
    let _ = rt.delete_force(&sid);
    let _ = Command::new("umount").arg(&nspath).status();
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let got: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    assert_eq!(got, want, "{}", out.describe());
    let host_user = link("/proc/self/ns/user".to_string());
    assert_ne!(
        got[0], host_user,
        "the app must not run in the host's user namespace"
    );
}
