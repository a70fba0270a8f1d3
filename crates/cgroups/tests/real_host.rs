//! Layer 3: real cgroups on this host (root, v1 or hybrid). Skipped elsewhere. Every test
//! owns a `Guard` that kills its child, thaws, and removes the cgroup even on panic.

use std::path::PathBuf;
use std::process::{Child, Command};

use moat_cgroups::{open, Cgroup, FreezerState, Layout, LinuxResources, Root};

struct Guard {
    cg: Box<dyn Cgroup>,
    paths: Vec<PathBuf>,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.destroy();
        for p in self.paths.iter().rev() {
            let _ = std::fs::remove_dir(p);
        }
    }
}

fn host() -> Option<Root> {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let root = Root::detect().ok()?;
    (is_root && root.layout() != Layout::V2).then_some(root)
}

fn name(tag: &str) -> String {
    format!("moat-test-{}-{tag}", std::process::id())
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

#[test]
fn real_lifecycle() {
    let Some(root) = host() else {
        eprintln!("skipped: needs root on a v1/hybrid host");
        return;
    };
    let cgpath = format!("/{}/ctr", name("life"));
    let cg = open(&root, Some(&cgpath), "x").unwrap();
    let paths = cg.paths();
    let mut g = Guard {
        cg,
        paths: paths.clone(),
        child: None,
    };
    assert!(paths.iter().all(|p| p.starts_with("/sys/fs/cgroup")));
    g.cg.create().unwrap();
    for p in &paths {
        assert!(p.is_dir(), "{}", p.display());
    }
    let mem = PathBuf::from(format!("/sys/fs/cgroup/memory{cgpath}"));
    assert!(paths.contains(&mem));

    g.cg.apply(&res(r#"{"memory":{"limit":67108864,"swap":134217728},"cpu":{"shares":512,"cpus":"0"},
        "pids":{"limit":50},"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#))
        .unwrap();
    let rd = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_owned();
    assert_eq!(
        rd(&format!("{}/memory.limit_in_bytes", mem.display())),
        "67108864"
    );
    assert_eq!(rd(&format!("/sys/fs/cgroup/pids{cgpath}/pids.max")), "50");
    assert_eq!(rd(&format!("/sys/fs/cgroup/cpu{cgpath}/cpu.shares")), "512");
    assert_eq!(
        rd(&format!("/sys/fs/cgroup/devices{cgpath}/devices.list")),
        "c 1:3 rwm"
    );
    // Shrinking memsw below the limit in one go must work thanks to the write order.
    g.cg.apply(&res(r#"{"memory":{"limit":33554432,"swap":33554432}}"#))
        .unwrap();
    assert_eq!(
        rd(&format!("{}/memory.limit_in_bytes", mem.display())),
        "33554432"
    );
    // Kernel memory: accepted (or ignored) as runc does.
    g.cg.apply(&res(r#"{"memory":{"kernel":67108864}}"#))
        .unwrap();

    let child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = child.id() as i32;
    g.child = Some(child);
    g.cg.add_pid(pid).unwrap();
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!(":memory:{cgpath}\n")), "{own}");
    if root.layout() == Layout::Hybrid {
        assert!(
            own.contains(&format!("0::{cgpath}\n")),
            "unified joined: {own}"
        );
    }

    g.cg.freeze().unwrap();
    assert_eq!(g.cg.state().unwrap(), FreezerState::Frozen);
    g.cg.thaw().unwrap();
    assert_eq!(g.cg.state().unwrap(), FreezerState::Thawed);

    let s = g.cg.stats().unwrap();
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 50);
    assert_eq!(s.memory.usage.limit, 33554432);
    serde_json::to_string(&s).unwrap();

    // Destroy with a live task fails (EBUSY after retries), then works once it is reaped.
    let e = g.cg.destroy().unwrap_err();
    assert!(e.to_string().contains("device or resource busy"), "{e}");
    let mut c = g.child.take().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    g.cg.destroy().unwrap();
    for p in &paths {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn real_default_path_is_below_own_cgroup() {
    let Some(root) = host() else { return };
    let id = name("dflt");
    let cg = open(&root, None, &id).unwrap();
    let paths = cg.paths();
    let g = Guard {
        cg,
        paths: paths.clone(),
        child: None,
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mem_own = own
        .lines()
        .find_map(|l| {
            l.strip_prefix(|c: char| c.is_ascii_digit()).and_then(|l| {
                l.trim_start_matches(|c: char| c.is_ascii_digit())
                    .strip_prefix(":memory:")
            })
        })
        .unwrap();
    let want = PathBuf::from(format!(
        "/sys/fs/cgroup/memory{}/{id}",
        mem_own.trim_end_matches('/')
    ));
    assert!(paths.contains(&want), "{paths:?} lacks {}", want.display());
    g.cg.create().unwrap();
    assert!(want.is_dir());
    g.cg.destroy().unwrap();
    assert!(paths.iter().all(|p| !p.exists()));
}

#[test]
fn real_error_message_names_step_and_path() {
    let Some(root) = host() else { return };
    let cgpath = format!("/{}", name("err"));
    let cg = open(&root, Some(&cgpath), "x").unwrap();
    let g = Guard {
        paths: cg.paths(),
        cg,
        child: None,
    };
    g.cg.create().unwrap();
    let e =
        g.cg.apply(&res(r#"{"cpu":{"cpus":"999999"}}"#))
            .unwrap_err();
    let m = e.to_string();
    assert!(
        m.starts_with(&format!(
            "cgroups: write /sys/fs/cgroup/cpuset{cgpath}/cpuset.cpus: "
        )),
        "{m}"
    );
    assert!(!m.contains("os error"), "{m}");
}

/// The v2 manager against the real (nearly empty) cgroup2 mount of a hybrid host: freezer,
/// cgroup.procs and the CLONE_INTO_CGROUP dir fd are core cgroup2 features.
#[test]
fn real_v2_manager_on_the_unified_mount() {
    let Some(host_root) = host() else { return };
    if host_root.layout() != Layout::Hybrid {
        return;
    }
    let mi: String = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" - cgroup2 "))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut root = Root::from_mountinfo(&mi, std::path::Path::new("/")).unwrap();
    root.set_self_cgroup(&std::fs::read_to_string("/proc/self/cgroup").unwrap())
        .unwrap();
    assert_eq!(root.layout(), Layout::V2);
    let mount = root.mounts()[0].clone();
    // create() enables the available controllers at the mount root: undo that afterwards.
    struct Restore(PathBuf, String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let now =
                std::fs::read_to_string(self.0.join("cgroup.subtree_control")).unwrap_or_default();
            for c in now
                .split_whitespace()
                .filter(|c| !self.1.split_whitespace().any(|o| o == *c))
            {
                let _ = std::fs::write(self.0.join("cgroup.subtree_control"), format!("-{c}"));
            }
        }
    }
    let before = std::fs::read_to_string(mount.join("cgroup.subtree_control")).unwrap();
    let _restore = Restore(mount.clone(), before);

    let cgpath = format!("/{}", name("v2"));
    let cg = open(&root, Some(&cgpath), "x").unwrap();
    let mut g = Guard {
        paths: cg.paths(),
        cg,
        child: None,
    };
    assert_eq!(g.paths, vec![mount.join(&cgpath[1..])]);
    g.cg.create().unwrap();
    assert!(g.cg.v2_dir_fd().is_some());
    let child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = child.id() as i32;
    g.child = Some(child);
    g.cg.add_pid(pid).unwrap();
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("0::{cgpath}\n")), "{own}");
    g.cg.freeze().unwrap();
    assert_eq!(g.cg.state().unwrap(), FreezerState::Frozen);
    g.cg.thaw().unwrap();
    assert_eq!(g.cg.state().unwrap(), FreezerState::Thawed);
    g.cg.stats().unwrap();
    let mut c = g.child.take().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    g.cg.destroy().unwrap();
    assert!(!mount.join(&cgpath[1..]).exists());
}
