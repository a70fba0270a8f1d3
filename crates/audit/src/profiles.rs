//! The configs under audit and the controls used by the tests.
//!
//! A [`Scenario`] is what one audit runs: the config of tenant A (probed) and of tenant B (the
//! victim), plus the runtime flags that matter for isolation (`--no-new-keyring`,
//! `--preserve-fds`). All builders are pure.

use serde_json::{json, Value};

/// `runc spec` (runc 1.1.5) with terminal off: the config every runtime is audited with by
/// default, so that runtimes are compared on the same input.
pub fn default_config() -> Value {
    let mut v: Value =
        serde_json::from_str(DEFAULT_SPEC).expect("embedded default spec is valid JSON");
    v["process"]["terminal"] = json!(false);
    v
}

const DEFAULT_SPEC: &str = r#"{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "runc",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
      "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}"#;

/// Every capability of kernel 6.x.
pub const ALL_CAPS: &[&str] = &moat_spec::features::CAPABILITIES;

/// The names of the capabilities whose bits are set in `mask` (bit n = ALL_CAPS[n]).
pub fn caps_in(mask: u64) -> Vec<&'static str> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// Docker's default capability set.
pub const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Syscalls Docker's default seccomp profile refuses (to a process without extra
/// capabilities), among those the audit probes and their siblings. Docker's profile is an
/// allow-list; this deny-list is equivalent for everything the audit looks at.
pub const DOCKER_DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// The strict control's deny-list: Docker's plus ptrace.
fn strict_denied() -> Vec<&'static str> {
    let mut v: Vec<&str> = DOCKER_DENIED.to_vec();
    v.push("ptrace");
    v.sort();
    v
}

fn seccomp_deny(names: &[&str]) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}

fn caps_all_sets(list: &[&str], ambient: bool) -> Value {
    let mut c =
        json!({"bounding": list, "effective": list, "permitted": list, "inheritable": list});
    if ambient {
        c["ambient"] = json!(list);
    }
    c
}

/// Docker's defaults as an OCI config (what `docker run` without flags gives on a
/// rootful daemon: default caps, Docker's masked/read-only paths and seccomp denials, no
/// no_new_privs, no user namespace, no resource limits, a private cgroup namespace).
pub fn docker_like() -> Value {
    let mut v = default_config();
    v["process"]["capabilities"] = json!({
        "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
    });
    v["process"]["noNewPrivileges"] = json!(false);
    v["root"]["readonly"] = json!(false);
    v["hostname"] = json!("3f2b8c9d1e0a");
    v["linux"]["seccomp"] = seccomp_deny(DOCKER_DENIED);
    v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
        {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}]);
    v["linux"]["maskedPaths"] = json!([
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap"
    ]);
    v["linux"]["readonlyPaths"] = json!([
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger"
    ]);
    v
}

/// What one audit runs.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub config_a: Value,
    pub config_b: Value,
    /// Pass `--no-new-keyring` to `run` (both tenants).
    pub no_new_keyring: bool,
    /// Hand tenant A an extra open directory fd (`--preserve-fds 1`): a simulated fd leak.
    pub leak_fd: Option<std::path::PathBuf>,
}

impl Scenario {
    /// Both tenants with the same config (how an orchestrator without per-pod user namespaces
    /// runs them).
    pub fn same(name: &str, config: Value) -> Scenario {
        Scenario {
            name: name.to_string(),
            config_a: config.clone(),
            config_b: config,
            no_new_keyring: false,
            leak_fd: None,
        }
    }

    pub fn default_() -> Scenario {
        Scenario::same("default", default_config())
    }

    pub fn docker_like() -> Scenario {
        Scenario::same("docker-like", docker_like())
    }

