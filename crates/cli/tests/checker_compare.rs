//! The checker (crates/checker) runs inside a container configured with (nearly) every field
//! of the OCI config; its JSON report under moat must equal the one under runc field by field
//! (after normalize_report: bundle path, id, namespace inodes, cgroup paths), and both must
//! satisfy absolute expectations.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on the host (for rbind tests), unmounted on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "e2e-rbind"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", at.display());
        fs::write(at.join("in-submount"), "x").unwrap();
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn strs(v: &[&str]) -> Value {
    json!(v)
}

const PROBES: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/sys/firmware",
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/sys/kernel/hostname",
    "/proc/bus",
    "/mnt/ro",
    "/mnt/ro/file",
    "/mnt/rw",
    "/mnt/rw/locked",
    "/mnt/tmpfs",
    "/mnt/rbind/sub/in-submount",
    "/proc/cmdline",
    "/dev/custom0",
    "/dev/fuse",
    "/etc",
    "/home/user",
];

/// The "everything" config, on top of `runc spec`.
fn everything(c: &mut Value, bundle: &Path) {
    let b = bundle.to_str().unwrap();
    let mut args = vec!["/checker".to_string()];
    for s in ["net.ipv4.ip_forward", "kernel.shm_rmid_forced"] {
        args.extend(["--sysctl".to_string(), s.to_string()]);
    }
    for p in PROBES {
        args.extend(["--probe".to_string(), p.to_string()]);
    }
    args.extend(["--mkdir".to_string(), "/tmp/m".to_string()]);
    let p = &mut c["process"];
    p["args"] = json!(args);
    p["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 2000], "umask": 0o027});
    p["env"] = json!([
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "FOO=bar baz",
        "EMPTY=",
        "TERM=xterm"
    ]);
    p["cwd"] = json!("/home/user");
    p["capabilities"] = json!({
        "bounding": strs(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_AUDIT_WRITE"]),
        "effective": strs(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
        "permitted": strs(&["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]),
        "inheritable": strs(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
        "ambient": strs(&["CAP_NET_BIND_SERVICE"]),
    });
    p["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
        {"type": "RLIMIT_MEMLOCK", "soft": 65536, "hard": 131072},
        {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000},
    ]);
    p["noNewPrivileges"] = json!(true);
    p["oomScoreAdj"] = json!(123);

    c["hostname"] = json!("moat-e2e");
    c["domainname"] = json!("example.org");
    c["root"]["readonly"] = json!(true);
    c["annotations"] = json!({"org.moat.e2e": "everything"});

    for d in [
        "src-ro",
        "src-rw/locked",
        "src-rbind",
        "src-shared",
        "src-unbindable",
    ] {
        fs::create_dir_all(bundle.join(d)).unwrap();
    }
    fs::write(bundle.join("src-ro/file"), "ro").unwrap();
    // World-writable, so that uid 1000 gets EROFS (not EACCES) from the read-only mounts.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        bundle.join("src-ro/file"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    fs::set_permissions(
        bundle.join("src-rw/locked"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.extend([
        json!({"destination": "/mnt/ro", "type": "bind", "source": format!("{b}/src-ro"),
               "options": ["bind", "ro", "nosuid", "nodev"]}),
        json!({"destination": "/mnt/rw", "type": "bind", "source": format!("{b}/src-rw"),
               "options": ["rbind", "rw"]}),
        json!({"destination": "/mnt/tmpfs", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1750", "uid=1000", "gid=1000"]}),
        json!({"destination": "/mnt/rbind", "type": "bind", "source": format!("{b}/src-rbind"),
               "options": ["rbind", "ro"]}),
        json!({"destination": "/mnt/shared", "type": "bind", "source": format!("{b}/src-shared"),
               "options": ["rbind", "rshared"]}),
        json!({"destination": "/mnt/unbindable", "type": "bind",
               "source": format!("{b}/src-unbindable"), "options": ["bind", "runbindable"]}),
    ]);

    let l = &mut c["linux"];
    l["namespaces"] = json!([
        {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
        {"type": "mount"}, {"type": "cgroup"}
    ]);
    l["rootfsPropagation"] = json!("slave");
    l["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"});
    l["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0},
        {"path": "/dev/custom0", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 1000}
    ]);
    l["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
    ]);
    l["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/proc/cmdline"));
    l["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/mnt/rw/locked"));
    l["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]
    });
}

fn ns_of(report: &Value, ns: &str) -> String {
    report["namespaces"][ns].as_str().unwrap_or("?").to_string()
}

fn mount<'a>(report: &'a Value, mp: &str) -> &'a Value {
    let m = &report["mounts"][mp];
    assert!(
        m.is_object(),
        "no mount at {mp}; mounts: {:#}",
        report["mounts"]
    );
    m
}

fn opts(m: &Value) -> Vec<String> {
    m["options"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(String::from)
        .collect()
}

/// Absolute expectations on one (normalized) report of the everything config.
fn check_everything(name: &str, r: &Value) {
    let ctx = |what: &str| format!("{name}: {what}; report:\n{r:#}");
    assert_eq!(r["pid"], 1, "{}", ctx("pid"));
    assert_eq!(r["ppid"], 0, "{}", ctx("ppid"));
    for k in ["uid", "euid", "suid", "fsuid"] {
        assert_eq!(r[k], 1000, "{}", ctx(k));
    }
    for k in ["gid", "egid", "sgid", "fsgid"] {
        assert_eq!(r[k], 1000, "{}", ctx(k));
    }
    assert_eq!(r["groups"], json!([10, 2000]), "{}", ctx("groups"));
    assert_eq!(r["umask"], "0027", "{}", ctx("umask"));
    assert_eq!(r["cwd"], "/home/user", "{}", ctx("cwd"));
    assert_eq!(r["hostname"], "moat-e2e", "{}", ctx("hostname"));
    assert_eq!(r["oom_score_adj"], "123", "{}", ctx("oom_score_adj"));
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for e in ["FOO=bar baz", "EMPTY=", "TERM=xterm", "HOME=/home/user"] {
        assert!(env.contains(&e), "{}", ctx(&format!("env lacks {e}")));
    }
    // KILL=5, NET_BIND_SERVICE=10, NET_RAW=13, CHOWN=0, AUDIT_WRITE=29.
    // The process runs as uid 1000 without file capabilities, so execve() leaves it only
    // its ambient set in permitted and effective (kernel rule, not a runtime choice): the
    // configured effective/permitted sets are visible only in what survives exec.
    let bits = |b: &[u32]| format!("{:016x}", b.iter().fold(0u64, |a, n| a | 1 << n));
    assert_eq!(r["capbnd"], bits(&[0, 5, 10, 13, 29]), "{}", ctx("capbnd"));
    assert_eq!(r["capinh"], bits(&[5, 10]), "{}", ctx("capinh"));
    assert_eq!(r["capamb"], bits(&[10]), "{}", ctx("capamb"));
    assert_eq!(r["capprm"], bits(&[10]), "{}", ctx("capprm"));
    assert_eq!(r["capeff"], bits(&[10]), "{}", ctx("capeff"));
    assert_eq!(r["no_new_privs"], true, "{}", ctx("no_new_privs"));
    assert_eq!(r["seccomp"], 2, "{}", ctx("seccomp mode"));
    assert_eq!(
        r["mkdir"]["/tmp/m"]["error"],
        "EPERM",
        "{}",
        ctx("seccomp mkdir")
    );
    assert_eq!(
        r["sysctls"]["net.ipv4.ip_forward"],
        "1",
        "{}",
        ctx("sysctl")
    );
    assert_eq!(
        r["sysctls"]["kernel.shm_rmid_forced"],
        "1",
        "{}",
        ctx("sysctl")
    );
    assert_eq!(
        r["rlimits"]["Max open files"],
        json!([512, 1024]),
        "{}",
        ctx("nofile")
    );
    assert_eq!(
        r["rlimits"]["Max core file size"],
        json!([4096, 8192]),
        "{}",
        ctx("core")
    );
    assert_eq!(
        r["rlimits"]["Max locked memory"],
        json!([65536, 131072]),
        "{}",
        ctx("memlock")
    );
    assert_eq!(
        r["rlimits"]["Max processes"],
        json!([1000, 2000]),
        "{}",
        ctx("nproc")
    );
    for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        assert_eq!(ns_of(r, ns), "new", "{}", ctx(&format!("{ns} ns")));
    }
    assert_eq!(ns_of(r, "user"), "host", "{}", ctx("user ns"));

    // rootfs read-only; bind ro; tmpfs options; rbind brought the submount; propagation.
    assert!(
        opts(mount(r, "/")).contains(&"ro".into()),
        "{}",
        ctx("rootfs ro")
    );
    let ro = opts(mount(r, "/mnt/ro"));
    for o in ["ro", "nosuid", "nodev"] {
        assert!(
            ro.contains(&o.into()),
            "{}",
            ctx(&format!("/mnt/ro lacks {o}"))
        );
    }
    assert!(
        opts(mount(r, "/mnt/rw")).contains(&"rw".into()),
        "{}",
        ctx("/mnt/rw rw")
    );
    let t = mount(r, "/mnt/tmpfs");
    assert_eq!(t["fstype"], "tmpfs");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(
            opts(t).contains(&o.into()),
            "{}",
            ctx(&format!("/mnt/tmpfs lacks {o}"))
        );
    }
    let sup = t["super_options"].as_str().unwrap();
    for o in ["size=1024k", "mode=1750", "uid=1000", "gid=1000"] {
        assert!(
            sup.split(',').any(|x| x == o),
            "{}",
            ctx(&format!("/mnt/tmpfs lacks {o}"))
        );
    }
    assert_eq!(
        mount(r, "/mnt/rbind/sub")["fstype"],
        "tmpfs",
        "{}",
        ctx("rbind submount")
    );
    assert!(
        mount(r, "/mnt/shared")["propagation"]
            .as_array()
            .unwrap()
            .contains(&json!("shared")),
        "{}",
        ctx("/mnt/shared propagation")
    );
    assert!(
        mount(r, "/mnt/unbindable")["propagation"]
            .as_array()
            .unwrap()
            .contains(&json!("unbindable")),
        "{}",
        ctx("/mnt/unbindable propagation")
    );

    // masked and read-only paths
    let pr = &r["probes"];
    for masked in ["/proc/keys", "/proc/timer_list", "/proc/cmdline"] {
        assert_masked_file(name, r, masked);
    }
    assert_eq!(
        pr["/sys/firmware"]["read"]["entries"],
        0,
        "{}",
        ctx("/sys/firmware masked")
    );
    assert_eq!(
        pr["/mnt/ro/file"]["write"]["error"],
        "EROFS",
        "{}",
        ctx("/mnt/ro/file")
    );
    assert_eq!(
        pr["/mnt/rw/locked"]["write"]["error"],
        "EROFS",
        "{}",
        ctx("/mnt/rw/locked")
    );
    assert_eq!(
        pr["/mnt/rbind/sub/in-submount"]["exists"],
        true,
        "{}",
        ctx("rbind")
    );
    // devices
    let d = &r["dev"];
    assert_eq!(d["custom0"]["dev"], "1:3", "{}", ctx("/dev/custom0"));
    assert_eq!(d["custom0"]["mode"], "0600", "{}", ctx("/dev/custom0"));
    assert_eq!(d["custom0"]["uid"], 1000, "{}", ctx("/dev/custom0"));
    assert_eq!(d["fuse"]["dev"], "10:229", "{}", ctx("/dev/fuse"));
    assert_eq!(
        pr["/dev/custom0"]["write"]["ok"],
        true,
        "{}",
        ctx("/dev/custom0 writable")
    );
    for n in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
    ] {
        assert!(d[n].is_object(), "{}", ctx(&format!("/dev/{n} missing")));
    }
}

