//! moat-audit-probe: the in-container half of `moat audit`.
//!
//! One static binary (no libc needed in the image), four modes:
//! * `tenant-a` — the audited tenant: looks at its privileges, tries dangerous syscalls with
//!   harmless arguments, opens kernel interfaces for writing without ever writing, looks for
//!   devices, leaked fds and runtime binaries, and tries to reach tenant B. Prints one JSON
//!   object.
//! * `tenant-b` — the victim: holds a SysV shm segment, an abstract unix socket and a TCP
//!   listener on 127.0.0.1 (all answering with the secret token), prints one JSON "ready"
//!   line and sleeps until `/moat-audit-stop` appears in its rootfs or its time is up; then
//!   removes its shm segment and exits.
//! * `baseline` — run on the host by the auditor: the same syscall attempts, to tell "the
//!   container blocks it" from "this kernel does not have it".
//! * `host` — what the kernel offers (Landlock ABI, seccomp, user namespaces, id-mapped
//!   mounts by actually creating one on a detached tree).
//!
//! The probe never writes a kernel knob, never loads or mounts anything, never delivers a
//! signal to anyone (kill with signal 0 only) and every attempt is bounded in time.
#![forbid(unsafe_code)]

use moat_sys::audit_raw as raw;

use serde_json::{json, Map, Value};
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr as InetAddr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// File in tenant B's rootfs whose appearance tells B to clean up and exit.
pub const STOP_FILE: &str = "/moat-audit-stop";
/// File in tenant B's rootfs holding the secret token.
pub const SECRET_FILE: &str = "/moat-audit-secret";
/// Environment variable of tenant B holding the secret token.
pub const SECRET_ENV: &str = "MOAT_AUDIT_SECRET";

/// "ok" or the errno's name.
pub fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::ESRCH) => "ESRCH",
        Some(libc::EIO) => "EIO",
        Some(libc::ENXIO) => "ENXIO",
        Some(libc::E2BIG) => "E2BIG",
        Some(libc::ENOEXEC) => "ENOEXEC",
        Some(libc::EBADF) => "EBADF",
        Some(libc::EAGAIN) => "EAGAIN",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EFAULT) => "EFAULT",
        Some(libc::EBUSY) => "EBUSY",
        Some(libc::EEXIST) => "EEXIST",
        Some(libc::ENODEV) => "ENODEV",
        Some(libc::ENOTDIR) => "ENOTDIR",
        Some(libc::EISDIR) => "EISDIR",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::ETXTBSY) => "ETXTBSY",
        Some(libc::ENOSPC) => "ENOSPC",
        Some(libc::EROFS) => "EROFS",
        Some(libc::ENOSYS) => "ENOSYS",
        Some(libc::ENOTTY) => "ENOTTY",
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::ENETUNREACH) => "ENETUNREACH",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(n) => return format!("errno {n}"),
        None => return e.to_string(),
    };
    name.to_string()
}

fn res_ref<T>(r: &io::Result<T>) -> Value {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(e).into(),
    }
}

fn res<T>(r: io::Result<T>) -> Value {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(&e).into(),
    }
}

/// The token-derived SysV key both tenants use (never IPC_PRIVATE).
pub fn shm_key(token: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in token.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    ((h & 0x3fff_ffff) | 0x4000_0000) as i32
}

pub fn abstract_name(token: &str) -> String {
    format!("moat-audit-{token}")
}

// ---------------------------------------------------------------------------------------------
// Small readers

fn read_trim(path: &str) -> Value {
    match fs::read_to_string(path) {
        Ok(s) => s.trim_end().to_string().into(),
        Err(e) => json!({ "error": errno_name(&e) }),
    }
}

fn read_lines(path: &str) -> Value {
    match fs::read_to_string(path) {
        Ok(s) => s
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .into(),
        Err(e) => json!({ "error": errno_name(&e) }),
    }
}