    /// `--config default|docker-like|FILE` (a FILE is a config.json; its root.path and
    /// process.args are replaced by the audit's).
    pub fn from_arg(arg: &str) -> Result<Scenario, String> {
        match arg {
            "default" => Ok(Scenario::default_()),
            "docker-like" | "docker" => Ok(Scenario::docker_like()),
            path => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))?;
                let v: Value =
                    serde_json::from_str(&text).map_err(|e| format!("parse {path}: {e}"))?;
                Ok(Scenario::same(path, v))
            }
        }
    }

    /// Positive control: everything a check looks for is left open (all capabilities in every
    /// set, no seccomp, no no_new_privs, host PID/network/IPC/UTS/cgroup/user namespaces, no
    /// masked or read-only paths, sysfs and the host's cgroupfs read-write, the host disk
    /// passed as a device with the device cgroup open, no limits, a leaked directory fd and a
    /// shared session keyring). `host_disk` is (path, major, minor) of a host block device.
    /// `cap_mask` is the auditor's own bounding set (a runtime cannot grant more).
    pub fn weak(
        host_disk: Option<(&str, u32, u32)>,
        leak_dir: &std::path::Path,
        cap_mask: u64,
    ) -> Scenario {
        let mut v = default_config();
        v["process"]["capabilities"] = caps_all_sets(&caps_in(cap_mask), true);
        v["process"]["noNewPrivileges"] = json!(false);
        v["linux"]["namespaces"] = json!([{"type": "mount"}]);
        v["linux"]["maskedPaths"] = json!([]);
        v["linux"]["readonlyPaths"] = json!([]);
        v["linux"]["resources"] = json!({"devices": [{"allow": true, "access": "rwm"}]});
        v.as_object_mut().unwrap().remove("hostname");
        let mounts = v["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup");
        mounts.push(
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "rw"]}),
        );
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "bind",
            "source": "/sys/fs/cgroup", "options": ["rbind", "rw"]}));
        if let Some((path, major, minor)) = host_disk {
            v["linux"]["devices"] = json!([{"path": path, "type": "b", "major": major,
                "minor": minor, "fileMode": 0o600, "uid": 0, "gid": 0}]);
        }
        Scenario {
            name: "weak (positive control)".into(),
            config_a: v.clone(),
            config_b: v,
            no_new_keyring: true,
            leak_fd: Some(leak_dir.to_path_buf()),
        }
    }

    /// Negative control: every check closed with plain OCI config, so that runc can enforce
    /// it: all namespaces including a user namespace per tenant (disjoint host ranges), no
    /// capabilities, uid 1000, no_new_privs, a deny-list seccomp profile, /proc/kallsyms
    /// masked on top of runc's defaults, pids and memory limits.
    pub fn strict() -> Scenario {
        let make = |host_base: u64| {
            let mut v = default_config();
            v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            v["process"]["capabilities"] = json!({"bounding": [], "effective": [],
                "permitted": [], "inheritable": [], "ambient": []});
            v["process"]["noNewPrivileges"] = json!(true);
            v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network"},
                {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
                {"type": "user"}]);
            v["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": host_base, "size": 65536}]);
            v["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": host_base, "size": 65536}]);
            v["linux"]["seccomp"] = seccomp_deny(&strict_denied());
            v["linux"]["maskedPaths"]
                .as_array_mut()
                .unwrap()
                .push(json!("/proc/kallsyms"));
            v["linux"]["resources"]["pids"] = json!({"limit": 128});
            v["linux"]["resources"]["memory"] = json!({"limit": 268435456});
            v
        };
        Scenario {
            name: "strict (negative control)".into(),
            config_a: make(3_000_000_000),
            config_b: make(3_000_065_536),
            no_new_keyring: false,
            leak_fd: None,
        }
    }
}

/// The config actually written into a bundle: `base` with the audit's rootfs, args and env,
/// terminal off.
pub fn prepare(base: &Value, args: &[String], extra_env: &[String]) -> Value {
    let mut v = base.clone();
    if !v["root"].is_object() {
        v["root"] = json!({});
    }
    v["root"]["path"] = json!("rootfs");
    if !v["process"].is_object() {
        v["process"] = json!({});
    }
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(args);
    if !v["process"]["cwd"].is_string() {
        v["process"]["cwd"] = json!("/");
    }
    if !v["process"]["user"].is_object() {
        v["process"]["user"] = json!({"uid": 0, "gid": 0});
    }
    let mut env: Vec<Value> = v["process"]["env"].as_array().cloned().unwrap_or_default();
    if env.is_empty() {
        env.push(json!("PATH=/bin"));
    }
    env.extend(extra_env.iter().map(|e| json!(e)));
    v["process"]["env"] = Value::Array(env);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_runc_spec_shape() {
        let v = default_config();
        assert_eq!(v["process"]["terminal"], false);
        assert_eq!(v["linux"]["namespaces"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn strict_tenants_have_disjoint_ranges() {
        let s = Scenario::strict();
        let a = &s.config_a["linux"]["uidMappings"][0];
        let b = &s.config_b["linux"]["uidMappings"][0];
        let (ao, bo) = (a["hostID"].as_u64().unwrap(), b["hostID"].as_u64().unwrap());
        assert!(ao + 65536 <= bo);
        assert!(s.config_a["linux"]["seccomp"]["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .contains(&json!("keyctl")));
    }

    #[test]
    fn weak_opens_everything() {
        let s = Scenario::weak(
            Some(("/dev/vda", 254, 0)),
            std::path::Path::new("/tmp"),
            u64::MAX,
        );
        assert_eq!(
            s.config_a["linux"]["namespaces"],
            json!([{"type": "mount"}])
        );
        assert_eq!(
            s.config_a["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .len(),
            ALL_CAPS.len()
        );
        assert!(s.config_a["linux"].get("seccomp").is_none());
        assert!(s.no_new_keyring && s.leak_fd.is_some());
        assert_eq!(caps_in(1 << 21), vec!["CAP_SYS_ADMIN"]);
        assert_eq!(caps_in(1 << 40), vec!["CAP_CHECKPOINT_RESTORE"]);
    }

    #[test]
    fn prepare_sets_args_env_rootfs() {
        let v = prepare(
            &json!({"root": {"path": "/elsewhere"}}),
            &["/p".into(), "x".into()],
            &["A=b".into()],
        );
        assert_eq!(v["root"]["path"], "rootfs");
        assert_eq!(v["process"]["args"], json!(["/p", "x"]));
        assert_eq!(v["process"]["env"], json!(["PATH=/bin", "A=b"]));
        assert_eq!(v["process"]["terminal"], false);
    }
}