/// A masked file is /dev/null bind-mounted over it (when the file exists on this kernel:
/// /proc/kcore and /proc/sysrq-trigger, for one, are absent on some).
fn assert_masked_file(name: &str, r: &Value, path: &str) {
    if !Path::new(path).exists() {
        return;
    }
    let p = &r["probes"][path];
    assert_eq!(
        p["type"], "char",
        "{name}: {path} not masked by /dev/null: {p}"
    );
    assert_eq!(
        p["dev"], "1:3",
        "{name}: {path} not masked by /dev/null: {p}"
    );
    assert_eq!(p["read"]["len"], 0, "{name}: {path} readable: {p}");
}

/// Fields compared only by absolute checks, not runc-vs-moat.
/// * `domainname`: runc 1.1 ignores `domainname` in config.json (support arrived in runc
///   1.2 / runtime-spec 1.1), so under runc the container sees "(none)". moat implements
///   the field; see the absolute check below.
fn without_runc_gaps(r: &Value) -> Value {
    let mut r = r.clone();
    r.as_object_mut().unwrap().remove("domainname");
    r
}

#[test]
fn everything_config_matches_runc() {
    let _rbinds: Vec<HostMount>;
    let mounts = std::cell::RefCell::new(vec![]);
    let reports = run_checker_both(
        || {
            let b = Bundle::with_checker(|_| {});
            let p = b.path().to_path_buf();
            b.edit_config(|c| everything(c, &p));
            mounts
                .borrow_mut()
                .push(HostMount::tmpfs(&p.join("src-rbind/sub")));
            b
        },
        "every",
    );
    _rbinds = mounts.into_inner();
    let (runc, moat) = (&reports[0].0, &reports[1].0);
    check_everything("runc", runc);
    check_everything("moat", moat);
    assert_eq!(
        runc["domainname"], "(none)",
        "runc 1.1 started to honour domainname?"
    );
    if !Runtime::moat().is_really_runc() {
        assert_eq!(moat["domainname"], "example.org", "moat: domainname");
    }
    assert_json_eq(
        "runc",
        &without_runc_gaps(runc),
        "moat",
        &without_runc_gaps(moat),
    );
}

