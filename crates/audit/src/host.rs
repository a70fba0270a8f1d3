//! `moat audit host`: what this kernel offers for isolation. Reads files only; the parts that
//! need a syscall (Landlock ABI, id-mapped mount on a throwaway user namespace) come from the
//! probe's `host` mode, run as a child process.

use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

fn read(p: &str) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// cgroup layout from the mount table text: "v2", "hybrid" or "v1". Pure.
pub fn cgroup_layout(mountinfo: &str) -> &'static str {
    let mut at_root = None;
    let mut unified = false;
    let mut v1 = false;
    for l in mountinfo.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < sep + 2 || f.len() < 5 {
            continue;
        }
        let (mp, fstype) = (f[4], f[sep + 1]);
        if mp == "/sys/fs/cgroup" {
            at_root = Some(fstype);
        }
        if mp == "/sys/fs/cgroup/unified" && fstype == "cgroup2" {
            unified = true;
        }
        if fstype == "cgroup" {
            v1 = true;
        }
    }
    match (at_root, unified, v1) {
        (Some("cgroup2"), _, _) => "v2",
        (_, true, true) => "hybrid",
        _ => "v1",
    }
}

/// (feature, value, note) rows; `probe` gives the syscall-based answers when available.
pub fn features(probe: Option<&Path>) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let mut add = |f: &str, v: String, n: &str| rows.push((f.to_string(), v, n.to_string()));
    add(
        "kernel",
        read("/proc/sys/kernel/osrelease").unwrap_or_default(),
        "",
    );
    let p: Value = match probe {
        None => Value::Null,
        Some(p) => Command::new(p)
            .arg("host")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(Value::Null),
    };
    let probe_note = if p.is_null() {
        "probe not available: unknown"
    } else {
        "measured"
    };
    let maxns = read("/proc/sys/user/max_user_namespaces").unwrap_or_else(|| "?".into());
    add(
        "user namespaces",
        match p["userns"]["result"].as_str() {
            Some("ok") => format!("yes (created one; max_user_namespaces={maxns})"),
            Some(r) => format!("no ({r}; max_user_namespaces={maxns})"),
            None => format!("unknown (max_user_namespaces={maxns})"),
        },
        probe_note,
    );
    let actions = read("/proc/sys/kernel/seccomp/actions_avail");
    add(
        "seccomp filter",
        match &actions {
            Some(a) => format!("yes ({a})"),
            None => "no (/proc/sys/kernel/seccomp absent)".into(),
        },
        "measured (/proc/sys/kernel/seccomp/actions_avail)",
    );
    add(
        "seccomp user notification",
        match (&actions, p["seccomp_user_notif"].as_str()) {
            (_, Some("ok")) => "yes".into(),
            (Some(a), _) if a.split_whitespace().any(|x| x == "user_notif") => "yes".into(),
            (Some(_), _) => "no".into(),
            (None, _) => "no".into(),
        },
        "measured (SECCOMP_GET_ACTION_AVAIL / actions_avail)",
    );
    let lsm = read("/sys/kernel/security/lsm");
    add(
        "landlock",
        match (&p["landlock_abi"], &lsm) {
            (Value::Number(n), _) => format!("ABI {n}"),
            (Value::String(e), _) => format!("not available ({e})"),
            (_, Some(l)) if l.split(',').any(|x| x == "landlock") => "enabled (ABI unknown)".into(),
            _ => "unknown".into(),
        },
        if p["landlock_abi"].is_null() {
            "from /sys/kernel/security/lsm"
        } else {
            "measured (landlock_create_ruleset VERSION)"
        },
    );
    add(
        "LSMs",
        lsm.unwrap_or_else(|| "unknown (securityfs not mounted)".into()),
        "",
    );
    add(
        "id-mapped mounts",
        match p["idmap"]["result"].as_str() {
            Some("ok") => format!(
                "yes (on {})",
                p["idmap"]["dir"].as_str().unwrap_or("a temp dir")
            ),
            Some(r) => format!("no ({r})"),
            None => "unknown".into(),
        },
        if p.is_null() {
            "probe not available"
        } else {
            "measured: mount_setattr(MOUNT_ATTR_IDMAP) on a detached clone of a temp dir, \
             through a throwaway user namespace"
        },
    );
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    add(
        "cgroups",
        cgroup_layout(&mi).to_string(),
        "from the mount table",
    );
    add(
        "KVM",
        match fs::metadata("/dev/kvm") {
            Ok(_) => "yes (/dev/kvm present)".into(),
            Err(_) => "no".into(),
        },
        "microVM runtimes (Kata, Firecracker) need it",
    );
    for (k, f) in [
        ("kernel.kptr_restrict", "/proc/sys/kernel/kptr_restrict"),
        ("kernel.dmesg_restrict", "/proc/sys/kernel/dmesg_restrict"),
        (
            "kernel.perf_event_paranoid",
            "/proc/sys/kernel/perf_event_paranoid",
        ),
        (
            "kernel.unprivileged_bpf_disabled",
            "/proc/sys/kernel/unprivileged_bpf_disabled",
        ),
        (
            "kernel.io_uring_disabled",
            "/proc/sys/kernel/io_uring_disabled",
        ),
        (
            "vm.unprivileged_userfaultfd",
            "/proc/sys/vm/unprivileged_userfaultfd",
        ),
    ] {
        add(k, read(f).unwrap_or_else(|| "absent".into()), "");
    }
    rows
}

pub fn table(rows: &[(String, String, String)]) -> String {
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    let mut s = String::new();
    for (f, v, n) in rows {
        if n.is_empty() {
            s.push_str(&format!("{f:<w$}  {v}\n"));
        } else {
            s.push_str(&format!("{f:<w$}  {v}   [{n}]\n"));
        }
    }
    s
}

pub fn json(rows: &[(String, String, String)]) -> Value {
    Value::Array(
        rows.iter()
            .map(|(f, v, n)| json!({"feature": f, "value": v, "how": n}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let hybrid = "1 0 0:1 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n\
                      2 1 0:2 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                      3 1 0:3 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(cgroup_layout(hybrid), "hybrid");
        assert_eq!(
            cgroup_layout("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
            "v2"
        );
        assert_eq!(
            cgroup_layout("3 1 0:3 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"),
            "v1"
        );
    }
}
