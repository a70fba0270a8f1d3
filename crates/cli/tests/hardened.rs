//! The hardened floor, proved by trying the attacks (issue "secure by
//! default"). The bundle is `runc spec`'s config, unchanged but for the
//! command. Each check runs twice: under moat's default policy (must be
//! blocked) and under `compat` on the same bundle as the positive control
//! (must get through, or fail for a reason other than the floor), so no
//! check here can pass by accident.

mod common;

use common::*;
use serde_json::{json, Value};

/// Run the checker with `args` under `rt`; returns its report.
fn report(rt: &Runtime, args: &[&str]) -> Value {
    let bundle = Bundle::with_checker(|c| {
        let mut a = vec![json!("/checker")];
        a.extend(args.iter().map(|s| json!(s)));
        c["process"]["args"] = Value::Array(a);
    });
    let id = unique_id("hard");
    let out = rt.run(&bundle, &id);
    assert_eq!(
        out.code(),
        Some(0),
        "{} run failed: {}",
        rt.name,
        out.describe()
    );
    parse_report(rt, &out)
}

fn skip_if_runc() -> bool {
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        eprintln!("MOAT_E2E_BINARY set: the floor is moat's; skipping");
        return true;
    }
    false
}

#[test]
fn dangerous_syscalls_are_refused() {
    if skip_if_runc() {
        return;
    }
    let hard = report(&Runtime::moat_hardened(), &["--syscalls"]);
    let compat = report(&Runtime::moat(), &["--syscalls"]);
    for name in [
        "keyctl",
        "userfaultfd",
        "perf_event_open",
        "io_uring_setup",
        "unshare_user",
    ] {
        assert_eq!(
            hard["syscalls"][name], "EPERM",
            "hardened: {name}: {hard:#}"
        );
        // Positive control: the same call gets past the kernel's own checks
        // (succeeds, or fails on its NULL argument) when the floor is off.
        let c = &compat["syscalls"][name];
        assert!(
            c == "ok" || c == "EFAULT" || c == "EINVAL",
            "compat control for {name} should reach the kernel, got {c}"
        );
    }
    // bpf and init_module are refused by capabilities either way; the floor
    // must not make them reachable.
    for name in ["bpf", "init_module"] {
        assert_eq!(hard["syscalls"][name], "EPERM", "hardened: {name}");
    }
    assert_eq!(
        hard["seccomp"], 2,
        "hardened: seccomp filter mode: {hard:#}"
    );
    assert_eq!(hard["no_new_privs"], true);
}

#[test]
fn proc_sys_and_sys_are_read_only_and_kernel_files_masked() {
    if skip_if_runc() {
        return;
    }
    let probes = [
        "--probe",
        "/proc/sys/kernel/hostname",
        "--probe",
        "/sys/kernel/mm",
        "--probe",
        "/proc/kallsyms",
        "--mkdir",
        "/sys/fs/moat-test",
    ];
    let hard = report(&Runtime::moat_hardened(), &probes);
    let compat = report(&Runtime::moat(), &probes);
    // Read-only mount (EROFS), or — with the floor's user namespace — not
    // even the owner (EACCES): either way no write reaches the kernel knob.
    let w = &hard["probes"]["/proc/sys/kernel/hostname"]["write"];
    assert_eq!(w["ok"], false, "{hard:#}");
    assert!(w["error"] == "EROFS" || w["error"] == "EACCES", "{w}");
    // /sys is mounted read-only by the floor; runc's spec mounts it ro too,
    // so check the mount flags rather than rely on the spec.
    let sys = hard["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mount_point"] == "/sys")
        .cloned()
        .expect("a /sys mount");
    assert!(
        sys["options"]
            .as_str()
            .unwrap_or("")
            .split(',')
            .any(|o| o == "ro"),
        "{sys}"
    );
    // /proc/kallsyms: masked (reads empty) under the floor, readable in compat.
    if std::path::Path::new("/proc/kallsyms").exists() {
        let h = &hard["probes"]["/proc/kallsyms"];
        let c = &compat["probes"]["/proc/kallsyms"];
        assert_eq!(h["read"]["len"], 0, "hardened kallsyms: {h}");
        assert!(
            c["read"]["len"].as_u64().unwrap_or(0) > 0,
            "compat control kallsyms: {c}"
        );
    }
}

#[test]
fn mount_is_refused_and_pids_limited() {
    if skip_if_runc() {
        return;
    }
    let bundle = Bundle::new(|c| {
        c["process"]["args"] = json!(["sh", "-c",
            "mount -t tmpfs x /mnt 2>/dev/null && echo mounted; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"]);
    });
    let rt = Runtime::moat_hardened();
    let out = rt.run(&bundle, &unique_id("hard-mount"));
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let text = out.stdout_str();
    assert!(
        !text.contains("mounted"),
        "mount succeeded under the floor: {text}"
    );
    assert!(text.contains("4096"), "no default pids limit: {text}");
}