/// Plain `runc spec` defaults, as root: the masked and read-only paths, the default mounts and
/// /dev, the default capability sets, readonly rootfs.
#[test]
fn default_spec_matches_runc() {
    let probes = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/acpi",
        "/proc/scsi",
        "/sys/firmware",
        "/proc/asound",
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sys/kernel/hostname",
        "/proc/sysrq-trigger",
        "/sys/kernel",
        "/sys/fs/cgroup",
        "/etc",
    ];
    let reports = run_checker_both(
        || {
            Bundle::with_checker(|c| {
                let mut args = vec!["/checker".to_string()];
                for p in probes {
                    args.extend(["--probe".to_string(), p.to_string()]);
                }
                args.extend(["--mkdir".to_string(), "/tmp/m".to_string()]);
                c["process"]["args"] = json!(args);
            })
        },
        "defaults",
    );
    for (name, (r, _)) in ["runc", "moat"].iter().zip(&reports) {
        let ctx = |what: &str| format!("{name}: {what}; report:\n{r:#}");
        assert_eq!(r["pid"], 1, "{}", ctx("pid"));
        assert_eq!(r["uid"], 0, "{}", ctx("uid"));
        assert_eq!(r["hostname"], "runc", "{}", ctx("hostname from runc spec"));
        // runc spec: AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10) in every set but
        // inheritable; root keeps them across exec.
        let caps = format!("{:016x}", 1u64 << 5 | 1 << 10 | 1 << 29);
        for set in ["capbnd", "capeff", "capprm"] {
            assert_eq!(r[set], caps, "{}", ctx(set));
        }
        assert_eq!(r["capinh"], "0000000000000000", "{}", ctx("capinh"));
        assert_eq!(r["no_new_privs"], true, "{}", ctx("no_new_privs"));
        assert_eq!(r["seccomp"], 0, "{}", ctx("no seccomp"));
        assert_eq!(
            r["mkdir"]["/tmp/m"]["error"],
            "EROFS",
            "{}",
            ctx("readonly rootfs")
        );
        assert_eq!(
            r["rlimits"]["Max open files"],
            json!([1024, 1024]),
            "{}",
            ctx("nofile")
        );
        for masked in [
            "/proc/kcore",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/latency_stats",
            "/proc/sched_debug",
        ] {
            assert_masked_file(name, r, masked);
        }
        for dir in ["/sys/firmware", "/proc/acpi", "/proc/scsi", "/proc/asound"] {
            let p = &r["probes"][dir];
            if p["exists"] == true {
                assert_eq!(p["read"]["entries"], 0, "{}", ctx(&format!("{dir} masked")));
            }
        }
        assert_eq!(
            r["probes"]["/proc/sys/kernel/hostname"]["write"]["error"],
            "EROFS",
            "{}",
            ctx("/proc/sys read-only")
        );
        for ro in ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"] {
            if Path::new(ro).exists() {
                let m = mount(r, ro);
                assert!(
                    opts(m).contains(&"ro".into()),
                    "{}",
                    ctx(&format!("{ro} ro"))
                );
            }
        }
        // runc's foreground `run` (no terminal) gives the container pipes and copies them to
        // its own stdio, even when its stdio is /dev/null and regular files. moat passes
        // stdio that is not a terminal straight through (no relay, no extra copies).
        let expected = if is_runc(name) {
            json!(["pipe", "pipe", "pipe"])
        } else {
            json!(["/dev/null", "<output file>", "<output file>"])
        };
        assert_eq!(r["stdio"], expected, "{}", ctx("stdio"));
    }
    assert_json_eq("runc", &reports[0].0, "moat", &reports[1].0);
}

