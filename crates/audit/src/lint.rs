//! `moat audit lint`: static findings on a bundle's config.json, without running anything.
//!
//! Where a dynamic check of [`crate::checks::CHECKS`] corresponds, the finding carries the same
//! id, severity, meaning and remedy, so that `lint` predicts what `audit run` will measure (for
//! a runtime that adds nothing: moat's hardened floor closes several of them at run time, see
//! docs/audit.md). What only a config can show has a `lint.*` id ([`LINT_CHECKS`]).
//!
//! The config is read as JSON, not through moat's spec loader: lint must also judge configs
//! moat itself would refuse. Fields are type-checked as they are read; a wrong type is an
//! error naming the field, never a silent "no finding".

use crate::checks::{def, CheckDef, Severity};
use serde_json::{json, Value};
use std::path::Path;

/// Findings that have no dynamic counterpart.
pub const LINT_CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "lint.host_mntns",
        category: "namespaces",
        severity: Severity::Critical,
        title: "no mount namespace",
        meaning: "the container's mounts (and its rootfs pivot) happen in the host's mount table",
        remedy: "add {\"type\": \"mount\"} to linux.namespaces",
    },
    CheckDef {
        id: "lint.ns_path",
        category: "namespaces",
        severity: Severity::Low,
        title: "joins an existing namespace by path",
        meaning: "isolation of that kind is shared with whoever owns the namespace (fine for a \
                  pod's sandbox, not for another tenant)",
        remedy: "join only namespaces of the same tenant (a pod sandbox), never another tenant's",
    },
    CheckDef {
        id: "lint.masked_paths",
        category: "kernel",
        severity: Severity::Medium,
        title: "standard /proc and /sys paths not masked",
        meaning: "host hardware, key and scheduler information leak into the container",
        remedy: "keep runc's default linux.maskedPaths",
    },
    CheckDef {
        id: "lint.readonly_paths",
        category: "kernel",
        severity: Severity::Medium,
        title: "/proc/bus, /proc/fs or /proc/irq not read-only",
        meaning: "host-wide device and interrupt settings can be written by a privileged process",
        remedy: "keep runc's default linux.readonlyPaths",
    },
    CheckDef {
        id: "lint.privileged_device",
        category: "devices",
        severity: Severity::Critical,
        title: "a kernel-memory or I/O-port device is passed",
        meaning: "/dev/mem, /dev/kmem and /dev/port give raw access to host memory and hardware",
        remedy: "remove the device from linux.devices",
    },
    CheckDef {
        id: "lint.sensitive_mount",
        category: "mounts",
        severity: Severity::Critical,
        title: "a sensitive host path is bind-mounted",
        meaning: "the host's root, configuration, kernel interfaces or a container-engine socket \
                  are reachable: a socket or a writable /, /etc, /proc, /dev is host root",
        remedy: "do not bind-mount host system paths or engine sockets; pass only the data \
                 directories the workload needs, read-only where possible",
    },
    CheckDef {
        id: "lint.rootfs_writable",
        category: "mounts",
        severity: Severity::Low,
        title: "root filesystem writable",
        meaning: "the workload can modify its own image (tampering persists for the container's \
                  life, dropped binaries)",
        remedy: "set root.readonly = true and give tmpfs or volumes where writes are needed",
    },
];

/// The definition behind a finding id (dynamic catalogue first, then lint-only).
pub fn lint_def(id: &str) -> Option<&'static CheckDef> {
    def(id).or_else(|| LINT_CHECKS.iter().find(|c| c.id == id))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub evidence: String,
}

impl Finding {
    pub fn def(&self) -> &'static CheckDef {
        lint_def(self.id).expect("every finding id is in a catalogue")
    }
}

// ---------------------------------------------------------------------------------------------
// typed access with field paths in errors

struct Cfg<'a>(&'a Value);

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for k in path.split('.') {
        cur = cur.get(k)?;
        if cur.is_null() {
            return None;
        }
    }
    Some(cur)
}

impl<'a> Cfg<'a> {
    fn get(&self, path: &str) -> Option<&'a Value> {
        at(self.0, path)
    }

    fn obj(&self, path: &str) -> Result<Option<&'a Value>, String> {
        match self.get(path) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(v)),
            Some(_) => Err(format!("{path}: expected an object")),
        }
    }

    fn arr(&self, path: &str) -> Result<&'a [Value], String> {
        match self.get(path) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(format!("{path}: expected an array")),
        }
    }

    fn strs(&self, path: &str) -> Result<Vec<&'a str>, String> {
        self.arr(path)?
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| format!("{path}: expected an array of strings"))
            })
            .collect()
    }

    fn bool(&self, path: &str) -> Result<Option<bool>, String> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("{path}: expected true or false")),
        }
    }

    fn int(&self, path: &str) -> Result<Option<i64>, String> {
        match self.get(path) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_u64().map(|u| u.min(i64::MAX as u64) as i64))
                .map(Some)
                .ok_or_else(|| format!("{path}: expected an integer")),
        }
    }
}

