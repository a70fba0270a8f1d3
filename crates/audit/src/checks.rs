//! The check catalogue and the verdict functions (pure: JSON observations in, verdicts out).
//!
//! Inputs ([`Observations`]):
//! * `a` — the JSON printed by `moat-audit-probe tenant-a` inside the audited container;
//! * `b` — tenant B as seen by the auditor: its "ready" line, its uid_map and its cgroup
//!   limits read from the host (`/proc/<pid>/…`, `/sys/fs/cgroup/…`);
//! * `host` — the auditor's own namespaces, hostname and interfaces, the host block device
//!   used for the mknod check, and `baseline`: the same syscall attempts made on the host, so
//!   that a syscall this kernel does not have is reported `skipped`, never `blocked`.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    /// Weight in the score.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Critical => 10,
            Severity::High => 5,
            Severity::Medium => 2,
            Severity::Low => 1,
        }
    }

    fn lower(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Blocked,
    Exposed,
    Skipped(String),
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Blocked => "blocked",
            Verdict::Exposed => "EXPOSED",
            Verdict::Skipped(_) => "skipped",
        }
    }
}

/// One check of the catalogue.
#[derive(Debug)]
pub struct CheckDef {
    pub id: &'static str,
    pub category: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    /// What an exposed verdict means for a tenant.
    pub meaning: &'static str,
    pub remedy: &'static str,
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: &'static str,
    pub category: &'static str,
    pub title: &'static str,
    pub verdict: Verdict,
    /// The catalogue's severity, lowered one step where the exposure is confined to a private
    /// user namespace.
    pub severity: Severity,
    pub evidence: String,
    pub meaning: &'static str,
    pub remedy: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub host: Value,
    pub a: Value,
    pub b: Value,
}

macro_rules! check {
    ($id:expr, $cat:expr, $sev:ident, $title:expr, $meaning:expr, $remedy:expr) => {
        CheckDef {
            id: $id,
            category: $cat,
            severity: Severity::$sev,
            title: $title,
            meaning: $meaning,
            remedy: $remedy,
        }
    };
}

const SECCOMP_FIX: &str = "load a seccomp profile that refuses it (moat's default profile, \
    Docker's default profile), or drop the capability that gates it";