fn userns(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

/// User namespace with uid/gid maps: root inside is 100000 outside; the rootfs (owned by the
/// host's root, unmapped) shows as the overflow id 65534.
#[test]
fn user_namespace_matches_runc() {
    let reports = run_checker_both(
        || {
            Bundle::with_checker(|c| {
                userns(c);
                c["process"]["args"] = json!([
                    "/checker",
                    "--probe",
                    "/etc",
                    "--probe",
                    "/proc/sys/kernel/hostname"
                ]);
            })
        },
        "userns",
    );
    for (name, (r, _)) in ["runc", "moat"].iter().zip(&reports) {
        let ctx = |what: &str| format!("{name}: {what}; report:\n{r:#}");
        assert_eq!(r["namespaces"]["user"], "new", "{}", ctx("user ns"));
        assert_eq!(
            r["uid_map"],
            json!(["0 100000 65536"]),
            "{}",
            ctx("uid_map")
        );
        assert_eq!(
            r["gid_map"],
            json!(["0 100000 65536"]),
            "{}",
            ctx("gid_map")
        );
        assert_eq!(r["uid"], 0, "{}", ctx("uid"));
        assert_eq!(
            r["probes"]["/etc"]["uid"],
            65534,
            "{}",
            ctx("unmapped owner")
        );
        assert_eq!(r["pid"], 1, "{}", ctx("pid"));
    }
    assert_json_eq("runc", &reports[0].0, "moat", &reports[1].0);
}

/// Seccomp profile denying mkdir/mkdirat with EPERM: busybox mkdir fails inside (on a
/// writable tmpfs, so the failure can only come from the filter), other syscalls work.
#[test]
fn seccomp_denies_mkdir() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| {
            c["process"]["args"] = json!([
                "sh",
                "-c",
                "touch /tmp/file && echo touch-ok; mkdir /tmp/dir; echo mkdir=$?"
            ]);
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
                ]
            });
        });
        let id = unique_id("seccomp");
        let out = rt.run(&bundle, &id);
        assert_eq!(out.code(), Some(0), "{}:\n{}", rt.name, out.describe());
        let so = out.stdout_str();
        assert!(
            so.contains("touch-ok"),
            "{}: touch failed:\n{}",
            rt.name,
            out.describe()
        );
        assert!(
            so.contains("mkdir=1"),
            "{}: mkdir not denied:\n{}",
            rt.name,
            out.describe()
        );
        assert!(
            out.stderr_str().contains("Operation not permitted"),
            "{}: mkdir error is not EPERM:\n{}",
            rt.name,
            out.describe()
        );
    }
}

