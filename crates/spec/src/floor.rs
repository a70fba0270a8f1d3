//! The security floor: what moat enforces on top of any config, chosen by
//! the host (never the tenant) as a policy.
//!
//! - `compat`: the config as given, exactly as runc runs it.
//! - `baseline`: moat's default seccomp allow-list when the config has no
//!   profile (and a deny-list merged into a config's own profile), the
//!   dangerous capabilities removed from every set, `noNewPrivileges` forced.
//! - `hardened` (default): baseline plus a superset of runc's masked and
//!   read-only paths, /sys read-only, every namespace kind except network
//!   private, and default pids and memory limits when the config sets none.
//!
//! Everything here is a pure function of (config, policy): unit-tested, and
//! printable with `moat floor --bundle DIR`.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccomp, Spec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Which floor applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Compat,
    Baseline,
    Hardened,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s {
            "compat" => Ok(Level::Compat),
            "baseline" => Ok(Level::Baseline),
            "hardened" => Ok(Level::Hardened),
            _ => Err(format!(
                "unknown policy {s:?}: expected hardened, baseline or compat"
            )),
        }
    }
}

/// The host's policy (from `--policy`, the binary's name or
/// /etc/moat/policy.toml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub level: Level,
    /// Default `pids.max` when the config sets no pids limit (0 = none).
    pub pids_limit: i64,
    /// Default memory limit in bytes when the config sets none (0 = none).
    pub memory_limit: i64,
    /// Capabilities the host allows despite the deny-list.
    pub allow_capabilities: Vec<String>,
    /// Give a container without a user namespace one of its own, from the
    /// host's moat id range, with an id-mapped rootfs (hardened only).
    pub userns: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            level: Level::Hardened,
            pids_limit: 4096,
            memory_limit: 4 << 30,
            allow_capabilities: Vec::new(),
            userns: true,
        }
    }
}

/// Where the host policy file lives.
pub const POLICY_FILE: &str = "/etc/moat/policy.toml";

/// The annotation with which a tenant may ask for a *stricter* level.
pub const LEVEL_ANNOTATION: &str = "io.moat.policy";

impl Policy {
    /// Parse the host policy file (TOML).
    pub fn from_toml(text: &str) -> Result<Policy, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// Capabilities removed from every set under baseline and hardened.
pub const DENIED_CAPS: &[&str] = &[
    "CAP_SYS_ADMIN",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",
    "CAP_SYS_TIME",
    "CAP_SYS_BOOT",
    "CAP_NET_ADMIN",
    "CAP_DAC_READ_SEARCH",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_SYSLOG",
    "CAP_BPF",
    "CAP_PERFMON",
    "CAP_SYS_RESOURCE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_SYS_PACCT",
    "CAP_SYS_TTY_CONFIG",
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_CHECKPOINT_RESTORE",
];

/// Syscalls denied on top of any profile the config brings.
pub const DENIED_SYSCALLS: &[&str] = &[
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "swapon",
    "swapoff",
    "acct",
    "clock_settime",
    "clock_settime64",
    "settimeofday",
    "stime",
    "adjtimex",
    "clock_adjtime",
    "clock_adjtime64",
    "syslog",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "lookup_dcookie",
    "quotactl",
    "quotactl_fd",
    "iopl",
    "ioperm",
    "reboot",
    "vhangup",
    "uselib",
    "_sysctl",
    "nfsservctl",
    "fanotify_init",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
];

/// moat's default allow-list: the calls ordinary programs make (the same
/// shape as containerd's default profile, minus everything in
/// `DENIED_SYSCALLS`). Namespace-creating clone flags, clone3 (→ ENOSYS so
/// libc falls back to clone), AF_VSOCK sockets and exotic personalities are
/// refused by argument filters below.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "modify_ldt",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
/// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET (| CLONE_NEWTIME is 0x80,
/// which is CSIGNAL's range in clone(2) and cannot be filtered there).
const CLONE_NS_FLAGS: u64 = 0x7E02_0000;

/// The change [`apply`] reports when it gave the config moat's default
/// profile.
pub const DEFAULT_SECCOMP_CHANGE: &str = "seccomp: moat default profile";

/// moat's default seccomp profile.
pub fn default_profile() -> LinuxSeccomp {
    let mut syscalls = vec![json!({"names": ALLOWED, "action": "SCMP_ACT_ALLOW"})];
    // clone only without namespace flags.
    syscalls.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
    // clone3's flags are behind a pointer: refuse with ENOSYS, libc falls back.
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    // Every socket family but AF_VSOCK (40).
    syscalls.push(json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}));
    for p in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}]}));
    }
    serde_json::from_value(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    }))
    .expect("default profile is valid OCI seccomp")
}