fn field_str<'a>(v: &'a Value, key: &str, ctx: &str) -> Result<Option<&'a str>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{ctx}.{key}: expected a string")),
    }
}

fn field_int(v: &Value, key: &str, ctx: &str) -> Result<Option<i64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{ctx}.{key}: expected an integer")),
    }
}

fn field_strs<'a>(v: &'a Value, key: &str, ctx: &str) -> Result<Vec<&'a str>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| format!("{ctx}.{key}: expected an array of strings"))
            })
            .collect(),
        Some(_) => Err(format!("{ctx}.{key}: expected an array of strings")),
    }
}

// ---------------------------------------------------------------------------------------------
// rules

/// (dynamic check id, capabilities behind it)
const CAP_CHECKS: &[(&str, &[&str])] = &[
    ("priv.cap_sys_admin", &["CAP_SYS_ADMIN"]),
    ("priv.cap_sys_ptrace", &["CAP_SYS_PTRACE"]),
    ("priv.cap_sys_module", &["CAP_SYS_MODULE"]),
    ("priv.cap_net_admin", &["CAP_NET_ADMIN"]),
    ("priv.cap_net_raw", &["CAP_NET_RAW"]),
    ("priv.cap_dac_read_search", &["CAP_DAC_READ_SEARCH"]),
    ("priv.cap_sys_rawio", &["CAP_SYS_RAWIO"]),
    ("priv.cap_bpf_perfmon", &["CAP_BPF", "CAP_PERFMON"]),
    ("priv.cap_syslog", &["CAP_SYSLOG"]),
];

/// Syscalls any process can reach unless seccomp refuses them: (check id, syscall).
const SYSCALL_CHECKS: &[(&str, &str)] = &[
    ("sys.keyctl", "keyctl"),
    ("sys.userfaultfd", "userfaultfd"),
    ("sys.perf_event_open", "perf_event_open"),
    ("sys.io_uring_setup", "io_uring_setup"),
    ("sys.bpf", "bpf"),
    ("sys.unshare_user", "unshare"),
    ("sys.ptrace", "ptrace"),
];

/// runc's default masked paths with their own checks, then the rest.
const MASKED_OWN: &[(&str, &str)] = &[
    ("kern.proc_kcore", "/proc/kcore"),
    ("kern.timer_list", "/proc/timer_list"),
];
const MASKED_OTHER: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY_OTHER: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq"];