/// Time namespace with offsets. runc 1.1 does not know the "time" namespace: it fails with
/// exit 1 and `namespace {"time" ""} does not exist`. So this is an absolute, moat-only check
/// (skipped when MOAT_E2E_BINARY points at runc).
#[test]
fn time_namespace_moat_only() {
    let runc = Runtime::runc();
    let time_ns = |c: &mut Value| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 10 * 86400, "nanos": 0},
            "boottime": {"secs": 10 * 86400, "nanos": 0}
        });
    };
    let b = Bundle::new(time_ns);
    let out = runc.run(&b, &unique_id("timens"));
    assert_eq!(
        out.code(),
        Some(1),
        "runc 1.1 accepted a time namespace?\n{}",
        out.describe()
    );

    let moat = Runtime::moat();
    if moat.is_really_runc() {
        eprintln!("skipping moat-only time namespace check: MOAT_E2E_BINARY is runc");
        return;
    }
    let b = Bundle::with_checker(|c| {
        time_ns(c);
        c["process"]["args"] = json!(["/checker"]);
    });
    let id = unique_id("timens");
    let out = moat.run(&b, &id);
    assert_eq!(out.code(), Some(0), "moat:\n{}", out.describe());
    let r = normalize_report(&parse_report(&moat, &out), &b, &id);
    assert_eq!(r["namespaces"]["time"], "new", "moat: time ns: {r:#}");

    // /proc/uptime follows the boottime offset: at least 10 days more than the host's.
    let b = Bundle::new(|c| {
        time_ns(c);
        c["process"]["args"] = json!(["cat", "/proc/uptime"]);
    });
    let out = moat.run(&b, &unique_id("timens"));
    assert_eq!(out.code(), Some(0), "moat:\n{}", out.describe());
    let inside: f64 = out
        .stdout_str()
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("moat: bad /proc/uptime:\n{}", out.describe()));
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside >= host + 9.0 * 86400.0,
        "moat: uptime inside {inside} vs host {host}: boottime offset not applied"
    );
}