#[test]
fn floor_changes_are_reported_and_printable() {
    if skip_if_runc() {
        return;
    }
    let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sleep", "30"]));
    let rt = Runtime::moat_hardened();
    let id = unique_id("hard-state");
    let out = rt.create(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let st = rt.state(&id);
    let note = st["annotations"]["io.moat.floor"].as_str().unwrap_or("");
    assert!(note.contains("seccomp: moat default profile"), "{st:#}");
    rt.delete_force(&id);
    assert_nothing_left(&rt, &bundle, &id);
    let out = rt.exec(&["floor", "--bundle", bundle.path_str()]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let eff: Value = serde_json::from_str(&out.stdout_str()).expect("floor prints JSON");
    assert!(eff["linux"]["seccomp"]["syscalls"].is_array());
    assert_eq!(eff["process"]["noNewPrivileges"], true);
}

/// The host uid that container uid 0 maps to, from the init's uid_map.
fn host_root_of(pid: u64) -> u64 {
    let m = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("uid_map");
    let f: Vec<u64> = m.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!(f[0], 0, "uid_map starts at container root: {m}");
    f[1]
}

#[test]
fn each_container_gets_its_own_unprivileged_host_ids() {
    if skip_if_runc() {
        return;
    }
    let rt = Runtime::moat_hardened();
    let bundle = Bundle::new(|c| {
        c["process"]["args"] = json!(["sleep", "30"]);
        c["root"]["readonly"] = json!(false);
    });
    let (a, b) = (unique_id("tenant-a"), unique_id("tenant-b"));
    for id in [&a, &b] {
        let out = rt.run_detached(&bundle, id);
        assert_eq!(out.code(), Some(0), "{}", out.describe());
    }
    let pa = rt.state(&a)["pid"].as_u64().unwrap();
    let pb = rt.state(&b)["pid"].as_u64().unwrap();
    let (ha, hb) = (host_root_of(pa), host_root_of(pb));
    assert_ne!(ha, 0, "tenant A's root is host root");
    assert_ne!(hb, 0, "tenant B's root is host root");
    assert!(
        ha.abs_diff(hb) >= 65536,
        "A ({ha}) and B ({hb}) share host ids"
    );
    // The compat control on the same bundle runs as host root.
    let compat = Runtime::moat();
    let c = unique_id("compat-root");
    assert_eq!(compat.run_detached(&bundle, &c).code(), Some(0));
    let pc = compat.state(&c)["pid"].as_u64().unwrap();
    let st = std::fs::read_to_string(format!("/proc/{pc}/status")).unwrap();
    assert!(
        st.lines().any(|l| l.starts_with("Uid:\t0\t")),
        "compat control is host root"
    );
    compat.delete_force(&c);
    for id in [&a, &b] {
        rt.delete_force(id);
        assert_nothing_left(&rt, &bundle, id);
    }
    // The ranges are free again.
    let left: Vec<_> = std::fs::read_dir(rt.root_path().join(".userns"))
        .map(|rd| rd.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "userns slots leaked: {left:?}");
}

#[test]
fn idmapped_rootfs_lets_container_root_write_as_host_owner() {
    if skip_if_runc() {
        return;
    }
    let rt = Runtime::moat_hardened();
    let bundle = Bundle::new(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "touch /written-by-container && stat -c %u /bin/busybox"
        ]);
        c["root"]["readonly"] = json!(false);
    });
    let out = rt.run(&bundle, &unique_id("idmap"));
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    // Inside, the host-root-owned image looks root-owned...
    assert_eq!(out.stdout_str().trim(), "0", "{}", out.describe());
    // ...and what container root writes lands owned by host root, not by
    // the container's unprivileged host range.
    let meta = std::fs::metadata(bundle.rootfs().join("written-by-container")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.uid(), 0);
}

#[test]
fn private_bundle_dir_works_under_the_floor_user_namespace() {
    if skip_if_runc() {
        return;
    }
    // The container's root is an unprivileged host uid that could not walk
    // into a 0700 bundle: moat attaches the rootfs through fds instead.
    let bundle = Bundle::new(|c| {
        c["process"]["args"] = json!(["sh", "-c", "touch /ok && echo fine"]);
        c["root"]["readonly"] = json!(false);
    });
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bundle.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let rt = Runtime::moat_hardened();
    let id = unique_id("private-bundle");
    let out = rt.run(&bundle, &id);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(out.stdout_str().contains("fine"));
    assert_nothing_left(&rt, &bundle, &id);
}

/// Ask for `cap` in the bounding, effective and permitted sets.
fn add_cap(c: &mut Value, cap: &str) {
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!(cap));
    }
}