/// Merge the deny-list into a config's own profile: denied names are taken
/// out of any rule that would let them through, and (when the profile's
/// default would allow them) added as EPERM rules.
fn merge_denials(s: &LinuxSeccomp) -> LinuxSeccomp {
    let mut v = serde_json::to_value(s).expect("seccomp serializes");
    let denied: HashSet<&str> = DENIED_SYSCALLS.iter().copied().collect();
    let permissive = |a: &Value| {
        matches!(
            a.as_str(),
            Some("SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" | "SCMP_ACT_TRACE" | "SCMP_ACT_NOTIFY")
        )
    };
    let mut rules: Vec<Value> = Vec::new();
    if let Some(Value::Array(list)) = v.get("syscalls") {
        for r in list {
            let mut r = r.clone();
            if permissive(&r["action"]) {
                if let Some(Value::Array(names)) = r.get_mut("names") {
                    names.retain(|n| !n.as_str().is_some_and(|n| denied.contains(n)));
                    if names.is_empty() {
                        continue;
                    }
                }
            }
            rules.push(r);
        }
    }
    if permissive(&v["defaultAction"]) {
        rules.push(json!({"names": DENIED_SYSCALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}));
    }
    v["syscalls"] = Value::Array(rules);
    serde_json::from_value(v).expect("merged profile is valid")
}

/// Extra masked paths beyond runc's defaults.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/kmsg",
    "/proc/kpagecount",
    "/proc/kpageflags",
    "/proc/kpagecgroup",
    "/proc/kallsyms",
    "/proc/config.gz",
    "/proc/sysrq-trigger",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/kernel/debug",
    "/sys/kernel/security",
];

const READONLY: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"];

/// Apply the floor to `spec` in place; returns a line per change made.
pub fn apply(spec: &mut Spec, policy: &Policy) -> Vec<String> {
    let level = effective_level(spec, policy.level);
    let mut changes = Vec::new();
    if level == Level::Compat {
        return changes;
    }
    let mut v = serde_json::to_value(&*spec).expect("spec serializes");

    // seccomp
    let linux = &mut v["linux"];
    match serde_json::from_value::<Option<LinuxSeccomp>>(linux["seccomp"].clone())
        .ok()
        .flatten()
    {
        None => {
            linux["seccomp"] = serde_json::to_value(default_profile()).expect("serializes");
            changes.push(DEFAULT_SECCOMP_CHANGE.to_string());
        }
        Some(s) => {
            let merged = merge_denials(&s);
            if merged != s {
                linux["seccomp"] = serde_json::to_value(merged).expect("serializes");
                changes.push("seccomp: moat deny-list merged into the config's profile".into());
            }
        }
    }

    // capabilities
    let allowed: HashSet<String> = policy
        .allow_capabilities
        .iter()
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if let Some(caps) = v["process"]
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    {
        let mut dropped = HashSet::new();
        for (_set, list) in caps.iter_mut() {
            if let Value::Array(names) = list {
                names.retain(|n| {
                    let n = n.as_str().unwrap_or("");
                    let deny = DENIED_CAPS.contains(&n) && !allowed.contains(n);
                    if deny {
                        dropped.insert(n.to_string());
                    }
                    !deny
                });
            }
        }
        // CVE-2022-29162: an inheritable set lets file capabilities of a
        // binary in the image exceed what the container was given.
        if caps
            .get("inheritable")
            .and_then(|v| v.as_array())
            .is_some_and(|a| !a.is_empty())
        {
            caps.insert("inheritable".into(), json!([]));
            changes.push("capabilities: inheritable set emptied".into());
        }
        if !dropped.is_empty() {
            let mut d: Vec<String> = dropped.into_iter().collect();
            d.sort();
            changes.push(format!("capabilities: dropped {}", d.join(",")));
        }
    }
    if v["process"]["noNewPrivileges"] != json!(true) {
        v["process"]["noNewPrivileges"] = json!(true);
        changes.push("noNewPrivileges: forced".into());
    }

    if level == Level::Hardened {
        harden(&mut v, policy, &mut changes);
    }
    *spec = serde_json::from_value(v).expect("floored spec is valid");
    changes
}