/// Whether `MOAT_E2E_BINARY` points the "moat" side at runc (harness check).
fn testing_runc_as_moat() -> bool {
    std::env::var("MOAT_E2E_BINARY").is_ok_and(|b| b.contains("runc"))
}

/// Whether the runtime named `name` in this test is really runc.
fn is_runc(name: &str) -> bool {
    name == "runc" || testing_runc_as_moat()
}

/// linux.personality LINUX32: uname reports a 32-bit machine.
#[test]
fn personality_linux32_matches_runc() {
    let mut seen = Vec::new();
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| {
            c["linux"]["personality"] = json!({"domain": "LINUX32"});
            c["process"]["args"] = json!(["/bin/busybox", "uname", "-m"]);
        });
        let id = unique_id("pers");
        let out = rt.run(&bundle, &id);
        assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
        seen.push(out.stdout_str().trim().to_string());
    }
    // runc 1.1 ignores linux.personality (runc 1.2 applies it): the
    // control shows the host's machine, moat the 32-bit personality.
    assert_eq!(seen[0], std::env::consts::ARCH, "runc control");
    if std::env::var_os("MOAT_E2E_BINARY").is_none() {
        assert_eq!(seen[1], "i686", "LINUX32 not applied");
    }
}

/// SIGPIPE reaches the container at its default action, as under runc:
/// moat's own start-up (Rust ignores SIGPIPE) does not leak through execve.
/// (Other ignored signals are the caller's, passed through by both; runc's
/// Go runtime also resets a few it installs handlers for, so the whole mask
/// is not compared.)
#[test]
fn sigpipe_is_not_ignored_in_the_container() {
    for rt in Runtime::both() {
        let bundle = Bundle::new(|c| {
            c["process"]["args"] = json!(["sh", "-c", "grep -E '^SigIgn' /proc/self/status"]);
        });
        let out = rt.run(&bundle, &unique_id("sigign"));
        assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
        let hex = out
            .stdout_str()
            .trim()
            .trim_start_matches("SigIgn:")
            .trim()
            .to_string();
        let mask = u64::from_str_radix(&hex, 16).unwrap();
        assert_eq!(mask & (1 << 12), 0, "{}: SIGPIPE ignored ({hex})", rt.name);
    }
}
