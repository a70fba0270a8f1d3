//! Fake cgroupfs trees in a temp dir (layer-2 tests).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use moat_cgroups::Root;

/// A temp dir removed on drop.
pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "moat-cg-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub const V1_CTRLS: &[&str] = &[
    "cpu,cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls,net_prio",
    "rdma",
];

pub fn v1_mountinfo(ctrls: &[&str], unified: bool) -> String {
    let mut s = String::from("25 1 8:1 / / rw - ext4 /dev/sda1 rw\n31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n");
    for (i, c) in ctrls.iter().enumerate() {
        s.push_str(&format!(
            "{} 31 0:{} / /sys/fs/cgroup/{c} rw,relatime - cgroup cgroup rw,{c}\n",
            40 + i,
            40 + i
        ));
    }
    s.push_str("60 31 0:60 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n");
    if unified {
        s.push_str("61 31 0:61 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    }
    s
}

pub const V2_MOUNTINFO: &str = "25 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

/// Builds a fake tree: the mount dirs exist, with a root cgroup.procs.
pub fn tree(tmp: &Tmp, mountinfo: &str) -> Root {
    let root = Root::from_mountinfo(mountinfo, &tmp.0).unwrap();
    for m in root.mounts() {
        fs::create_dir_all(&m).unwrap();
        fs::write(m.join("cgroup.procs"), "").unwrap();
    }
    root
}

pub fn touch(dir: &Path, files: &[&str]) {
    for f in files {
        fs::write(dir.join(f), "").unwrap();
    }
}

pub fn put(dir: &Path, file: &str, val: &str) {
    fs::write(dir.join(file), val).unwrap();
}

pub fn get(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// What the kernel does on rmdir: control files vanish with the dir. Removes the regular
/// files under `dir` so the (real) rmdir in destroy can succeed on a fake tree.
pub fn strip_files(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                strip_files(&p);
            } else {
                fs::remove_file(&p).unwrap();
            }
        }
    }
}