fn harden(v: &mut Value, policy: &Policy, changes: &mut Vec<String>) {
    let linux = &mut v["linux"];
    let add_paths = |linux: &mut Value, key: &str, extra: &[&str], changes: &mut Vec<String>| {
        let mut list: Vec<Value> = linux[key].as_array().cloned().unwrap_or_default();
        let mut added = Vec::new();
        for p in extra {
            if !list.iter().any(|x| x == p) {
                list.push(json!(p));
                added.push(*p);
            }
        }
        if !added.is_empty() {
            changes.push(format!("{key}: added {}", added.join(",")));
        }
        linux[key] = Value::Array(list);
    };
    add_paths(linux, "maskedPaths", MASKED, changes);
    add_paths(linux, "readonlyPaths", READONLY, changes);

    // Every namespace kind but network (the caller's choice) is private.
    let mut ns: Vec<Value> = linux["namespaces"].as_array().cloned().unwrap_or_default();
    let have: HashSet<String> = ns
        .iter()
        .filter_map(|n| n["type"].as_str().map(String::from))
        .collect();
    for t in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ] {
        let name = serde_json::to_value(t)
            .expect("ns type")
            .as_str()
            .unwrap_or("")
            .to_string();
        if !have.contains(&name) {
            ns.push(json!({"type": name}));
            changes.push(format!("namespaces: added {name}"));
        }
    }
    linux["namespaces"] = Value::Array(ns);

    // Limits.
    if policy.pids_limit > 0 && linux["resources"]["pids"]["limit"].as_i64().unwrap_or(0) <= 0 {
        linux["resources"]["pids"] = json!({"limit": policy.pids_limit});
        changes.push(format!("pids limit: {}", policy.pids_limit));
    }
    if policy.memory_limit > 0 && linux["resources"]["memory"]["limit"].as_i64().unwrap_or(0) <= 0 {
        linux["resources"]["memory"]["limit"] = json!(policy.memory_limit);
        changes.push(format!("memory limit: {}", policy.memory_limit));
    }

    // /sys read-only.
    if let Some(Value::Array(mounts)) = v.get_mut("mounts") {
        for m in mounts.iter_mut() {
            if m["type"] == "sysfs" {
                let opts = m["options"].as_array().cloned().unwrap_or_default();
                if !opts.iter().any(|o| o == "ro") {
                    let mut opts: Vec<Value> = opts.into_iter().filter(|o| o != "rw").collect();
                    opts.push(json!("ro"));
                    m["options"] = Value::Array(opts);
                    changes.push("mounts: /sys read-only".into());
                }
            }
        }
    }
}

/// Does the floor give this container a private user namespace? (Hardened,
/// enabled by the host, and the config has none of its own.)
pub fn wants_private_userns(spec: &Spec, policy: &Policy) -> bool {
    effective_level(spec, policy.level) == Level::Hardened
        && policy.userns
        && !spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}

/// Add a new user namespace mapping container ids 0..size to the host
/// ranges starting at `uid`/`gid`.
pub fn set_userns(spec: &mut Spec, uid: u32, gid: u32, size: u32) {
    let mut v = serde_json::to_value(&*spec).expect("spec serializes");
    let linux = &mut v["linux"];
    let mut ns = linux["namespaces"].as_array().cloned().unwrap_or_default();
    ns.push(json!({"type": "user"}));
    linux["namespaces"] = Value::Array(ns);
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": size}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": size}]);
    *spec = serde_json::from_value(v).expect("spec with userns is valid");
}

/// Join the user namespace at `path` (a pod sandbox's, floor-made: container
/// ids 0..size at host `uid`/`gid`), recording its maps.
pub fn join_userns(spec: &mut Spec, path: &std::path::Path, uid: u32, gid: u32, size: u32) {
    set_userns(spec, uid, gid, size);
    let mut v = serde_json::to_value(&*spec).expect("spec serializes");
    if let Some(ns) = v["linux"]["namespaces"].as_array_mut() {
        if let Some(u) = ns.iter_mut().rev().find(|n| n["type"] == "user") {
            u["path"] = json!(path);
        }
    }
    *spec = serde_json::from_value(v).expect("spec with userns is valid");
}