#[test]
fn no_host_devices_no_sys_writes_no_rlimit_raise() {
    if skip_if_runc() {
        return;
    }
    let bundle = Bundle::new(|c| {
        // Even a config that asks for CAP_SYS_RESOURCE does not keep it.
        add_cap(c, "CAP_SYS_RESOURCE");
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "/bin/busybox find /dev -type b | wc -l; \
             /bin/busybox mkdir /sys/kernel/x 2>/dev/null && echo sys-writable || echo sys-ro; \
             h=$(ulimit -H -n); ulimit -H -n $((h + 1)) 2>/dev/null && echo raised || echo kept"
        ]);
    });
    let rt = Runtime::moat_hardened();
    let out = rt.run(&bundle, &unique_id("hard-misc"));
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines, vec!["0", "sys-ro", "kept"], "{}", out.describe());
}

/// In its user namespace the container gets `/dev` as one tmpfs the parent
/// made with the device nodes in it (no bind per node): the nodes work and
/// belong to the container's root, and the tenant still cannot make a node
/// of its own there, even holding CAP_MKNOD in its namespace. The compat
/// control (no user namespace) on the same bundle can: the refusal is the
/// user namespace's, not a missing capability.
#[test]
fn user_namespaced_dev_has_working_nodes_and_takes_no_new_ones() {
    if skip_if_runc() {
        return;
    }
    let bundle = Bundle::new(|c| {
        add_cap(c, "CAP_MKNOD");
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "b=/bin/busybox; \
             $b grep -cE ' /dev/(null|zero|full|random|urandom|tty) ' /proc/self/mountinfo; \
             echo hi > /dev/null && $b head -c 8 /dev/urandom | $b wc -c; \
             echo x 2>/dev/null > /dev/full && echo full-wrote || echo full-refused; \
             $b stat -c '%u:%g %a' /dev/null /dev; \
             $b mknod /dev/sda b 8 0 2>/dev/null && echo mknod-ok || echo mknod-refused; \
             $b mknod /dev/mem2 c 1 1 2>/dev/null && echo mknod-ok || echo mknod-refused"
        ]);
    });
    let hard = Runtime::moat_hardened().run(&bundle, &unique_id("dev-tree"));
    assert_eq!(hard.code(), Some(0), "{}", hard.describe());
    let lines: Vec<String> = hard.stdout_str().lines().map(String::from).collect();
    assert_eq!(
        lines,
        vec![
            "0",
            "8",
            "full-refused",
            "0:0 666",
            "0:0 755",
            "mknod-refused",
            "mknod-refused"
        ],
        "{}",
        hard.describe()
    );
    let compat = Runtime::moat().run(&bundle, &unique_id("dev-compat"));
    assert_eq!(compat.code(), Some(0), "{}", compat.describe());
    let c = compat.stdout_str();
    assert!(
        c.lines().filter(|l| *l == "mknod-ok").count() == 2,
        "compat control could not mknod: {}",
        compat.describe()
    );
}

/// Kernel files only host root may open (0400 root: kmsg, kpage*,
/// timer_list) stay shut in the floor's user namespace, whether moat masks
/// them or leaves them unmounted because its root cannot open them: no
/// byte comes out. The compat control (host root, runc's masks) reads
/// /proc/kpagecount, so the probe can see an open file.
#[test]
fn host_root_only_kernel_files_give_nothing_away() {
    if skip_if_runc() {
        return;
    }
    let files = [
        "/proc/kmsg",
        "/proc/kpagecount",
        "/proc/kpageflags",
        "/proc/kpagecgroup",
        "/proc/timer_list",
    ];
    let script: String = files
        .iter()
        .map(|f| {
            format!(
                "if [ -e {f} ]; then n=$(/bin/busybox head -c 64 {f} 2>/dev/null | /bin/busybox wc -c); echo {f} $n; fi; "
            )
        })
        .collect();
    let bundle = Bundle::new(|c| c["process"]["args"] = json!(["sh", "-c", script]));
    let read = |rt: &Runtime, tag: &str| -> Vec<(String, u64)> {
        let out = rt.run(&bundle, &unique_id(tag));
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        out.stdout_str()
            .lines()
            .map(|l| {
                let (f, n) = l.split_once(' ').unwrap();
                (f.to_string(), n.trim().parse().unwrap())
            })
            .collect()
    };
    let hard = read(&Runtime::moat_hardened(), "kfiles-hard");
    assert!(!hard.is_empty());
    for (f, n) in &hard {
        assert_eq!(*n, 0, "hardened: {f} gave {n} bytes");
    }
    if std::path::Path::new("/proc/kpagecount").exists() {
        let compat = read(&Runtime::moat(), "kfiles-compat");
        assert!(
            compat
                .iter()
                .any(|(f, n)| f == "/proc/kpagecount" && *n > 0),
            "compat control read nothing: {compat:?}"
        );
    }
}