/// Host paths whose bind mount (of the path or anything below it) is a finding.
const SENSITIVE_TREES: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/lib/modules",
    "/usr/lib/modules",
    "/root",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/run/docker.sock",
    "/run/containerd",
    "/run/crio",
    "/run/podman",
    "/run/dbus",
    "/run/systemd",
    "/var/run/docker.sock",
    "/var/run/containerd",
    "/var/run/crio",
    "/var/run/podman",
    "/var/run/dbus",
];
/// Host paths whose bind mount is a finding only for the directory itself (a file below them,
/// such as /etc/resolv.conf, is ordinary).
const SENSITIVE_EXACT: &[&str] = &[
    "/", "/etc", "/var", "/run", "/var/run", "/usr", "/home", "/bin", "/sbin", "/lib", "/lib64",
];
/// Unix sockets that control a container engine: host root whatever the mount options.
const ENGINE_SOCKETS: &[&str] = &[
    "docker.sock",
    "containerd",
    "crio",
    "podman",
    "dbus",
    "systemd",
];
/// Device files that are harmless to bind (runc itself binds them in user namespaces).
const HARMLESS_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// Lexical normalisation of an absolute path (`//`, `.`, `..`, trailing `/`).
fn normalise(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

fn under(path: &str, tree: &str) -> bool {
    path == tree || tree == "/" || path.starts_with(&format!("{tree}/"))
}

fn covered(path: &str, list: &[&str]) -> bool {
    list.iter().any(|e| under(path, &normalise(e)))
}

fn allowish(action: &str) -> bool {
    matches!(action, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG")
}

/// Whether a seccomp profile lets `name` reach the kernel for at least some arguments.
/// SCMP_ACT_NOTIFY counts as refused (a supervisor decides). Pure.
fn seccomp_reaches(seccomp: &Value, name: &str) -> Result<bool, String> {
    let default = field_str(seccomp, "defaultAction", "linux.seccomp")?
        .ok_or("linux.seccomp.defaultAction: missing")?;
    let mut conditional_allow = false;
    let rules = match seccomp.get("syscalls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a,
        Some(_) => return Err("linux.seccomp.syscalls: expected an array".into()),
    };
    for (i, r) in rules.iter().enumerate() {
        let ctx = format!("linux.seccomp.syscalls[{i}]");
        let mut names = field_strs(r, "names", &ctx)?;
        if let Some(n) = field_str(r, "name", &ctx)? {
            names.push(n);
        }
        if !names.contains(&name) {
            continue;
        }
        let action = field_str(r, "action", &ctx)?.ok_or(format!("{ctx}.action: missing"))?;
        let has_args = r
            .get("args")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has_args {
            return Ok(allowish(action));
        }
        if allowish(action) {
            conditional_allow = true;
        }
    }
    Ok(allowish(default) || conditional_allow)
}

/// Device-cgroup rules in order (later rules win): is a block device (a host disk, 8:0) let
/// through for read or write?
fn device_cgroup_lets_disk_through(rules: &[Value]) -> Result<Option<String>, String> {
    let mut allowed: Option<String> = None;
    for (i, r) in rules.iter().enumerate() {
        let ctx = format!("linux.resources.devices[{i}]");
        let allow = match r.get("allow") {
            Some(Value::Bool(b)) => *b,
            _ => return Err(format!("{ctx}.allow: expected true or false")),
        };
        let ty = field_str(r, "type", &ctx)?.unwrap_or("a");
        let major = field_int(r, "major", &ctx)?.unwrap_or(-1);
        let minor = field_int(r, "minor", &ctx)?.unwrap_or(-1);
        let access = field_str(r, "access", &ctx)?.unwrap_or("rwm");
        let matches = (ty == "a" || ty == "b")
            && (major == -1 || major == 8)
            && (minor == -1 || minor == 0)
            && (access.contains('r') || access.contains('w'));
        if matches {
            allowed = allow.then(|| format!("{ctx} {r}"));
        }
    }
    Ok(allowed)
}

/// The findings for one parsed config.json. Errors name the field that has a wrong type.
pub fn lint(config: &Value) -> Result<Vec<Finding>, String> {
    if !config.is_object() {
        return Err("expected a JSON object".into());
    }
    let c = Cfg(config);
    c.obj("process")?;
    c.obj("linux")?;
    c.obj("root")?;
    let mut f: Vec<Finding> = Vec::new();
    let mut add = |id: &'static str, sev: Option<Severity>, ev: String| {
        let d = lint_def(id).expect("known id");
        f.push(Finding {
            id,
            severity: sev.unwrap_or(d.severity),
            evidence: ev,
        });
    };

    // ---- namespaces
    let mut ns: Vec<(String, Option<String>)> = Vec::new();
    for (i, n) in c.arr("linux.namespaces")?.iter().enumerate() {
        let ctx = format!("linux.namespaces[{i}]");
        let ty = field_str(n, "type", &ctx)?.ok_or(format!("{ctx}.type: missing"))?;
        let path = field_str(n, "path", &ctx)?.map(String::from);
        ns.push((ty.to_string(), path));
    }
    let host_path = |p: &str| {
        let p = normalise(p);
        p.starts_with("/proc/1/ns/") || p.starts_with("/proc/self/ns/")
    };
    let private = |ty: &str| {
        ns.iter()
            .any(|(t, p)| t == ty && p.as_deref().is_none_or(|p| !host_path(p)))
    };
    for (t, p) in &ns {
        if let Some(p) = p {
            if host_path(p) {
                continue; // reported as the host's namespace below
            }
            add(
                "lint.ns_path",
                None,
                format!("linux.namespaces: {t} joins {p}"),
            );
        }
    }
    for (id, ty) in [
        ("info.host_pidns", "pid"),
        ("info.host_netns", "network"),
        ("info.host_ipcns", "ipc"),
        ("info.host_uts", "uts"),
        ("info.host_cgroupns", "cgroup"),
        ("lint.host_mntns", "mount"),
    ] {
        if !private(ty) {
            add(
                id,
                None,
                format!("linux.namespaces has no private {ty} namespace"),
            );
        }
    }

    // ---- identity
    let uid = c.int("process.user.uid")?.unwrap_or(0);
    let userns = private("user");
    let mut maps = Vec::new();
    for (i, m) in c.arr("linux.uidMappings")?.iter().enumerate() {
        let ctx = format!("linux.uidMappings[{i}]");
        let get = |k: &str| -> Result<i64, String> {
            field_int(m, k, &ctx)?.ok_or(format!("{ctx}.{k}: missing"))
        };
        maps.push((get("containerID")?, get("hostID")?, get("size")?));
    }
    let host_uid_of = |u: i64| -> Option<i64> {
        if !userns {
            return Some(u);
        }
        maps.iter()
            .find(|(cid, _, size)| u >= *cid && u < cid + size)
            .map(|(cid, hid, _)| hid + (u - cid))
    };
    if uid == 0 {
        add(
            "priv.uid0",
            None,
            "process.user.uid is 0 (or absent)".into(),
        );
    }
    if host_uid_of(uid) == Some(0) {
        add(
            "id.host_root",
            None,
            if userns {
                format!("linux.uidMappings maps uid {uid} to host uid 0")
            } else {
                format!("uid {uid} without a user namespace is host uid 0")
            },
        );
    }
    if !userns {
        add(
            "id.host_userns",
            None,
            "linux.namespaces has no user namespace (moat's hardened floor adds one at run \
             time; runc and crun do not)"
                .into(),
        );
    }

    // ---- capabilities, no_new_privs
    let nnp = c.bool("process.noNewPrivileges")?.unwrap_or(false);
    let set = |name: &str| c.strs(&format!("process.capabilities.{name}"));
    let (eff, perm, amb, bnd, inh) = (
        set("effective")?,
        set("permitted")?,
        set("ambient")?,
        set("bounding")?,
        set("inheritable")?,
    );
    for (id, caps) in CAP_CHECKS {
        let held: Vec<&str> = caps
            .iter()
            .copied()
            .filter(|cap| eff.contains(cap) || perm.contains(cap) || amb.contains(cap))
            .collect();
        if !held.is_empty() {
            let d = def(id).expect("catalogue id");
            let (sev, scope) = if userns && host_uid_of(uid) != Some(0) {
                (lower(d.severity), " (over a private user namespace)")
            } else {
                (d.severity, " (host user namespace)")
            };
            add(
                id,
                Some(sev),
                format!("process.capabilities grants {}{scope}", held.join(", ")),
            );
        }
    }
    if !nnp && bnd.contains(&"CAP_SYS_ADMIN") {
        add(
            "priv.bounding_sys_admin",
            None,
            "process.capabilities.bounding has CAP_SYS_ADMIN and noNewPrivileges is not set".into(),
        );
    }
    if !inh.is_empty() {
        add(
            "priv.inheritable_caps",
            None,
            format!("process.capabilities.inheritable = {}", inh.join(", ")),
        );
    }
    if !nnp {
        add(
            "priv.no_new_privs",
            None,
            "process.noNewPrivileges is not true".into(),
        );
    }
    if [&eff, &perm, &amb].iter().any(|s| s.contains(&"CAP_MKNOD")) {
        add(
            "dev.mknod",
            None,
            "process.capabilities grants CAP_MKNOD".into(),
        );
    }

    // ---- seccomp
    match c.obj("linux.seccomp")? {
        None => add(
            "priv.seccomp",
            None,
            format!(
                "no linux.seccomp: every syscall is reachable ({} …)",
                SYSCALL_CHECKS
                    .iter()
                    .map(|(_, s)| *s)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(s) => {
            for (id, name) in SYSCALL_CHECKS {
                if seccomp_reaches(s, name)? {
                    add(id, None, format!("linux.seccomp lets {name} through"));
                }
            }
        }
    }

    // ---- /proc and /sys paths
    let masked = c.strs("linux.maskedPaths")?;
    let readonly = c.strs("linux.readonlyPaths")?;
    let mounts = c.arr("mounts")?;
    let mut parsed = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let ctx = format!("mounts[{i}]");
        let dest =
            field_str(m, "destination", &ctx)?.ok_or(format!("{ctx}.destination: missing"))?;
        let ty = field_str(m, "type", &ctx)?.unwrap_or("");
        let src = field_str(m, "source", &ctx)?.unwrap_or("");
        let opts = field_strs(m, "options", &ctx)?;
        parsed.push((ctx, normalise(dest), ty, src, opts));
    }
    let has_proc = parsed
        .iter()
        .any(|(_, d, t, _, _)| d == "/proc" && *t == "proc");
    if has_proc {
        let hidden = |p: &str| covered(p, &masked);
        let ro = |p: &str| covered(p, &masked) || covered(p, &readonly);
        for (id, p) in MASKED_OWN {
            if !hidden(p) {
                add(id, None, format!("{p} is not in linux.maskedPaths"));
            }
        }
        let missing: Vec<&str> = MASKED_OTHER
            .iter()
            .copied()
            .filter(|p| !hidden(p))
            .collect();
        if !missing.is_empty() {
            add(
                "lint.masked_paths",
                None,
                format!("not in linux.maskedPaths: {}", missing.join(", ")),
            );
        }
        if !ro("/proc/sys") {
            add(
                "kern.core_pattern_writable",
                None,
                "/proc/sys is not in linux.readonlyPaths".into(),
            );
        }
        if !ro("/proc/sysrq-trigger") {
            add(
                "kern.sysrq_trigger",
                None,
                "/proc/sysrq-trigger is neither read-only nor masked".into(),
            );
        }
        let missing: Vec<&str> = READONLY_OTHER.iter().copied().filter(|p| !ro(p)).collect();
        if !missing.is_empty() {
            add(
                "lint.readonly_paths",
                None,
                format!("not in linux.readonlyPaths: {}", missing.join(", ")),
            );
        }
    }

    // ---- mounts
    for (ctx, dest, ty, src, opts) in &parsed {
        let ro = opts.contains(&"ro");
        let bind = *ty == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
        if *ty == "sysfs" && !ro {
            add(
                "kern.sys_writable",
                None,
                format!("{ctx}: sysfs on {dest} without \"ro\""),
            );
        }
        if (*ty == "cgroup" || *ty == "cgroup2") && !ro {
            add(
                "kern.cgroupfs_writable",
                None,
                format!("{ctx}: {ty} on {dest} without \"ro\""),
            );
        }
        if bind && src.starts_with('/') {
            let s = normalise(src);
            if HARMLESS_DEVICES.contains(&s.as_str()) {
                continue;
            }
            let sensitive = SENSITIVE_EXACT.contains(&s.as_str())
                || SENSITIVE_TREES.iter().any(|t| under(&s, t));
            if sensitive {
                let socket = ENGINE_SOCKETS.iter().any(|k| s.contains(k));
                let sev = if ro && !socket {
                    Severity::High
                } else {
                    Severity::Critical
                };
                add(
                    "lint.sensitive_mount",
                    Some(sev),
                    format!(
                        "{ctx}: host {s} bind-mounted on {dest} {}",
                        if ro { "read-only" } else { "read-write" }
                    ),
                );
                if under(&s, "/sys/fs/cgroup") && !ro {
                    add(
                        "kern.cgroupfs_writable",
                        None,
                        format!("{ctx}: host cgroupfs {s} bound on {dest}"),
                    );
                }
            }
        }
    }
    if !c.bool("root.readonly")?.unwrap_or(false) {
        add(
            "lint.rootfs_writable",
            None,
            "root.readonly is not true".into(),
        );
    }

    // ---- devices
    for (i, d) in c.arr("linux.devices")?.iter().enumerate() {
        let ctx = format!("linux.devices[{i}]");
        let path = field_str(d, "path", &ctx)?.unwrap_or("?");
        let ty = field_str(d, "type", &ctx)?.unwrap_or("");
        let major = field_int(d, "major", &ctx)?.unwrap_or(-1);
        let minor = field_int(d, "minor", &ctx)?.unwrap_or(-1);
        if ty == "b" {
            add(
                "dev.block_devices",
                None,
                format!("{ctx}: block device {path} ({major}:{minor})"),
            );
        } else if ty == "c"
            && (major == 1 && matches!(minor, 1 | 2 | 4)
                || ["/dev/mem", "/dev/kmem", "/dev/port"].contains(&path))
        {
            add(
                "lint.privileged_device",
                None,
                format!("{ctx}: {path} ({major}:{minor})"),
            );
        }
    }
    if let Some(rule) = device_cgroup_lets_disk_through(c.arr("linux.resources.devices")?)? {
        add(
            "dev.mknod_block_open",
            None,
            format!("the device cgroup lets block devices through: {rule}"),
        );
    }

    // ---- resources
    if c.int("linux.resources.pids.limit")?.is_none_or(|l| l <= 0) {
        add(
            "res.pids_limit",
            None,
            "linux.resources.pids.limit is not set (or unlimited)".into(),
        );
    }
    if c.int("linux.resources.memory.limit")?
        .is_none_or(|l| l <= 0)
    {
        add(
            "res.memory_limit",
            None,
            "linux.resources.memory.limit is not set (or unlimited)".into(),
        );
    }

    f.sort_by_key(|x| (x.severity, x.id));
    Ok(f)
}

fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        _ => Severity::Low,
    }
}