fn status() -> Value {
    let mut out = Map::new();
    for line in fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
    {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "CapInh" | "CapPrm" | "CapEff" | "CapBnd" | "CapAmb" => {
                out.insert(k.to_lowercase(), v.into());
            }
            "NoNewPrivs" => {
                out.insert("no_new_privs".into(), (v == "1").into());
            }
            "Seccomp" => {
                out.insert("seccomp".into(), v.parse::<u64>().unwrap_or(99).into());
            }
            "Uid" => {
                let ids: Vec<u64> = v
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                out.insert("uid".into(), ids.first().copied().into());
                out.insert("euid".into(), ids.get(1).copied().into());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

fn namespaces() -> Value {
    let mut out = Map::new();
    for ns in ["pid", "net", "ipc", "uts", "user", "cgroup", "mnt"] {
        let v = match fs::read_link(format!("/proc/self/ns/{ns}")) {
            Ok(t) => t.to_string_lossy().into_owned().into(),
            Err(e) => json!({ "error": errno_name(&e) }),
        };
        out.insert(ns.into(), v);
    }
    Value::Object(out)
}

fn net_ifaces() -> Value {
    let mut names: Vec<String> = match fs::read_dir("/sys/class/net") {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => fs::read_to_string("/proc/net/dev")
            .unwrap_or_default()
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_string())
            .collect(),
    };
    names.sort();
    names.into()
}

fn pids() -> Vec<i32> {
    let mut v: Vec<i32> = fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Opens `path` for writing without creating or truncating it, and closes it at once. Nothing
/// is ever written.
fn open_w(path: &str) -> Value {
    res(fs::OpenOptions::new().write(true).open(path))
}

// ---------------------------------------------------------------------------------------------
// Kernel interfaces

fn kernel_files() -> Value {
    let kcore = match fs::File::open("/proc/kcore") {
        Ok(f) => match f.metadata() {
            Ok(m) if m.file_type().is_file() && m.len() > 0 => {
                json!({"open": "ok", "kind": "kcore"})
            }
            Ok(m) if m.file_type().is_char_device() => {
                json!({"open": "ok", "kind": "masked (char device)"})
            }
            Ok(_) => json!({"open": "ok", "kind": "masked (empty)"}),
            Err(e) => json!({"open": "ok", "kind": errno_name(&e)}),
        },
        Err(e) => json!({"open": errno_name(&e)}),
    };
    let sys_candidates = [
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/uevent_helper",
        "/sys/kernel/profiling",
        "/sys/kernel/mm/ksm/run",
    ];
    let sys_w = sys_candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| json!({"path": p, "open_w": open_w(p)}))
        .unwrap_or(json!({"path": null, "open_w": "ENOENT"}));
    let kallsyms = match fs::File::open("/proc/kallsyms") {
        Ok(f) => {
            let mut first = String::new();
            let _ = io::BufReader::new(f).read_line(&mut first);
            let addr = first.split_whitespace().next().unwrap_or("");
            let nonzero = !addr.is_empty() && addr.chars().any(|c| c != '0');
            json!({"open": "ok", "addresses": nonzero, "first": first.trim_end()})
        }
        Err(e) => json!({"open": errno_name(&e)}),
    };
    let timer_list = match fs::read_to_string("/proc/timer_list") {
        Ok(s) => json!({"open": "ok", "bytes": s.len(), "host_timers": s.contains("now at")}),
        Err(e) => json!({"open": errno_name(&e)}),
    };
    json!({
        "kcore": kcore,
        "core_pattern_w": open_w("/proc/sys/kernel/core_pattern"),
        "sysrq_w": open_w("/proc/sysrq-trigger"),
        "sys_w": sys_w,
        "kallsyms": kallsyms,
        "timer_list": timer_list,
    })
}

/// cgroup mounts as seen inside: for each, whether it is a v1 hierarchy root with a
/// release_agent that opens for writing, and whether its cgroup.procs opens for writing.
fn cgroup_mounts() -> Value {
    let mut out = Vec::new();
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < sep + 3 || sep < 6 {
            continue;
        }
        let fstype = f[sep + 1];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mp = f[4].replace("\\040", " ");
        let ra = format!("{mp}/release_agent");
        let release_agent = if Path::new(&ra).exists() {
            open_w(&ra)
        } else {
            Value::Null
        };
        out.push(json!({
            "mount_point": mp,
            "fstype": fstype,
            "root": f[3],
            "options": f[5],
            "release_agent_w": release_agent,
            "procs_w": open_w(&format!("{mp}/cgroup.procs")),
        }));
    }
    out.into()
}

// ---------------------------------------------------------------------------------------------
// Devices

fn devices(blk: Option<(u32, u32)>) -> Value {
    let mut block = Vec::new();
    fn walk(dir: &Path, depth: u32, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.filter_map(|e| e.ok()) {
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if ft.is_block_device() {
                out.push(p.to_string_lossy().into_owned());
            } else if ft.is_dir() && depth > 0 {
                walk(&p, depth - 1, out);
            }
        }
    }
    walk(Path::new("/dev"), 2, &mut block);
    block.sort();
    block.truncate(32);
    let opened: Vec<Value> = block
        .iter()
        .map(|p| {
            let r = fs::OpenOptions::new()
                .read(true)
                .custom_flags_nonblock()
                .open(p);
            json!({"path": p, "open_r": res(r)})
        })
        .collect();

    // mknod of a harmless char device (1:3, /dev/null), removed at once.
    let mut mknod_c = json!({"result": "not tried"});
    for dir in ["/dev", "/dev/shm", "/tmp"] {
        let p = format!("{dir}/.moat-audit-null-{}", std::process::id());
        let r = raw::mknod(&p, libc::S_IFCHR | 0o600, 1, 3);
        if r.is_ok() {
            let _ = fs::remove_file(&p);
        }
        let v = res(r);
        let done = v != "EROFS" && v != "ENOENT" && v != "EACCES";
        mknod_c = json!({"dir": dir, "result": v});
        if done {
            break;
        }
    }
    // mknod of the host's disk (block), opened read-only (never read), removed.
    let mknod_b = match blk {
        None => json!({"result": "not tried", "reason": "no host block device given"}),
        Some((ma, mi)) => {
            let mut v = json!({"result": "not tried"});
            for dir in ["/dev", "/dev/shm", "/tmp"] {
                let p = format!("{dir}/.moat-audit-blk-{}", std::process::id());
                let r = raw::mknod(&p, libc::S_IFBLK | 0o600, ma, mi);
                let made = res(r);
                if made == "ok" {
                    let o = fs::OpenOptions::new()
                        .read(true)
                        .custom_flags_nonblock()
                        .open(&p);
                    let _ = fs::remove_file(&p);
                    v = json!({"dir": dir, "device": format!("{ma}:{mi}"), "mknod": "ok", "open_r": res(o)});
                    break;
                }
                v = json!({"dir": dir, "device": format!("{ma}:{mi}"), "mknod": made});
                if made != "EROFS" && made != "ENOENT" && made != "EACCES" {
                    break;
                }
            }
            v
        }
    };
    json!({"block": opened, "mknod_char": mknod_c, "mknod_block": mknod_b})
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime leaks

fn extra_fds() -> Value {
    let mut out = Vec::new();
    let self_fd_dir = format!("/proc/{}/fd", std::process::id());
    if let Ok(rd) = fs::read_dir("/proc/self/fd") {
        for e in rd.filter_map(|e| e.ok()) {
            let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if n <= 2 {
                continue;
            }
            let target = fs::read_link(e.path())
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_else(|e| errno_name(&e));
            // the directory handle of this very listing
            if target == self_fd_dir || target == "/proc/self/fd" {
                continue;
            }
            let is_dir = fs::metadata(e.path()).map(|m| m.is_dir()).unwrap_or(false);
            out.push(json!({"fd": n, "target": target, "dir": is_dir}));
        }
    }
    out.into()
}

const RUNTIME_NAMES: &[&str] = &[
    "runc",
    "crun",
    "moat",
    "youki",
    "runsc",
    "conmon",
    "containerd-shim",
    "containerd-shim-runc-v2",
];

/// Host runtime binaries visible through /proc/<pid>/exe, and whether they open for writing
/// (ETXTBSY means the permission check passed and only "busy" stopped it: CVE-2019-5736).
fn runtime_exes(extra: &[String]) -> Value {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for pid in pids() {
        if pid == me {
            continue;
        }
        let Ok(t) = fs::read_link(format!("/proc/{pid}/exe")) else {
            continue;
        };
        let t = t.to_string_lossy().into_owned();
        let base = t
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(" (deleted)")
            .to_string();
        let hit = RUNTIME_NAMES.contains(&base.as_str())
            || extra.iter().any(|x| x == &base)
            || base.starts_with("memfd:runc");
        if !hit {
            continue;
        }
        let w = open_w(&format!("/proc/{pid}/exe"));
        out.push(json!({"pid": pid, "exe": t, "open_w": w}));
        if out.len() >= 16 {
            break;
        }
    }
    out.into()
}

// ---------------------------------------------------------------------------------------------
// Syscalls

/// The dangerous-syscall attempts, `unshare_user` last (it moves this process into a new user
/// namespace). `reboot` is skipped on the host baseline.
pub fn syscalls(with_reboot: bool) -> Value {
    use moat_sys::probe::Probe;
    let mut m = Map::new();
    let p = |m: &mut Map<String, Value>, pr: Probe| {
        let r = pr.run();
        if pr == Probe::Keyctl {
            if let Ok(n) = &r {
                m.insert("session_keyring".into(), (*n).into());
            }
        }
        m.insert(pr.name().into(), res(r));
    };
    for pr in [
        Probe::Keyctl,
        Probe::Userfaultfd,
        Probe::PerfEventOpen,
        Probe::IoUringSetup,
        Probe::Bpf,
        Probe::InitModule,
    ] {
        p(&mut m, pr);
    }
    m.insert("mount".into(), res(raw::mount_bogus()));
    m.insert("fsopen".into(), res(raw::fsopen_bogus()));
    m.insert("ptrace".into(), res(raw::ptrace_nopid()));
    m.insert("kexec_load".into(), res(raw::kexec_bad()));
    if with_reboot {
        m.insert("reboot".into(), res(raw::reboot_bad()));
    }
    m.insert("syslog".into(), res(raw::syslog_size()));
    m.insert("open_by_handle_at".into(), res(raw::open_by_handle_null()));
    p(&mut m, Probe::UnshareUser);
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Tenant A

pub struct AArgs {
    pub token: String,
    pub b_pid: Option<i32>,
    pub b_port: Option<u16>,
    pub blk: Option<(u32, u32)>,
    pub runtime_names: Vec<String>,
}

fn find_b(token: &str) -> Option<i32> {
    let me = std::process::id() as i32;
    pids().into_iter().find(|&pid| {
        pid != me && {
            let a = cmdline(pid);
            a.iter().any(|x| x == "tenant-b") && a.iter().any(|x| x == token)
        }
    })
}

fn cross(a: &AArgs) -> Value {
    let token = a.token.as_str();
    let found = find_b(token);
    let target = found.or(a.b_pid);
    let mut m = Map::new();
    m.insert("b_pid_found".into(), found.into());
    m.insert("target_pid".into(), target.into());
    let t = target.unwrap_or(-1);
    m.insert(
        "read_root".into(),
        match fs::read_to_string(format!("/proc/{t}/root{SECRET_FILE}")) {
            Ok(s) if s.trim() == token => "ok".into(),
            Ok(_) => "mismatch".into(),
            Err(e) => errno_name(&e).into(),
        },
    );
    m.insert(
        "read_environ".into(),
        match fs::read(format!("/proc/{t}/environ")) {
            Ok(b) => {
                let needle = format!("{SECRET_ENV}={token}");
                if String::from_utf8_lossy(&b).contains(&needle) {
                    "ok".into()
                } else {
                    "mismatch".into()
                }
            }
            Err(e) => errno_name(&e).into(),
        },
    );
    m.insert(
        "mem_open".into(),
        res(fs::File::open(format!("/proc/{t}/mem"))),
    );
    m.insert("signal".into(), res(raw::kill0(t)));
    m.insert(
        "shm".into(),
        match raw::shmget(shm_key(token), 0, 0) {
            Ok(id) => match raw::shm_read(id as i32, token.len()) {
                Ok(b) if b == token.as_bytes() => "ok".into(),
                Ok(_) => "mismatch".into(),
                Err(e) => errno_name(&e).into(),
            },
            Err(e) => errno_name(&e).into(),
        },
    );
    let check_stream = |r: io::Result<Box<dyn Read>>| -> Value {
        match r {
            Ok(mut s) => {
                let mut buf = vec![0u8; token.len()];
                match s.read_exact(&mut buf) {
                    Ok(()) if buf == token.as_bytes() => "ok".into(),
                    Ok(()) => "mismatch".into(),
                    Err(e) => errno_name(&e).into(),
                }
            }
            Err(e) => errno_name(&e).into(),
        }
    };
    let name = abstract_name(token);
    m.insert(
        "abstract_socket".into(),
        check_stream(
            SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| UnixStream::connect_addr(&addr))
                .and_then(|s| {
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    Ok(Box::new(s) as Box<dyn Read>)
                }),
        ),
    );
    m.insert(
        "tcp".into(),
        match a.b_port {
            None => "no port".into(),
            Some(port) => check_stream(
                TcpStream::connect_timeout(
                    &InetAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_secs(2),
                )
                .and_then(|s| {
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    Ok(Box::new(s) as Box<dyn Read>)
                }),
            ),
        },
    );
    Value::Object(m)
}

pub fn tenant_a(a: &AArgs) -> Value {
    let all = pids();
    let mut out = Map::new();
    out.insert("mode".into(), "tenant-a".into());
    out.insert("pid".into(), std::process::id().into());
    out.insert("status".into(), status());
    out.insert("uid_map".into(), read_lines("/proc/self/uid_map"));
    out.insert("gid_map".into(), read_lines("/proc/self/gid_map"));
    out.insert("ns".into(), namespaces());
    out.insert("hostname".into(), read_trim("/proc/sys/kernel/hostname"));
    out.insert("net_ifaces".into(), net_ifaces());
    out.insert("procs_visible".into(), all.len().into());
    out.insert("pid1_cmdline".into(), cmdline(1).join(" ").into());
    out.insert("kernel".into(), kernel_files());
    out.insert("cgroup_mounts".into(), cgroup_mounts());
    out.insert("dev".into(), devices(a.blk));
    out.insert("fds".into(), extra_fds());
    out.insert("runtime_exes".into(), runtime_exes(&a.runtime_names));
    out.insert("cross".into(), cross(a));
    // last: unshare(CLONE_NEWUSER) moves us into a new user namespace
    out.insert("syscalls".into(), syscalls(true));
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Tenant B

pub fn tenant_b(token: &str, ttl: Duration) -> i32 {
    let start = Instant::now();
    let mut ready = Map::new();
    ready.insert("ready".into(), true.into());
    ready.insert("pid".into(), std::process::id().into());
    // SysV shm, mode 0600, holding the token.
    let key = shm_key(token);
    let shm = raw::shmget(key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o600);
    if let Ok(id) = &shm {
        let _ = raw::shm_write(*id as i32, token.as_bytes());
    }
    ready.insert("shm".into(), res_ref(&shm));
    // abstract unix socket
    let name = abstract_name(token);
    let unix =
        SocketAddr::from_abstract_name(name.as_bytes()).and_then(|a| UnixListener::bind_addr(&a));
    ready.insert("abstract_socket".into(), res_ref(&unix));
    if let Ok(l) = unix {
        let tok = token.to_string();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let _ = s.write_all(tok.as_bytes());
            }
        });
    }
    // TCP on 127.0.0.1 (ephemeral port)
    let tcp = TcpListener::bind("127.0.0.1:0");
    match &tcp {
        Ok(l) => {
            ready.insert(
                "tcp_port".into(),
                l.local_addr().map(|a| a.port()).unwrap_or(0).into(),
            );
        }
        Err(e) => {
            ready.insert("tcp_port".into(), Value::Null);
            ready.insert("tcp_error".into(), errno_name(e).into());
        }
    }
    if let Ok(l) = tcp {
        let tok = token.to_string();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let _ = s.write_all(tok.as_bytes());
            }
        });
    }
    let keyring = moat_sys::probe::Probe::Keyctl.run();
    ready.insert(
        "session_keyring".into(),
        keyring.as_ref().ok().copied().into(),
    );
    ready.insert("keyctl".into(), res(keyring));
    ready.insert("uid_map".into(), read_lines("/proc/self/uid_map"));
    println!("{}", Value::Object(ready));
    let _ = io::stdout().flush();
    while start.elapsed() < ttl && !Path::new(STOP_FILE).exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Ok(id) = shm {
        let _ = raw::shm_remove(id as i32);
    }
    0
}