/// The catalogue, in report order.
pub const CHECKS: &[CheckDef] = &[
    // ---- privileges
    check!("priv.cap_sys_admin", "privileges", Critical, "CAP_SYS_ADMIN in the effective set",
        "mount, namespaces, BPF, many ioctls: the capability behind most container escapes",
        "drop CAP_SYS_ADMIN (process.capabilities); grant it only inside a private user namespace"),
    check!("priv.cap_sys_ptrace", "privileges", High, "CAP_SYS_PTRACE in the effective set",
        "can read and write the memory of every process it can see, including other tenants' when PIDs are shared",
        "drop CAP_SYS_PTRACE"),
    check!("priv.cap_sys_module", "privileges", Critical, "CAP_SYS_MODULE in the effective set",
        "can load kernel modules: full kernel control",
        "drop CAP_SYS_MODULE"),
    check!("priv.cap_net_admin", "privileges", High, "CAP_NET_ADMIN in the effective set",
        "can reconfigure interfaces, routes and firewall of its network namespace (the host's if shared)",
        "drop CAP_NET_ADMIN"),
    check!("priv.cap_net_raw", "privileges", Medium, "CAP_NET_RAW in the effective set",
        "raw sockets: ARP/ICMP spoofing of neighbours on the same bridge",
        "drop CAP_NET_RAW (ping works through ping_group_range)"),
    check!("priv.cap_dac_read_search", "privileges", Critical, "CAP_DAC_READ_SEARCH in the effective set",
        "open_by_handle_at reaches files outside the rootfs by inode (the 'shocker' escape)",
        "drop CAP_DAC_READ_SEARCH"),
    check!("priv.cap_sys_rawio", "privileges", Critical, "CAP_SYS_RAWIO in the effective set",
        "raw I/O ports and /dev/mem-style access",
        "drop CAP_SYS_RAWIO"),
    check!("priv.cap_bpf_perfmon", "privileges", High, "CAP_BPF or CAP_PERFMON in the effective set",
        "loads BPF programs / reads perf events: kernel attack surface and host-wide tracing",
        "drop CAP_BPF and CAP_PERFMON"),
    check!("priv.cap_syslog", "privileges", Medium, "CAP_SYSLOG in the effective set",
        "reads the kernel log and real kernel addresses (KASLR bypass)",
        "drop CAP_SYSLOG"),
    check!("priv.bounding_sys_admin", "privileges", High, "CAP_SYS_ADMIN in the bounding set without no_new_privs",
        "a setuid or file-capability binary in the image can gain CAP_SYS_ADMIN later",
        "drop it from the bounding set or set noNewPrivileges"),
    check!("priv.inheritable_caps", "privileges", Medium, "non-empty inheritable capability set",
        "file capabilities of images can be raised by non-root processes (CVE-2022-29162)",
        "leave process.capabilities.inheritable empty"),
    check!("priv.no_new_privs", "privileges", Medium, "no_new_privs not set",
        "setuid binaries and file capabilities in the image still raise privileges",
        "set process.noNewPrivileges = true"),
    check!("priv.seccomp", "privileges", High, "no seccomp filter",
        "the whole syscall table (400+ entry points) is reachable: every kernel bug is a potential escape",
        "load a seccomp filter (moat does by default)"),
    check!("priv.uid0", "privileges", Low, "process runs as uid 0 in the container",
        "root in the container: combined with any other gap, root on the host",
        "run as a non-root user, or map root to an unprivileged host uid"),
    // ---- dangerous syscalls (harmless arguments)
    check!("sys.keyctl", "syscalls", Medium, "keyctl reachable",
        "kernel keyrings are not namespaced: keys of other tenants may be found or exhausted",
        SECCOMP_FIX),
    check!("sys.userfaultfd", "syscalls", Medium, "userfaultfd reachable",
        "the classic primitive to win kernel race conditions",
        SECCOMP_FIX),
    check!("sys.perf_event_open", "syscalls", Medium, "perf_event_open reachable",
        "large, bug-rich kernel surface; host-wide side channels",
        SECCOMP_FIX),
    check!("sys.io_uring_setup", "syscalls", High, "io_uring reachable",
        "io_uring is the most frequent source of recent kernel LPEs",
        SECCOMP_FIX),
    check!("sys.bpf", "syscalls", High, "bpf reachable",
        "verifier bugs are kernel escapes",
        SECCOMP_FIX),
    check!("sys.init_module", "syscalls", Critical, "init_module reachable",
        "kernel modules can be loaded",
        SECCOMP_FIX),
    check!("sys.unshare_user", "syscalls", High, "unshare(CLONE_NEWUSER) allowed",
        "a nested user namespace gives full capabilities over new namespaces: most of the kernel's privileged code becomes reachable",
        SECCOMP_FIX),
    check!("sys.mount", "syscalls", High, "mount reachable with privilege",
        "can mount filesystems (procfs, cgroupfs, tmpfs…) over its view or probe filesystem drivers",
        SECCOMP_FIX),
    check!("sys.fsopen", "syscalls", High, "new mount API (fsopen) reachable with privilege",
        "filesystem contexts can be created: filesystem-driver attack surface",
        SECCOMP_FIX),
    check!("sys.ptrace", "syscalls", Low, "ptrace reachable",
        "can trace processes it can see (own ones at least); kernel ptrace surface",
        SECCOMP_FIX),
    check!("sys.kexec_load", "syscalls", Critical, "kexec_load reachable with privilege",
        "can replace the running kernel",
        SECCOMP_FIX),
    check!("sys.reboot", "syscalls", High, "reboot reachable with privilege",
        "can reboot or power off the host (or its PID namespace)",
        SECCOMP_FIX),
    check!("sys.syslog", "syscalls", Medium, "kernel log (syslog) readable",
        "the kernel log leaks addresses, hardware and other tenants' events",
        "drop CAP_SYSLOG; keep kernel.dmesg_restrict = 1"),
    check!("sys.open_by_handle_at", "syscalls", Critical, "open_by_handle_at reachable with privilege",
        "opens host files by handle, bypassing the rootfs (shocker)",
        SECCOMP_FIX),
    // ---- kernel interfaces
    check!("kern.proc_kcore", "kernel", Critical, "/proc/kcore readable",
        "reads physical memory of the host: every tenant's secrets",
        "mask /proc/kcore (linux.maskedPaths)"),
    check!("kern.core_pattern_writable", "kernel", Critical, "/proc/sys/kernel/core_pattern opens for writing",
        "core_pattern runs a program as host root on any crash: a direct escape",
        "mount /proc/sys read-only (linux.readonlyPaths)"),
    check!("kern.sysrq_trigger", "kernel", Critical, "/proc/sysrq-trigger opens for writing",
        "can crash, reboot or freeze the host",
        "read-only or mask /proc/sysrq-trigger"),
    check!("kern.sys_writable", "kernel", High, "/sys opens for writing",
        "host-wide kernel settings (memory management, devices) can be changed",
        "mount sysfs read-only"),
    check!("kern.kallsyms", "kernel", Medium, "/proc/kallsyms shows real addresses",
        "defeats KASLR: makes kernel exploits reliable",
        "mask /proc/kallsyms, drop CAP_SYSLOG, kernel.kptr_restrict = 2"),
    check!("kern.timer_list", "kernel", Low, "/proc/timer_list readable",
        "host-wide timers and task names of other tenants",
        "mask /proc/timer_list"),
    check!("kern.release_agent", "kernel", Critical, "a cgroup v1 release_agent opens for writing",
        "release_agent runs a program as host root (CVE-2022-0492 style escape)",
        "mount cgroupfs read-only and only the container's own subtree (cgroup namespace)"),
    check!("kern.cgroupfs_writable", "kernel", High, "cgroupfs writable (cgroup.procs opens for writing)",
        "can move itself out of its limits or into other groups",
        "mount cgroupfs read-only"),
    // ---- devices
    check!("dev.block_devices", "devices", Critical, "host block devices open from /dev",
        "raw access to host disks: read every tenant's data",
        "do not pass host devices; keep the device cgroup deny-by-default"),
    check!("dev.mknod", "devices", Low, "mknod allowed",
        "device nodes can be created (only the device cgroup stands between them and the hardware)",
        "drop CAP_MKNOD"),
    check!("dev.mknod_block_open", "devices", Critical, "a node for the host disk can be made and opened",
        "the device cgroup does not stop raw disk access",
        "drop CAP_MKNOD and keep the device cgroup deny-by-default"),
    // ---- resources (read from the host, on tenant B)
    check!("res.pids_limit", "resources", High, "no pids limit",
        "a fork bomb exhausts the host's PIDs: denial of service for every tenant",
        "set linux.resources.pids.limit (moat sets a default)"),
    check!("res.memory_limit", "resources", High, "no memory limit",
        "one tenant can push the whole host into OOM",
        "set linux.resources.memory.limit"),
    // ---- identity
    check!("id.host_root", "identity", Critical, "container root is host root (uid 0 maps to host uid 0)",
        "any escape lands as host root",
        "use a user namespace mapping root to an unprivileged host range"),
    check!("id.host_userns", "identity", High, "shares the host user namespace",
        "capabilities held are capabilities over the host",
        "use a user namespace (moat's hardened floor allocates one per container)"),
    // ---- runtime leaks
    check!("rt.leaked_fds", "runtime", Critical, "file descriptors beyond stdio leaked into the container",
        "a leaked directory fd is a path out of the rootfs (CVE-2024-21626)",
        "close every fd above stdio before execve (close_range)"),
    check!("rt.runtime_exe_writable", "runtime", Critical, "a runtime binary is reachable and opens for writing",
        "overwriting the runtime binary gives code execution as host root on the next container (CVE-2019-5736)",
        "run the runtime from a read-only or sealed copy; do not share PID namespaces with the host"),
    // ---- information leaks
    check!("info.host_pidns", "information", High, "shares the host PID namespace",
        "sees (and with privileges, signals and traces) every host process",
        "use a PID namespace"),
    check!("info.host_netns", "information", High, "shares the host network namespace",
        "sees host interfaces and can reach services bound to the host's loopback",
        "use a network namespace"),
    check!("info.host_uts", "information", Low, "shares the host hostname (UTS namespace)",
        "learns (and with CAP_SYS_ADMIN changes) the host's name",
        "use a UTS namespace"),
    check!("info.host_ipcns", "information", High, "shares the host IPC namespace",
        "SysV shm, semaphores and message queues of the host and other tenants",
        "use an IPC namespace"),
    check!("info.host_cgroupns", "information", Low, "shares the host cgroup namespace",
        "/proc/self/cgroup shows the host's cgroup layout (container ids, orchestration)",
        "use a cgroup namespace"),
    // ---- cross-tenant A -> B
    check!("xt.see_processes", "cross-tenant", High, "A sees B's processes",
        "another tenant's process list, command lines and identity are visible",
        "one PID namespace per container"),
    check!("xt.read_root", "cross-tenant", Critical, "A reads B's files through /proc/<pid>/root",
        "another tenant's files are readable",
        "PID namespaces, user namespaces with distinct host ids, no CAP_SYS_PTRACE"),
    check!("xt.read_environ", "cross-tenant", Critical, "A reads B's environment (/proc/<pid>/environ)",
        "another tenant's secrets passed as environment variables are readable",
        "PID namespaces, distinct host ids"),
    check!("xt.mem_open", "cross-tenant", Critical, "A opens B's memory (/proc/<pid>/mem)",
        "another tenant's memory can be read and written",
        "PID namespaces, distinct host ids, no CAP_SYS_PTRACE"),
    check!("xt.signal", "cross-tenant", High, "A may signal B (kill with signal 0)",
        "another tenant's processes can be killed or stopped",
        "PID namespaces, distinct host ids"),
    check!("xt.shm", "cross-tenant", High, "A attaches B's SysV shared memory by key",
        "another tenant's shared memory is readable",
        "one IPC namespace per container"),
    check!("xt.abstract_socket", "cross-tenant", High, "A connects to B's abstract unix socket",
        "abstract sockets have no file permissions: another tenant's local services are reachable",
        "one network namespace per container"),
    check!("xt.tcp_loopback", "cross-tenant", High, "A connects to B's TCP listener on 127.0.0.1",
        "another tenant's loopback-only services (admin ports, databases) are reachable",
        "one network namespace per container"),
    check!("xt.shared_host_uid", "cross-tenant", Critical, "A and B run as the same host uids",
        "a process escaping one tenant owns the other tenant's files and processes",
        "a user namespace per container with disjoint host id ranges (moat's hardened floor)"),
    check!("xt.shared_keyring", "cross-tenant", Medium, "A and B share a session keyring",
        "keys (credentials, tickets) of another tenant are reachable",
        "a new session keyring per container (runc/moat default; do not use --no-new-keyring)"),
];