/// A tenant's annotation may raise the level, never lower it.
pub fn effective_level(spec: &Spec, host: Level) -> Level {
    let asked = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(LEVEL_ANNOTATION))
        .and_then(|s| s.parse::<Level>().ok());
    match asked {
        Some(l) if l > host => l,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runc_spec() -> Spec {
        serde_json::from_str(&crate::template::default_spec_json(false, 0, 0)).unwrap()
    }

    #[test]
    fn compat_changes_nothing() {
        let mut s = runc_spec();
        let before = serde_json::to_value(&s).unwrap();
        let p = Policy {
            level: Level::Compat,
            ..Policy::default()
        };
        assert!(apply(&mut s, &p).is_empty());
        assert_eq!(serde_json::to_value(&s).unwrap(), before);
    }

    #[test]
    fn hardened_floor_on_runc_spec() {
        let mut s = runc_spec();
        let changes = apply(&mut s, &Policy::default());
        assert!(!changes.is_empty());
        let l = s.linux().as_ref().unwrap();
        assert!(l.seccomp().is_some());
        assert_eq!(
            s.process().as_ref().unwrap().no_new_privileges(),
            Some(true)
        );
        let masked = l.masked_paths().as_ref().unwrap();
        assert!(masked.contains(&"/proc/kallsyms".to_string()));
        let ns: Vec<_> = l
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(ns.contains(&LinuxNamespaceType::Cgroup));
        let r = l.resources().as_ref().unwrap();
        assert_eq!(r.pids().as_ref().unwrap().limit(), 4096);
        // Applying twice changes nothing more: the floor is idempotent.
        assert!(apply(&mut s, &Policy::default()).is_empty());
    }

    #[test]
    fn denied_caps_leave_every_set_unless_host_allows() {
        let mut s = runc_spec();
        let mut v = serde_json::to_value(&s).unwrap();
        for set in ["bounding", "effective", "permitted"] {
            v["process"]["capabilities"][set] = json!(["CAP_SYS_ADMIN", "CAP_NET_RAW", "CAP_BPF"]);
        }
        s = serde_json::from_value(v).unwrap();
        let p = Policy {
            allow_capabilities: vec!["CAP_BPF".into()],
            ..Policy::default()
        };
        apply(&mut s, &p);
        let v = serde_json::to_value(&s).unwrap();
        let mut got: Vec<String> =
            serde_json::from_value(v["process"]["capabilities"]["bounding"].clone()).unwrap();
        got.sort();
        assert_eq!(got, vec!["CAP_BPF".to_string(), "CAP_NET_RAW".to_string()]);
    }

    #[test]
    fn config_profile_gets_denials_merged() {
        let prof: LinuxSeccomp = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["keyctl", "getpid"], "action": "SCMP_ACT_ALLOW"}]
        }))
        .unwrap();
        let m = serde_json::to_value(merge_denials(&prof)).unwrap();
        assert_eq!(m["syscalls"][0]["names"], json!(["getpid"]));
        assert!(m["syscalls"][1]["names"]
            .as_array()
            .unwrap()
            .contains(&json!("keyctl")));
    }

    #[test]
    fn tenant_annotation_only_tightens() {
        let mut s = runc_spec();
        let mut a = std::collections::HashMap::new();
        a.insert(LEVEL_ANNOTATION.to_string(), "compat".to_string());
        s.set_annotations(Some(a.clone()));
        assert_eq!(effective_level(&s, Level::Hardened), Level::Hardened);
        a.insert(LEVEL_ANNOTATION.to_string(), "hardened".to_string());
        s.set_annotations(Some(a));
        assert_eq!(effective_level(&s, Level::Compat), Level::Hardened);
    }

    #[test]
    fn default_profile_has_no_denied_syscall() {
        for d in DENIED_SYSCALLS {
            assert!(!ALLOWED.contains(d), "{d} is both allowed and denied");
        }
    }

    #[test]
    fn policy_file_parses() {
        let p = Policy::from_toml("level = \"baseline\"\npids_limit = 100\n").unwrap();
        assert_eq!(p.level, Level::Baseline);
        assert_eq!(p.pids_limit, 100);
        assert_eq!(p.memory_limit, Policy::default().memory_limit);
        assert!(Policy::from_toml("nope = 1").is_err());
    }
}