/// Reads `BUNDLE/config.json`; errors name the file and what is wrong with it.
pub fn load(bundle: &Path) -> Result<Value, String> {
    let p = bundle.join("config.json");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("read {}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", p.display()))
}

/// Loads and lints a bundle; errors name the config file.
pub fn lint_bundle(bundle: &Path) -> Result<Vec<Finding>, String> {
    let v = load(bundle)?;
    lint(&v).map_err(|e| format!("{}: {e}", bundle.join("config.json").display()))
}

fn counts(f: &[Finding]) -> String {
    let n = |s: Severity| f.iter().filter(|x| x.severity == s).count();
    format!(
        "{} critical, {} high, {} medium, {} low",
        n(Severity::Critical),
        n(Severity::High),
        n(Severity::Medium),
        n(Severity::Low)
    )
}

pub fn table(config: &str, f: &[Finding]) -> String {
    let mut out = format!(
        "moat audit lint: {config}\n{} findings ({}) — static: what the config asks for; \
         `moat audit run --config {config}` measures it\n",
        f.len(),
        counts(f)
    );
    if f.is_empty() {
        return out;
    }
    let w = f.iter().map(|x| x.id.len()).max().unwrap_or(10);
    out.push_str(&format!("\n{:<w$}  {:<9} EVIDENCE\n", "CHECK", "SEVERITY"));
    for x in f {
        let d = x.def();
        out.push_str(&format!(
            "{:<w$}  {:<9} {}\n",
            x.id,
            x.severity.as_str(),
            x.evidence
        ));
        out.push_str(&format!("{:<w$}  ↳ means: {}\n", "", d.meaning));
        out.push_str(&format!("{:<w$}  ↳ fix:   {}\n", "", d.remedy));
    }
    out
}