// ---------------------------------------------------------------------------------------------
// Host features

/// What the running kernel offers. `self_exe` is used to create a throwaway user namespace
/// (a child of this probe in `userns-hold` mode) for the id-mapped mount test.
pub fn host_features(self_exe: &Path) -> Value {
    let mut m = Map::new();
    m.insert(
        "landlock_abi".into(),
        match raw::landlock_abi() {
            Ok(v) => v.into(),
            Err(e) => errno_name(&e).into(),
        },
    );
    m.insert(
        "seccomp_filter".into(),
        moat_sys::seccomp::filter_supported().into(),
    );
    m.insert(
        "seccomp_user_notif".into(),
        res(
            moat_sys::seccomp::action_available(0x7fc0_0000).and_then(|b| {
                if b {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
                }
            }),
        ),
    );
    let (userns, idmap) = userns_and_idmap(self_exe);
    m.insert("userns".into(), userns);
    m.insert("idmap".into(), idmap);
    Value::Object(m)
}

fn userns_and_idmap(self_exe: &Path) -> (Value, Value) {
    use std::process::{Command, Stdio};
    let child = Command::new(self_exe)
        .arg("userns-hold")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return (
                json!({"result": errno_name(&e)}),
                json!({"result": "not tried"}),
            )
        }
    };
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = io::BufReader::new(out).read_line(&mut line);
    }
    let line = line.trim().to_string();
    let pid = child.id();
    let result = if line != "ok" {
        (
            json!({"result": line}),
            json!({"result": "not tried (no user namespace)"}),
        )
    } else {
        let maps = fs::write(format!("/proc/{pid}/uid_map"), "0 100000 65536\n")
            .and_then(|_| fs::write(format!("/proc/{pid}/gid_map"), "0 100000 65536\n"));
        let idmap = match maps.and_then(|_| fs::File::open(format!("/proc/{pid}/ns/user"))) {
            Err(e) => json!({"result": errno_name(&e), "step": "map the throwaway user namespace"}),
            Ok(ns) => {
                let dir =
                    std::env::temp_dir().join(format!("moat-audit-idmap-{}", std::process::id()));
                let r = fs::create_dir_all(&dir)
                    .and_then(|_| moat_sys::mount::idmapped_tree_with(&dir, &ns, false));
                let v = json!({"result": res(r.map(drop)), "dir": dir.to_string_lossy(), "method": "open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP) on a detached tree, dropped at once"});
                let _ = fs::remove_dir(&dir);
                v
            }
        };
        (json!({"result": "ok"}), idmap)
    };
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// `userns-hold`: unshare a user namespace, say "ok", wait for stdin to close.
pub fn userns_hold() -> i32 {
    match moat_sys::probe::Probe::UnshareUser.run() {
        Ok(_) => println!("ok"),
        Err(e) => println!("{}", errno_name(&e)),
    }
    let _ = io::stdout().flush();
    let mut buf = [0u8; 1];
    let _ = io::stdin().read(&mut buf);
    0
}
