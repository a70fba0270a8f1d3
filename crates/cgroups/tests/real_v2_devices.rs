//! Layer 3: v2 device rules as a real eBPF program (root, any host with a cgroup2 mount:
//! on this hybrid host the unified hierarchy at /sys/fs/cgroup/unified). The v2 manager
//! is driven over the real cgroup2 mount (a Root built from its mountinfo line only), a
//! child shell is moved into the cgroup and tries to open devices. A `Guard` kills the
//! child and removes the cgroup even on panic.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use moat_cgroups::{open, Cgroup, Layout, LinuxResources, Root};

struct Guard {
    cg: Box<dyn Cgroup>,
    leaf: PathBuf,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.destroy();
        let _ = std::fs::remove_dir(&self.leaf);
    }
}

/// The cgroup2 mount line of this host's mountinfo, if we are root.
fn unified_root() -> Option<(Root, PathBuf)> {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !is_root {
        return None;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let line = mi.lines().find(|l| l.contains(" - cgroup2 "))?;
    let mount = PathBuf::from(line.split(' ').nth(4)?);
    let root = Root::from_mountinfo(line, Path::new("/")).ok()?;
    assert_eq!(root.layout(), Layout::V2);
    Some((root, mount))
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// Starts `sh -c script` blocked on reading stdin, moves it into `g`'s cgroup, releases
/// it and returns (stdout, stderr).
fn run_in(g: &mut Guard, script: &str) -> (String, String) {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("read _go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut stdin = child.stdin.take().unwrap();
    g.child = Some(child);
    g.cg.add_pid(pid).unwrap();
    let procs = std::fs::read_to_string(g.leaf.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "{pid} not in {procs}"
    );
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let out = g.child.take().unwrap().wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PROBE: &str = "for d in null zero; do \
    if (exec 3</dev/$d) 2>/dev/null; then echo $d-ok; else echo $d-denied; fi; done; \
    exec 3</dev/zero";

#[test]
fn device_program_allows_null_denies_zero_and_is_replaced() {
    let Some((root, mount)) = unified_root() else {
        eprintln!("skipped: needs root and a cgroup2 mount");
        return;
    };
    let name = format!("moat-test-{}-devices", std::process::id());
    let cg = open(&root, Some(&format!("/{name}")), "x").unwrap();
    let leaf = mount.join(&name);
    let mut g = Guard {
        cg,
        leaf: leaf.clone(),
        child: None,
    };
    g.cg.create().unwrap();
    assert!(leaf.is_dir());

    // deny everything, allow /dev/null (c 1:3 rwm).
    g.cg.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#))
        .unwrap();
    let dir = std::fs::File::open(&leaf).unwrap();
    let ids = moat_sys::bpf::query_cgroup_device(dir.as_fd()).unwrap();
    assert_eq!(ids.len(), 1, "one device program attached: {ids:?}");
    let (out, err) = run_in(&mut g, PROBE);
    assert_eq!(out, "null-ok\nzero-denied\n", "stderr: {err}");
    assert!(
        err.contains("Operation not permitted"),
        "EPERM expected: {err}"
    );

    // Update: /dev/zero allowed too; the old program is detached (exactly one left).
    g.cg.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":5,"access":"r"}]}"#))
        .unwrap();
    let ids2 = moat_sys::bpf::query_cgroup_device(dir.as_fd()).unwrap();
    assert_eq!(ids2.len(), 1, "old program detached: {ids2:?}");
    assert_ne!(ids, ids2);
    let (out, err) = run_in(&mut g, PROBE);
    assert_eq!(out, "null-ok\nzero-ok\n", "stderr: {err}");
    // Read allowed, write (O_WRONLY) not: access is checked per bit.
    let (out, err) = run_in(
        &mut g,
        "if (exec 3>/dev/zero) 2>/dev/null; then echo w-ok; else echo w-denied; fi",
    );
    assert_eq!(out, "w-denied\n", "stderr: {err}");

    drop(dir);
    drop(g);
    assert!(!leaf.exists(), "{} left behind", leaf.display());
}

#[test]
fn bad_rules_fail_before_any_syscall() {
    let Some((root, mount)) = unified_root() else {
        eprintln!("skipped: needs root and a cgroup2 mount");
        return;
    };
    let name = format!("moat-test-{}-badrules", std::process::id());
    let cg = open(&root, Some(&format!("/{name}")), "x").unwrap();
    let g = Guard {
        cg,
        leaf: mount.join(&name),
        child: None,
    };
    g.cg.create().unwrap();
    let e =
        g.cg.apply(&res(
            r#"{"devices":[{"allow":true,"type":"p","access":"rwm"}]}"#,
        ))
        .unwrap_err();
    assert!(e.to_string().contains("fifo"), "{e}");
    let dir = std::fs::File::open(&g.leaf).unwrap();
    assert!(moat_sys::bpf::query_cgroup_device(dir.as_fd())
        .unwrap()
        .is_empty());
}

#[test]
fn verifier_log_in_load_error() {
    if unified_root().is_none() {
        eprintln!("skipped: needs root and a cgroup2 mount");
        return;
    }
    // `exit` with r0 never written: the verifier refuses and says why.
    let bad = [moat_sys::bpf::Insn::new(
        moat_cgroups::v2_devices::EXIT,
        0,
        0,
        0,
        0,
    )];
    let e = moat_sys::bpf::load_cgroup_device_prog(&bad, c"GPL").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
    assert!(
        e.to_string().contains("verifier log") && e.to_string().contains("R0"),
        "{e}"
    );
    // The generated programs pass, also for large rule lists.
    let many: Vec<_> = (0..moat_cgroups::v2_devices::MAX_RULES as u32)
        .map(|i| moat_cgroups::v2_devices::Rule {
            allow: i % 2 == 0,
            typ: Some(moat_cgroups::v2_devices::DEV_CHAR),
            major: Some(i),
            minor: Some(i + 1),
            access: 7,
        })
        .collect();
    let p = moat_cgroups::v2_devices::program(&many);
    moat_sys::bpf::load_cgroup_device_prog(&p, c"Apache").unwrap();
}