pub fn def(id: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|c| c.id == id)
}

// ---------------------------------------------------------------------------------------------
// helpers

/// Errnos that mean "the kernel (or a filter) refused before doing anything".
pub fn is_refusal(r: &str) -> bool {
    matches!(r, "EPERM" | "EACCES" | "ENOSYS" | "ENOSPC" | "EROFS")
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

fn caps(a: &Value, set: &str) -> Option<u64> {
    a["status"][set]
        .as_str()
        .and_then(|h| u64::from_str_radix(h, 16).ok())
}

/// Parses uid_map lines "inside outside count" into (inside, outside, count).
pub fn parse_map(v: &Value) -> Vec<(u64, u64, u64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|l| {
                    let n: Vec<u64> = l
                        .split_whitespace()
                        .filter_map(|x| x.parse().ok())
                        .collect();
                    (n.len() == 3).then(|| (n[0], n[1], n[2]))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Host id ranges `[outside, outside+count)` shared by two maps.
pub fn host_ranges_overlap(a: &[(u64, u64, u64)], b: &[(u64, u64, u64)]) -> Option<(u64, u64)> {
    for &(_, ao, ac) in a {
        for &(_, bo, bc) in b {
            let lo = ao.max(bo);
            let hi = (ao + ac).min(bo + bc);
            if lo < hi {
                return Some((lo, hi - lo));
            }
        }
    }
    None
}

/// A cgroup limit value: `None` = unlimited ("max", or cgroup v1's page-rounded i64::MAX).
pub fn parse_limit(v: &str) -> Option<u64> {
    let v = v.trim();
    if v == "max" {
        return None;
    }
    match v.parse::<u64>() {
        Ok(n) if n >= (1u64 << 62) => None,
        Ok(n) => Some(n),
        Err(_) => None,
    }
}

/// True when the container lives in a private user namespace (so capabilities are over that
/// namespace only).
fn private_userns(o: &Observations) -> bool {
    match (s(&o.a["ns"]["user"]), s(&o.host["ns"]["user"])) {
        (Some(a), Some(h)) => a != h,
        _ => false,
    }
}

type V = (Verdict, String);

fn exposed(e: impl Into<String>) -> V {
    (Verdict::Exposed, e.into())
}
fn blocked(e: impl Into<String>) -> V {
    (Verdict::Blocked, e.into())
}
fn skipped(why: impl Into<String>) -> V {
    let w = why.into();
    (Verdict::Skipped(w.clone()), w)
}

fn cap_check(o: &Observations, bits: &[(u32, &str)]) -> V {
    let Some(eff) = caps(&o.a, "capeff") else {
        return skipped("CapEff not readable");
    };
    let held: Vec<&str> = bits
        .iter()
        .filter(|(b, _)| eff & (1u64 << b) != 0)
        .map(|(_, n)| *n)
        .collect();
    if held.is_empty() {
        blocked(format!("CapEff={eff:016x}: not held"))
    } else {
        let scope = if private_userns(o) {
            " (over a private user namespace)"
        } else {
            " (host user namespace)"
        };
        exposed(format!("CapEff={eff:016x} holds {}{scope}", held.join(",")))
    }
}

fn syscall_check(o: &Observations, name: &str) -> V {
    let base = s(&o.host["baseline"][name]);
    match base {
        Some("ENOSYS") => {
            return skipped(format!(
                "this kernel has no {name} (ENOSYS on the host itself): cannot be tested here"
            ))
        }
        Some(r) if r == "EPERM" || r == "EACCES" => {
            return skipped(format!(
                "{name} is refused to root on the host itself ({r}): cannot be tested here"
            ))
        }
        _ => {}
    }
    match s(&o.a["syscalls"][name]) {
        None => skipped(format!("{name} not probed")),
        Some(r) if is_refusal(r) => blocked(format!("{name} → {r}")),
        Some(r) => exposed(format!(
            "{name} (harmless arguments) → {r}: the call reaches the kernel"
        )),
    }
}

fn open_w_check(v: &Value, what: &str) -> V {
    match s(v) {
        None => skipped(format!("{what}: not probed")),
        Some("ok") => exposed(format!(
            "{what}: open(O_WRONLY) succeeded (nothing written)"
        )),
        Some(r) => blocked(format!("{what}: open(O_WRONLY) → {r}")),
    }
}

fn ns_check(o: &Observations, ns: &str) -> V {
    match (s(&o.a["ns"][ns]), s(&o.host["ns"][ns])) {
        (Some(a), Some(h)) if a == h => exposed(format!("{a} is the host's")),
        (Some(a), Some(h)) => blocked(format!("{a} (host {h})")),
        (None, _) => skipped(format!("{ns} namespace of the container not readable")),
        (_, None) => skipped(format!("{ns} namespace of the host not readable")),
    }
}

fn b_failed(o: &Observations) -> Option<String> {
    if let Some(e) = s(&o.b["error"]) {
        return Some(format!("tenant B did not start: {e}"));
    }
    if o.b["ready"]["ready"] != Value::Bool(true) {
        return Some("tenant B never reported ready".into());
    }
    None
}

fn cross_check(o: &Observations, key: &str, needs: Option<&str>, what: &str) -> V {
    if let Some(e) = b_failed(o) {
        return skipped(e);
    }
    if let Some(n) = needs {
        match s(&o.b["ready"][n]) {
            Some("ok") => {}
            Some(r) => return skipped(format!("tenant B could not set up its {n}: {r}")),
            None => return skipped(format!("tenant B did not report its {n}")),
        }
    }
    let pid = &o.a["cross"]["target_pid"];
    match s(&o.a["cross"][key]) {
        None => skipped(format!("{key} not probed")),
        Some("ok") => exposed(format!("{what} (B pid {pid} as seen by A): got B's secret")),
        Some(r) => blocked(format!("{what} → {r}")),
    }
}

/// The host kernel interface a check needs, when it needs one.
fn host_file_of(id: &str) -> Option<&'static str> {
    Some(match id {
        "kern.proc_kcore" => "/proc/kcore",
        "kern.sysrq_trigger" => "/proc/sysrq-trigger",
        "kern.kallsyms" => "/proc/kallsyms",
        "kern.timer_list" => "/proc/timer_list",
        "kern.core_pattern_writable" => "/proc/sys/kernel/core_pattern",
        _ => return None,
    })
}

fn evaluate_one(id: &str, o: &Observations) -> V {
    let a = &o.a;
    if let Some(f) = host_file_of(id) {
        if o.host["files"][f] == Value::Bool(false) {
            return skipped(format!(
                "this kernel has no {f} (absent on the host itself): cannot be tested here"
            ));
        }
    }
    if id == "dev.block_devices" || id == "dev.mknod_block_open" {
        if let Some(r) = s(&o.host["disk"]["open_r"]).filter(|r| *r != "ok") {
            let (v, e) = evaluate_dev(id, o);
            if v != Verdict::Exposed {
                return skipped(format!(
                    "host root itself cannot open /dev/{} ({r}; an outer device policy): cannot be tested here [{e}]",
                    s(&o.host["disk"]["name"]).unwrap_or("?")
                ));
            }
            return (v, e);
        }
    }
    match id {
        "priv.cap_sys_admin" => cap_check(o, &[(21, "CAP_SYS_ADMIN")]),
        "priv.cap_sys_ptrace" => cap_check(o, &[(19, "CAP_SYS_PTRACE")]),
        "priv.cap_sys_module" => cap_check(o, &[(16, "CAP_SYS_MODULE")]),
        "priv.cap_net_admin" => cap_check(o, &[(12, "CAP_NET_ADMIN")]),
        "priv.cap_net_raw" => cap_check(o, &[(13, "CAP_NET_RAW")]),
        "priv.cap_dac_read_search" => cap_check(o, &[(2, "CAP_DAC_READ_SEARCH")]),
        "priv.cap_sys_rawio" => cap_check(o, &[(17, "CAP_SYS_RAWIO")]),
        "priv.cap_bpf_perfmon" => cap_check(o, &[(39, "CAP_BPF"), (38, "CAP_PERFMON")]),
        "priv.cap_syslog" => cap_check(o, &[(34, "CAP_SYSLOG")]),
        "priv.bounding_sys_admin" => {
            let (Some(bnd), Some(nnp)) = (caps(a, "capbnd"), a["status"]["no_new_privs"].as_bool())
            else {
                return skipped("CapBnd / NoNewPrivs not readable");
            };
            if bnd & (1 << 21) == 0 {
                blocked(format!(
                    "CapBnd={bnd:016x}: CAP_SYS_ADMIN not in the bounding set"
                ))
            } else if nnp {
                blocked(format!(
                    "CapBnd={bnd:016x} has CAP_SYS_ADMIN but no_new_privs is set"
                ))
            } else {
                exposed(format!(
                    "CapBnd={bnd:016x} has CAP_SYS_ADMIN and no_new_privs is off"
                ))
            }
        }
        "priv.inheritable_caps" => match caps(a, "capinh") {
            None => skipped("CapInh not readable"),
            Some(0) => blocked("CapInh=0"),
            Some(i) => exposed(format!("CapInh={i:016x}")),
        },
        "priv.no_new_privs" => match a["status"]["no_new_privs"].as_bool() {
            None => skipped("NoNewPrivs not readable"),
            Some(true) => blocked("NoNewPrivs: 1"),
            Some(false) => exposed("NoNewPrivs: 0"),
        },
        "priv.seccomp" => match a["status"]["seccomp"].as_u64() {
            None => skipped("Seccomp field not readable"),
            Some(2) => blocked("Seccomp: 2 (filter)"),
            Some(m) => exposed(format!("Seccomp: {m}")),
        },
        "priv.uid0" => match a["status"]["euid"].as_u64() {
            None => skipped("uid not readable"),
            Some(0) => exposed("euid 0"),
            Some(u) => blocked(format!("euid {u}")),
        },
        "sys.keyctl" => syscall_check(o, "keyctl"),
        "sys.userfaultfd" => syscall_check(o, "userfaultfd"),
        "sys.perf_event_open" => syscall_check(o, "perf_event_open"),
        "sys.io_uring_setup" => syscall_check(o, "io_uring_setup"),
        "sys.bpf" => syscall_check(o, "bpf"),
        "sys.init_module" => syscall_check(o, "init_module"),
        "sys.unshare_user" => syscall_check(o, "unshare_user"),
        "sys.mount" => syscall_check(o, "mount"),
        "sys.fsopen" => syscall_check(o, "fsopen"),
        "sys.ptrace" => syscall_check(o, "ptrace"),
        "sys.kexec_load" => syscall_check(o, "kexec_load"),
        "sys.reboot" => syscall_check(o, "reboot"),
        "sys.syslog" => syscall_check(o, "syslog"),
        "sys.open_by_handle_at" => syscall_check(o, "open_by_handle_at"),
        "kern.proc_kcore" => {
            let k = &a["kernel"]["kcore"];
            match (s(&k["open"]), s(&k["kind"])) {
                (None, _) => skipped("not probed"),
                (Some("ok"), Some("kcore")) => exposed("/proc/kcore opened: a non-empty kcore"),
                (Some("ok"), kind) => blocked(format!("/proc/kcore is {}", kind.unwrap_or("?"))),
                (Some(r), _) => blocked(format!("open /proc/kcore → {r}")),
            }
        }
        "kern.core_pattern_writable" => open_w_check(
            &a["kernel"]["core_pattern_w"],
            "/proc/sys/kernel/core_pattern",
        ),
        "kern.sysrq_trigger" => open_w_check(&a["kernel"]["sysrq_w"], "/proc/sysrq-trigger"),
        "kern.sys_writable" => {
            let v = &a["kernel"]["sys_w"];
            match s(&v["path"]) {
                None => blocked("none of the probed /sys files is visible"),
                Some(p) => open_w_check(&v["open_w"], p),
            }
        }
        "kern.kallsyms" => {
            let k = &a["kernel"]["kallsyms"];
            match (s(&k["open"]), k["addresses"].as_bool()) {
                (Some("ok"), Some(true)) => {
                    exposed(format!("first line: {}", s(&k["first"]).unwrap_or("")))
                }
                (Some("ok"), _) => blocked("addresses are zeroed"),
                (Some(r), _) => blocked(format!("open /proc/kallsyms → {r}")),
                (None, _) => skipped("not probed"),
            }
        }
        "kern.timer_list" => {
            let t = &a["kernel"]["timer_list"];
            match (s(&t["open"]), t["host_timers"].as_bool()) {
                (Some("ok"), Some(true)) => exposed(format!("{} bytes of host timers", t["bytes"])),
                (Some("ok"), _) => blocked("masked (empty)"),
                (Some(r), _) => blocked(format!("open → {r}")),
                (None, _) => skipped("not probed"),
            }
        }
        "kern.release_agent" | "kern.cgroupfs_writable" => {
            let key = if id == "kern.release_agent" {
                "release_agent_w"
            } else {
                "procs_w"
            };
            let Some(mounts) = a["cgroup_mounts"].as_array() else {
                return skipped("not probed");
            };
            let file = if key == "procs_w" {
                "cgroup.procs"
            } else {
                "release_agent"
            };
            let open: Vec<String> = mounts
                .iter()
                .filter(|m| s(&m[key]) == Some("ok"))
                .filter_map(|m| s(&m["mount_point"]).map(|p| format!("{p}/{file}")))
                .collect();
            let tried: Vec<String> = mounts
                .iter()
                .filter_map(|m| {
                    let r = s(&m[key])?;
                    Some(format!("{}/{file}: {r}", s(&m["mount_point"])?))
                })
                .collect();
            if !open.is_empty() {
                exposed(format!("open(O_WRONLY) succeeded: {}", open.join(", ")))
            } else if tried.is_empty() {
                blocked(format!(
                    "no {file} visible ({} cgroup mounts)",
                    mounts.len()
                ))
            } else {
                let mut t = tried;
                t.truncate(4);
                blocked(t.join("; "))
            }
        }
        "dev.block_devices" | "dev.mknod_block_open" => evaluate_dev(id, o),
        "dev.mknod" => evaluate_mknod(o),
        "res.pids_limit" | "res.memory_limit" => {
            if let Some(e) = b_failed(o) {
                return skipped(e);
            }
            let key = if id == "res.pids_limit" {
                "pids"
            } else {
                "memory"
            };
            let c = &o.b["cgroup"][key];
            match (s(&c["value"]), s(&c["file"])) {
                (Some(v), Some(f)) => match parse_limit(v) {
                    None => exposed(format!("{f} = {v}")),
                    Some(n) => blocked(format!("{f} = {n}")),
                },
                _ => skipped(format!(
                    "{key} limit of tenant B not readable from the host: {}",
                    s(&c["error"]).unwrap_or("no cgroup")
                )),
            }
        }
        "id.host_root" => {
            let m = parse_map(&a["uid_map"]);
            if m.is_empty() {
                return skipped("uid_map not readable");
            }
            match m.iter().find(|(i, _, c)| *i == 0 && *c > 0).map(|x| x.1) {
                Some(0) => exposed(format!("uid_map: {}", a["uid_map"])),
                Some(h) => blocked(format!("container root is host uid {h}")),
                None => blocked(format!("uid 0 not mapped ({})", a["uid_map"])),
            }
        }
        "id.host_userns" => ns_check(o, "user"),
        "rt.leaked_fds" => match a["fds"].as_array() {
            None => skipped("not probed"),
            Some(f) if f.is_empty() => blocked("only fds 0-2 open"),
            Some(f) => exposed(
                f.iter()
                    .map(|x| format!("fd {} → {}", x["fd"], s(&x["target"]).unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        },
        "rt.runtime_exe_writable" => match a["runtime_exes"].as_array() {
            None => skipped("not probed"),
            Some(r) if r.is_empty() => blocked("no runtime process visible"),
            Some(r) => {
                let w: Vec<String> = r
                    .iter()
                    .filter(|x| matches!(s(&x["open_w"]), Some("ok") | Some("ETXTBSY")))
                    .map(|x| {
                        format!(
                            "pid {} {} → {}",
                            x["pid"],
                            s(&x["exe"]).unwrap_or("?"),
                            s(&x["open_w"]).unwrap_or("?")
                        )
                    })
                    .collect();
                if w.is_empty() {
                    blocked(format!(
                        "{} runtime process(es) visible, exe not writable ({})",
                        r.len(),
                        r.iter()
                            .filter_map(|x| s(&x["open_w"]))
                            .collect::<Vec<_>>()
                            .join(",")
                    ))
                } else {
                    exposed(format!(
                        "{} (ETXTBSY: permission granted, only busy)",
                        w.join("; ")
                    ))
                }
            }
        },
        "info.host_pidns" => {
            let (v, e) = ns_check(o, "pid");
            (v, format!("{e}; {} processes visible", a["procs_visible"]))
        }
        "info.host_netns" => {
            let (v, e) = ns_check(o, "net");
            (v, format!("{e}; interfaces {}", a["net_ifaces"]))
        }
        "info.host_uts" => {
            let (v, e) = ns_check(o, "uts");
            match (s(&a["hostname"]), s(&o.host["hostname"])) {
                (Some(x), Some(h)) if x == h && v == Verdict::Blocked => {
                    exposed(format!("hostname {x:?} equals the host's"))
                }
                _ => (v, e),
            }
        }
        "info.host_ipcns" => ns_check(o, "ipc"),
        "info.host_cgroupns" => ns_check(o, "cgroup"),
        "xt.see_processes" => {
            if let Some(e) = b_failed(o) {
                return skipped(e);
            }
            match &a["cross"]["b_pid_found"] {
                Value::Null => blocked(format!(
                    "no process of B among the {} A sees",
                    a["procs_visible"]
                )),
                p => exposed(format!("B's probe is pid {p} in A's /proc")),
            }
        }
        "xt.read_root" => cross_check(
            o,
            "read_root",
            None,
            "read /proc/<B>/root/moat-audit-secret",
        ),
        "xt.read_environ" => cross_check(o, "read_environ", None, "read /proc/<B>/environ"),
        "xt.mem_open" => cross_check(o, "mem_open", None, "open /proc/<B>/mem"),
        "xt.signal" => {
            // signal 0 carries no secret: "ok" alone is the exposure
            if let Some(e) = b_failed(o) {
                return skipped(e);
            }
            match s(&a["cross"]["signal"]) {
                None => skipped("not probed"),
                Some("ok") => exposed(format!("kill({}, 0) succeeded", a["cross"]["target_pid"])),
                Some(r) => blocked(format!("kill({}, 0) → {r}", a["cross"]["target_pid"])),
            }
        }
        "xt.shm" => cross_check(o, "shm", Some("shm"), "shmget(B's key) + shmat(SHM_RDONLY)"),
        "xt.abstract_socket" => cross_check(
            o,
            "abstract_socket",
            Some("abstract_socket"),
            "connect(@moat-audit-<token>)",
        ),
        "xt.tcp_loopback" => {
            if let Some(e) = b_failed(o) {
                return skipped(e);
            }
            if o.b["ready"]["tcp_port"].as_u64().is_none() {
                return skipped(format!(
                    "tenant B could not listen on 127.0.0.1: {}",
                    s(&o.b["ready"]["tcp_error"]).unwrap_or("?")
                ));
            }
            cross_check(o, "tcp", None, "connect(127.0.0.1:<B's port>)")
        }
        "xt.shared_host_uid" => {
            if let Some(e) = b_failed(o) {
                return skipped(e);
            }
            let am = parse_map(&a["uid_map"]);
            let bm = parse_map(&o.b["uid_map"]);
            if am.is_empty() || bm.is_empty() {
                return skipped("uid_map of A or B not readable");
            }
            match host_ranges_overlap(&am, &bm) {
                Some((lo, n)) => exposed(format!(
                    "A {} and B {} share host uids {lo}..{}",
                    a["uid_map"],
                    o.b["uid_map"],
                    lo + n - 1
                )),
                None => blocked(format!(
                    "A {} / B {}: disjoint",
                    a["uid_map"], o.b["uid_map"]
                )),
            }
        }
        "xt.shared_keyring" => {
            if let Some(e) = b_failed(o) {
                return skipped(e);
            }
            let ak = a["syscalls"]["session_keyring"].as_i64();
            let bk = o.b["ready"]["session_keyring"].as_i64();
            match (ak, bk) {
                (Some(x), Some(y)) if x == y => exposed(format!("both in session keyring {x}")),
                (Some(x), Some(y)) => blocked(format!("A keyring {x}, B keyring {y}")),
                (None, _) => blocked(format!(
                    "A cannot use keyrings (keyctl → {})",
                    s(&a["syscalls"]["keyctl"]).unwrap_or("?")
                )),
                (Some(_), None) => skipped(format!(
                    "B's keyring unknown (keyctl → {})",
                    s(&o.b["ready"]["keyctl"]).unwrap_or("?")
                )),
            }
        }
        other => skipped(format!("no evaluator for {other}")),
    }
}

fn evaluate_dev(id: &str, o: &Observations) -> V {
    let a = &o.a;
    match id {
        "dev.block_devices" => {
            let Some(b) = a["dev"]["block"].as_array() else {
                return skipped("not probed");
            };
            let open: Vec<&str> = b
                .iter()
                .filter(|d| s(&d["open_r"]) == Some("ok"))
                .filter_map(|d| s(&d["path"]))
                .collect();
            if !open.is_empty() {
                exposed(format!("opened read-only: {}", open.join(", ")))
            } else if b.is_empty() {
                blocked("no block device nodes under /dev")
            } else {
                blocked(format!("{} block nodes present, none opens", b.len()))
            }
        }
        "dev.mknod_block_open" => {
            let m = &a["dev"]["mknod_block"];
            let dev = s(&m["device"]).unwrap_or("?");
            match (s(&m["mknod"]), s(&m["open_r"])) {
                (Some("ok"), Some("ok")) => exposed(format!(
                    "made a node for host disk {dev} and opened it read-only (removed)"
                )),
                (Some("ok"), Some(r)) => blocked(format!(
                    "mknod of {dev} allowed, open → {r} (device cgroup)"
                )),
                (Some("EPERM"), _) => blocked(format!("mknod {dev} → EPERM")),
                (Some(r), _) => skipped(format!("no writable directory for mknod ({r})")),
                (None, _) => skipped(
                    s(&m["reason"])
                        .unwrap_or("no host block device found")
                        .to_string(),
                ),
            }
        }
        _ => skipped("not a device check"),
    }
}

fn evaluate_mknod(o: &Observations) -> V {
    let a = &o.a;
    match s(&a["dev"]["mknod_char"]["result"]) {
        Some("ok") => exposed(format!(
            "mknod c 1:3 in {} succeeded (removed)",
            s(&a["dev"]["mknod_char"]["dir"]).unwrap_or("?")
        )),
        Some("EPERM") => blocked("mknod → EPERM"),
        Some(r) => skipped(format!("no writable directory to try mknod in ({r})")),
        None => skipped("not probed"),
    }
}

/// Every check of [`CHECKS`] against one set of observations.
pub fn evaluate(o: &Observations) -> Vec<CheckResult> {
    let a_error = if o.a.is_null() {
        Some("the probe did not run".to_string())
    } else {
        s(&o.a["error"]).map(|e| format!("the probe did not run: {e}"))
    };
    let private = private_userns(o);
    CHECKS
        .iter()
        .map(|d| {
            let (verdict, evidence) = match &a_error {
                Some(e) => skipped(e.clone()),
                None => evaluate_one(d.id, o),
            };
            let severity = if private && d.category == "privileges" && d.id.starts_with("priv.cap_")
            {
                d.severity.lower()
            } else {
                d.severity
            };
            CheckResult {
                id: d.id,
                category: d.category,
                title: d.title,
                verdict,
                severity,
                evidence,
                meaning: d.meaning,
                remedy: d.remedy,
            }
        })
        .collect()
}

/// Summary: (exposed, blocked, skipped, score 0-100 where 100 = nothing exposed among the
/// checks that could be run, weighted by severity).
pub fn score(results: &[CheckResult]) -> (usize, usize, usize, u32) {
    let mut e = 0;
    let mut b = 0;
    let mut sk = 0;
    let mut total = 0u32;
    let mut bad = 0u32;
    for r in results {
        match r.verdict {
            Verdict::Exposed => {
                e += 1;
                total += r.severity.weight();
                bad += r.severity.weight();
            }
            Verdict::Blocked => {
                b += 1;
                total += r.severity.weight();
            }
            Verdict::Skipped(_) => sk += 1,
        }
    }
    let score = if total == 0 {
        0
    } else {
        100 - (bad * 100).div_ceil(total)
    };
    (e, b, sk, score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn host() -> Value {
        json!({
            "ns": {"pid": "pid:[1]", "net": "net:[2]", "ipc": "ipc:[3]", "uts": "uts:[4]",
                   "user": "user:[5]", "cgroup": "cgroup:[6]", "mnt": "mnt:[7]"},
            "hostname": "host",
            "baseline": {"keyctl": "ok", "kexec_load": "ENOSYS", "bpf": "EINVAL", "mount": "ENODEV"},
        })
    }

    fn open_a() -> Value {
        json!({
            "status": {"capeff": "000001ffffffffff", "capbnd": "000001ffffffffff",
                       "capinh": "000001ffffffffff", "no_new_privs": false, "seccomp": 0, "euid": 0},
            "uid_map": ["0 0 4294967295"],
            "ns": host()["ns"].clone(),
            "hostname": "host",
            "syscalls": {"keyctl": "ok", "session_keyring": 42, "bpf": "EINVAL", "kexec_load": "ENOSYS",
                         "mount": "ENODEV"},
            "kernel": {"kcore": {"open": "ok", "kind": "kcore"}, "core_pattern_w": "ok",
                       "kallsyms": {"open": "ok", "addresses": true, "first": "ffffffff81000000 T _text"}},
            "cgroup_mounts": [{"mount_point": "/sys/fs/cgroup/pids", "release_agent_w": "ok", "procs_w": "ok"}],
            "dev": {"block": [{"path": "/dev/vda", "open_r": "ok"}],
                    "mknod_char": {"dir": "/dev", "result": "ok"},
                    "mknod_block": {"device": "254:0", "mknod": "ok", "open_r": "ok"}},
            "fds": [{"fd": 3, "target": "/tmp", "dir": true}],
            "runtime_exes": [{"pid": 9, "exe": "/usr/sbin/runc", "open_w": "ETXTBSY"}],
            "cross": {"b_pid_found": 77, "target_pid": 77, "read_root": "ok", "signal": "ok", "shm": "ok",
                      "abstract_socket": "ok", "tcp": "ok", "mem_open": "ok", "read_environ": "ok"},
        })
    }

    fn b_ok(uid_map: Value, keyring: i64) -> Value {
        json!({
            "ready": {"ready": true, "shm": "ok", "abstract_socket": "ok", "tcp_port": 4000,
                      "session_keyring": keyring},
            "uid_map": uid_map,
            "cgroup": {"pids": {"file": "pids.max", "value": "max"},
                       "memory": {"file": "memory.limit_in_bytes", "value": "9223372036854771712"}},
        })
    }

    fn get<'a>(r: &'a [CheckResult], id: &str) -> &'a CheckResult {
        r.iter().find(|c| c.id == id).unwrap()
    }

    #[test]
    fn catalogue_ids_unique_and_at_least_40() {
        let mut ids: Vec<_> = CHECKS.iter().map(|c| c.id).collect();
        assert!(ids.len() >= 40, "{}", ids.len());
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
    }

    #[test]
    fn every_check_has_an_evaluator() {
        let o = Observations {
            host: host(),
            a: open_a(),
            b: b_ok(json!(["0 0 4294967295"]), 42),
        };
        for r in evaluate(&o) {
            assert!(
                !r.evidence.starts_with("no evaluator"),
                "{} has no evaluator",
                r.id
            );
        }
    }

    #[test]
    fn open_config_is_exposed() {
        let o = Observations {
            host: host(),
            a: open_a(),
            b: b_ok(json!(["0 0 4294967295"]), 42),
        };
        let r = evaluate(&o);
        for id in [
            "priv.cap_sys_admin",
            "priv.bounding_sys_admin",
            "priv.seccomp",
            "sys.keyctl",
            "sys.bpf",
            "sys.mount",
            "kern.proc_kcore",
            "kern.kallsyms",
            "kern.release_agent",
            "dev.block_devices",
            "dev.mknod_block_open",
            "res.pids_limit",
            "res.memory_limit",
            "id.host_root",
            "id.host_userns",
            "rt.leaked_fds",
            "rt.runtime_exe_writable",
            "info.host_pidns",
            "xt.see_processes",
            "xt.shm",
            "xt.shared_host_uid",
            "xt.shared_keyring",
        ] {
            assert_eq!(
                get(&r, id).verdict,
                Verdict::Exposed,
                "{id}: {:?}",
                get(&r, id)
            );
        }
        // a syscall the kernel lacks is never credited as blocked
        assert!(matches!(
            get(&r, "sys.kexec_load").verdict,
            Verdict::Skipped(_)
        ));
        assert_eq!(get(&r, "priv.cap_sys_admin").severity, Severity::Critical);
    }

    #[test]
    fn closed_config_is_blocked() {
        let a = json!({
            "status": {"capeff": "0000000000000000", "capbnd": "0000000000000000",
                       "capinh": "0000000000000000", "no_new_privs": true, "seccomp": 2, "euid": 1000},
            "uid_map": ["0 100000 65536"],
            "ns": {"pid": "pid:[11]", "net": "net:[12]", "ipc": "ipc:[13]", "uts": "uts:[14]",
                   "user": "user:[15]", "cgroup": "cgroup:[16]"},
            "hostname": "box",
            "syscalls": {"keyctl": "EPERM", "bpf": "EPERM", "mount": "EPERM"},
            "kernel": {"kcore": {"open": "ok", "kind": "masked (char device)"}, "core_pattern_w": "EROFS",
                       "kallsyms": {"open": "ok", "addresses": false}},
            "cgroup_mounts": [{"mount_point": "/sys/fs/cgroup", "release_agent_w": null, "procs_w": "EROFS"}],
            "dev": {"block": [], "mknod_char": {"result": "EPERM"},
                    "mknod_block": {"device": "254:0", "mknod": "EPERM"}},
            "fds": [],
            "runtime_exes": [],
            "cross": {"b_pid_found": null, "target_pid": 500, "read_root": "ENOENT", "signal": "ESRCH",
                      "shm": "ENOENT", "abstract_socket": "ECONNREFUSED", "tcp": "ECONNREFUSED",
                      "mem_open": "ENOENT", "read_environ": "ENOENT"},
        });
        let mut b = b_ok(json!(["0 200000 65536"]), 7);
        b["cgroup"] = json!({"pids": {"file": "pids.max", "value": "128"},
                             "memory": {"file": "memory.limit_in_bytes", "value": "268435456"}});
        let o = Observations { host: host(), a, b };
        let r = evaluate(&o);
        for c in &r {
            assert!(
                c.verdict != Verdict::Exposed,
                "{} exposed: {}",
                c.id,
                c.evidence
            );
        }
        assert_eq!(get(&r, "xt.shared_keyring").verdict, Verdict::Blocked);
        assert_eq!(get(&r, "xt.shared_host_uid").verdict, Verdict::Blocked);
        assert_eq!(get(&r, "kern.proc_kcore").verdict, Verdict::Blocked);
    }

    #[test]
    fn interface_missing_on_host_is_skipped_not_blocked() {
        let mut h = host();
        h["files"] = json!({"/proc/kcore": false, "/proc/kallsyms": true});
        let mut a = open_a();
        a["kernel"]["kcore"] = json!({"open": "ENOENT"});
        let o = Observations {
            host: h,
            a,
            b: Value::Null,
        };
        let r = evaluate(&o);
        assert!(matches!(
            get(&r, "kern.proc_kcore").verdict,
            Verdict::Skipped(_)
        ));
        assert_eq!(get(&r, "kern.kallsyms").verdict, Verdict::Exposed);
    }

    #[test]
    fn disk_the_host_cannot_open_is_skipped_unless_exposed() {
        let mut h = host();
        h["disk"] = json!({"name": "vda", "dev": "254:0", "open_r": "EPERM"});
        let mut a = open_a();
        a["dev"]["mknod_block"] = json!({"device": "254:0", "mknod": "ok", "open_r": "EPERM"});
        let o = Observations {
            host: h,
            a,
            b: Value::Null,
        };
        let r = evaluate(&o);
        assert!(matches!(
            get(&r, "dev.mknod_block_open").verdict,
            Verdict::Skipped(_)
        ));
        // an exposure stays an exposure
        assert_eq!(get(&r, "dev.block_devices").verdict, Verdict::Exposed);
    }

    #[test]
    fn probe_failure_skips_everything() {
        let o = Observations {
            host: host(),
            a: json!({"error": "runtime exited 1"}),
            b: Value::Null,
        };
        assert!(evaluate(&o)
            .iter()
            .all(|r| matches!(r.verdict, Verdict::Skipped(_))));
    }

    #[test]
    fn b_failure_skips_cross_tenant_only() {
        let o = Observations {
            host: host(),
            a: open_a(),
            b: json!({"error": "no ready line"}),
        };
        let r = evaluate(&o);
        for c in &r {
            if c.category == "cross-tenant" || c.category == "resources" {
                assert!(matches!(c.verdict, Verdict::Skipped(_)), "{}", c.id);
            }
        }
        assert_eq!(get(&r, "priv.seccomp").verdict, Verdict::Exposed);
    }

    #[test]
    fn caps_in_private_userns_are_one_step_lower() {
        let mut a = open_a();
        a["ns"]["user"] = json!("user:[99]");
        let o = Observations {
            host: host(),
            a,
            b: Value::Null,
        };
        let r = evaluate(&o);
        assert_eq!(get(&r, "priv.cap_sys_admin").verdict, Verdict::Exposed);
        assert_eq!(get(&r, "priv.cap_sys_admin").severity, Severity::High);
    }

    #[test]
    fn limits_and_maps() {
        assert_eq!(parse_limit("max"), None);
        assert_eq!(parse_limit("9223372036854771712"), None);
        assert_eq!(parse_limit("1024\n"), Some(1024));
        let a = parse_map(&json!(["0 100000 65536"]));
        let b = parse_map(&json!(["0 165535 10"]));
        assert_eq!(host_ranges_overlap(&a, &b), Some((165535, 1)));
        let c = parse_map(&json!(["0 165536 65536"]));
        assert_eq!(host_ranges_overlap(&a, &c), None);
        assert!(is_refusal("EPERM") && is_refusal("ENOSYS") && !is_refusal("EFAULT"));
    }

    #[test]
    fn score_weights() {
        let o = Observations {
            host: host(),
            a: open_a(),
            b: b_ok(json!(["0 0 4294967295"]), 42),
        };
        let (e, _, _, sc) = score(&evaluate(&o));
        assert!(e > 20);
        assert!(sc < 30, "{sc}");
    }
}