pub fn json(config: &str, f: &[Finding]) -> Value {
    let n = |s: Severity| f.iter().filter(|x| x.severity == s).count();
    json!({
        "config": config,
        "summary": {"findings": f.len(), "critical": n(Severity::Critical),
                    "high": n(Severity::High), "medium": n(Severity::Medium), "low": n(Severity::Low)},
        "findings": f.iter().map(|x| {
            let d = x.def();
            json!({"id": x.id, "severity": x.severity.as_str(), "title": d.title,
                   "evidence": x.evidence, "meaning": d.meaning, "remedy": d.remedy,
                   "dynamic_check": crate::checks::def(x.id).is_some()})
        }).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::{default_config, Scenario};

    /// runc's `runc spec` plus hardened settings: the negative control.
    fn hardened() -> Value {
        Scenario::strict().config_a
    }

    fn ids(v: &Value) -> Vec<&'static str> {
        let mut v: Vec<_> = lint(v).unwrap().iter().map(|f| f.id).collect();
        v.sort();
        v
    }

    #[test]
    fn hardened_runc_spec_has_no_finding() {
        assert_eq!(lint(&hardened()).unwrap(), vec![]);
    }

    #[test]
    fn runc_spec_default_findings_are_what_the_dynamic_audit_measures() {
        // `audit run --config default` with runc: these are EXPOSED (plus the per-syscall
        // checks, which lint folds into priv.seccomp, and the cross-tenant uid check).
        assert_eq!(
            ids(&default_config()),
            vec![
                "id.host_root",
                "id.host_userns",
                "info.host_cgroupns",
                "priv.seccomp",
                "priv.uid0",
                "res.memory_limit",
                "res.pids_limit",
            ]
        );
    }

    /// Each weakening of the hardened config produces exactly its finding (positive control
    /// per rule; the unchanged config above is the negative one).
    #[test]
    fn each_weakening_is_found() {
        type Mutation = fn(&mut Value);
        let cases: &[(&str, Mutation, &[&str])] = &[
            (
                "no seccomp",
                |v| {
                    v["linux"].as_object_mut().unwrap().remove("seccomp");
                },
                &["priv.seccomp"],
            ),
            (
                "seccomp allows keyctl and bpf",
                |v| {
                    v["linux"]["seccomp"]["syscalls"][0]["names"] = json!([
                        "io_uring_setup",
                        "unshare",
                        "userfaultfd",
                        "perf_event_open",
                        "ptrace"
                    ]);
                },
                &["sys.bpf", "sys.keyctl"],
            ),
            (
                "allow rule before the deny",
                |v| {
                    v["linux"]["seccomp"]["syscalls"] = json!([
                    {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW"},
                    v["linux"]["seccomp"]["syscalls"][0].clone()]);
                },
                &["sys.ptrace"],
            ),
            (
                "deny-by-default profile that allows unshare",
                |v| {
                    v["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO",
                    "syscalls": [{"names": ["read", "unshare"], "action": "SCMP_ACT_ALLOW"}]});
                },
                &["sys.unshare_user"],
            ),
            (
                "CAP_SYS_ADMIN effective",
                |v| {
                    v["process"]["capabilities"]["effective"] = json!(["CAP_SYS_ADMIN"]);
                },
                &["priv.cap_sys_admin"],
            ),
            (
                "CAP_BPF permitted",
                |v| {
                    v["process"]["capabilities"]["permitted"] = json!(["CAP_BPF"]);
                },
                &["priv.cap_bpf_perfmon"],
            ),
            (
                "CAP_SYS_PTRACE ambient",
                |v| {
                    v["process"]["capabilities"]["ambient"] = json!(["CAP_SYS_PTRACE"]);
                },
                &["priv.cap_sys_ptrace"],
            ),
            (
                "CAP_MKNOD",
                |v| {
                    v["process"]["capabilities"]["effective"] = json!(["CAP_MKNOD"]);
                },
                &["dev.mknod"],
            ),
            (
                "inheritable",
                |v| {
                    v["process"]["capabilities"]["inheritable"] = json!(["CAP_CHOWN"]);
                },
                &["priv.inheritable_caps"],
            ),
            (
                "no_new_privs false",
                |v| {
                    v["process"]["noNewPrivileges"] = json!(false);
                },
                &["priv.no_new_privs"],
            ),
            (
                "bounding CAP_SYS_ADMIN without nnp",
                |v| {
                    v["process"]["noNewPrivileges"] = json!(false);
                    v["process"]["capabilities"]["bounding"] = json!(["CAP_SYS_ADMIN"]);
                },
                &["priv.bounding_sys_admin", "priv.no_new_privs"],
            ),
            (
                "uid 0 in the user namespace",
                |v| {
                    v["process"]["user"]["uid"] = json!(0);
                },
                &["priv.uid0"],
            ),
            (
                "root mapped to host root",
                |v| {
                    v["process"]["user"]["uid"] = json!(0);
                    v["linux"]["uidMappings"] =
                        json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
                },
                &["id.host_root", "priv.uid0"],
            ),
            (
                "no user namespace",
                |v| {
                    v["linux"]["namespaces"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|n| n["type"] != "user");
                },
                &["id.host_userns"],
            ),
            (
                "host pid namespace",
                |v| {
                    v["linux"]["namespaces"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|n| n["type"] != "pid");
                },
                &["info.host_pidns"],
            ),
            (
                "host netns by path",
                |v| {
                    for n in v["linux"]["namespaces"].as_array_mut().unwrap() {
                        if n["type"] == "network" {
                            n["path"] = json!("/proc/1/ns/net");
                        }
                    }
                },
                &["info.host_netns"],
            ),
            (
                "a sandbox's ipc namespace by path",
                |v| {
                    for n in v["linux"]["namespaces"].as_array_mut().unwrap() {
                        if n["type"] == "ipc" {
                            n["path"] = json!("/proc/4242/ns/ipc");
                        }
                    }
                },
                &["lint.ns_path"],
            ),
            (
                "no ipc/uts/cgroup/mount namespaces",
                |v| {
                    v["linux"]["namespaces"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|n| {
                            !["ipc", "uts", "cgroup", "mount"]
                                .contains(&n["type"].as_str().unwrap())
                        });
                },
                &[
                    "info.host_cgroupns",
                    "info.host_ipcns",
                    "info.host_uts",
                    "lint.host_mntns",
                ],
            ),
            (
                "no pids limit",
                |v| {
                    v["linux"]["resources"]["pids"] = json!({"limit": 0});
                },
                &["res.pids_limit"],
            ),
            (
                "no memory limit",
                |v| {
                    v["linux"]["resources"]["memory"] = json!({"limit": -1});
                },
                &["res.memory_limit"],
            ),
            (
                "no masked paths",
                |v| {
                    v["linux"]["maskedPaths"] = json!([]);
                },
                &["kern.proc_kcore", "kern.timer_list", "lint.masked_paths"],
            ),
            (
                "no read-only paths",
                |v| {
                    v["linux"]["readonlyPaths"] = json!([]);
                },
                &[
                    "kern.core_pattern_writable",
                    "kern.sysrq_trigger",
                    "lint.readonly_paths",
                ],
            ),
            (
                "/proc masked whole covers everything",
                |v| {
                    v["linux"]["maskedPaths"] = json!(["/proc/", "/sys/firmware"]);
                    v["linux"]["readonlyPaths"] = json!([]);
                },
                &[],
            ),
            (
                "sysfs rw",
                |v| {
                    for m in v["mounts"].as_array_mut().unwrap() {
                        if m["type"] == "sysfs" {
                            m["options"] = json!(["nosuid", "rw"]);
                        }
                    }
                },
                &["kern.sys_writable"],
            ),
            (
                "cgroupfs rw",
                |v| {
                    for m in v["mounts"].as_array_mut().unwrap() {
                        if m["type"] == "cgroup" {
                            m["options"] = json!(["nosuid"]);
                        }
                    }
                },
                &["kern.cgroupfs_writable"],
            ),
            (
                "docker.sock bound read-only",
                |v| {
                    v["mounts"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"destination": "/var/run/docker.sock",
                    "type": "bind", "source": "/var/run/docker.sock", "options": ["rbind", "ro"]}));
                },
                &["lint.sensitive_mount"],
            ),
            (
                "host / bound",
                |v| {
                    v["mounts"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"destination": "/host",
                    "source": "//", "options": ["rbind", "rw"]}));
                },
                &["lint.sensitive_mount"],
            ),
            (
                "host /etc bound (spelt /etc/./)",
                |v| {
                    v["mounts"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"destination": "/h",
                    "type": "bind", "source": "/etc/./", "options": ["ro"]}));
                },
                &["lint.sensitive_mount"],
            ),
            (
                "host /proc/1 bound",
                |v| {
                    v["mounts"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"destination": "/p",
                    "type": "bind", "source": "/proc/1"}));
                },
                &["lint.sensitive_mount"],
            ),
            (
                "host cgroupfs bound rw",
                |v| {
                    v["mounts"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"destination": "/cg",
                    "type": "bind", "source": "/sys/fs/cgroup", "options": ["rbind", "rw"]}));
                },
                &["kern.cgroupfs_writable", "lint.sensitive_mount"],
            ),
            (
                "ordinary binds are fine",
                |v| {
                    let m = v["mounts"].as_array_mut().unwrap();
                    m.push(json!({"destination": "/etc/resolv.conf", "type": "bind",
                    "source": "/etc/resolv.conf", "options": ["rbind", "ro"]}));
                    m.push(json!({"destination": "/data", "type": "bind",
                    "source": "/srv/tenant-a/data", "options": ["rbind", "rw"]}));
                    m.push(json!({"destination": "/dev/null", "type": "bind",
                    "source": "/dev/null", "options": ["bind"]}));
                    m.push(json!({"destination": "/rel", "type": "bind", "source": "etc"}));
                },
                &[],
            ),
            (
                "rootfs writable",
                |v| {
                    v["root"]["readonly"] = json!(false);
                },
                &["lint.rootfs_writable"],
            ),
            (
                "host disk passed",
                |v| {
                    v["linux"]["devices"] = json!([{"path": "/dev/vda", "type": "b", "major": 254,
                    "minor": 0}]);
                },
                &["dev.block_devices"],
            ),
            (
                "/dev/mem passed",
                |v| {
                    v["linux"]["devices"] = json!([{"path": "/dev/mem", "type": "c", "major": 1,
                    "minor": 1}]);
                },
                &["lint.privileged_device"],
            ),
            (
                "device cgroup open",
                |v| {
                    v["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"},
                    {"allow": true, "access": "rwm"}]);
                },
                &["dev.mknod_block_open"],
            ),
            (
                "device cgroup open then closed",
                |v| {
                    v["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"},
                    {"allow": false, "type": "b", "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]);
                },
                &[],
            ),
        ];
        for (name, mutate, want) in cases {
            let mut v = hardened();
            mutate(&mut v);
            let mut want: Vec<&str> = want.to_vec();
            want.sort();
            assert_eq!(ids(&v), want, "{name}");
        }
    }

    #[test]
    fn caps_in_a_private_user_namespace_are_one_severity_lower() {
        let mut v = hardened();
        v["process"]["capabilities"]["effective"] = json!(["CAP_SYS_ADMIN"]);
        assert_eq!(lint(&v).unwrap()[0].severity, Severity::High);
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "user");
        let f = lint(&v).unwrap();
        let c = f.iter().find(|x| x.id == "priv.cap_sys_admin").unwrap();
        assert_eq!(c.severity, Severity::Critical);
    }

    #[test]
    fn the_weak_control_is_full_of_findings() {
        let s = Scenario::weak(
            Some(("/dev/vda", 254, 0)),
            Path::new("/tmp"),
            u64::MAX >> 23,
        );
        let got = ids(&s.config_a);
        for want in [
            "priv.cap_sys_admin",
            "priv.cap_sys_module",
            "priv.cap_dac_read_search",
            "priv.inheritable_caps",
            "priv.no_new_privs",
            "priv.seccomp",
            "id.host_root",
            "id.host_userns",
            "info.host_pidns",
            "info.host_netns",
            "info.host_ipcns",
            "kern.proc_kcore",
            "kern.core_pattern_writable",
            "kern.sys_writable",
            "kern.cgroupfs_writable",
            "dev.block_devices",
            "dev.mknod_block_open",
            "res.pids_limit",
            "lint.sensitive_mount",
        ] {
            assert!(got.contains(&want), "{want} missing from {got:?}");
        }
    }

    #[test]
    fn every_finding_has_a_definition_and_reports_render() {
        let s = Scenario::weak(
            Some(("/dev/vda", 254, 0)),
            Path::new("/tmp"),
            u64::MAX >> 23,
        );
        let f = lint(&s.config_a).unwrap();
        let t = table("x/config.json", &f);
        let j = json("x/config.json", &f);
        for x in &f {
            assert!(t.contains(x.id));
            assert!(!x.def().remedy.is_empty());
        }
        assert_eq!(j["findings"].as_array().unwrap().len(), f.len());
        assert_eq!(j["summary"]["findings"], f.len());
        assert!(table("c", &[]).contains("0 findings"));
    }

    #[test]
    fn wrong_types_are_errors_naming_the_field() {
        let bad = |m: fn(&mut Value)| {
            let mut v = hardened();
            m(&mut v);
            lint(&v).unwrap_err()
        };
        assert!(lint(&json!([])).unwrap_err().contains("object"));
        assert!(
            bad(|v| v["process"]["capabilities"]["effective"] = json!("CAP_SYS_ADMIN"))
                .contains("process.capabilities.effective")
        );
        assert!(bad(|v| v["process"]["noNewPrivileges"] = json!("yes"))
            .contains("process.noNewPrivileges"));
        assert!(bad(|v| v["linux"]["namespaces"] = json!([{"path": "/x"}]))
            .contains("linux.namespaces[0].type"));
        assert!(bad(|v| v["mounts"][1]["options"] = json!([1])).contains("mounts[1].options"));
        assert!(
            bad(|v| v["linux"]["resources"]["pids"]["limit"] = json!("many"))
                .contains("linux.resources.pids.limit")
        );
        assert!(bad(|v| {
            v["linux"]["seccomp"] = json!({"syscalls": []});
        })
        .contains("linux.seccomp.defaultAction"));
        assert!(bad(|v| v["linux"] = json!(3)).contains("linux"));
    }

    #[test]
    fn load_names_the_file() {
        let d = std::env::temp_dir().join(format!("moat-lint-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = lint_bundle(&d).unwrap_err();
        assert!(
            e.contains(&d.join("config.json").display().to_string()),
            "{e}"
        );
        std::fs::write(d.join("config.json"), "{not json").unwrap();
        let e = lint_bundle(&d).unwrap_err();
        assert!(e.starts_with("parse ") && e.contains("config.json"), "{e}");
        std::fs::write(
            d.join("config.json"),
            r#"{"process": {"user": {"uid": "root"}}}"#,
        )
        .unwrap();
        let e = lint_bundle(&d).unwrap_err();
        assert!(e.contains("config.json: process.user.uid"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
