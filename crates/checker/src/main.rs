//! moat-checker: run INSIDE a container, prints one JSON object describing what the
//! process sees (credentials, capabilities, namespaces, mounts, /dev, rlimits, ...).
//!
//! Everything is read from /proc and std APIs; entirely safe Rust. The output is meant to be
//! compared between runtimes (moat vs runc) running the same bundle, so values that differ
//! from run to run (mount ids, device numbers of mounts, pipe inodes) are normalized away.
//! Namespace links are emitted raw (`net:[4026531840]`): the caller compares them to its own
//! `/proc/self/ns/*` to decide "new" vs "host".
//!
//! Usage: checker [--sysctl NAME]... [--probe PATH]... [--mkdir PATH]... [--syscalls] [--exit CODE]
//!
//! Build static with `scripts/build-checker.sh`.
#![forbid(unsafe_code)]

use serde_json::{json, Map, Value};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

const NAMESPACES: &[&str] = &[
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(5) => "EIO",
        Some(6) => "ENXIO",
        Some(9) => "EBADF",
        Some(13) => "EACCES",
        Some(14) => "EFAULT",
        Some(16) => "EBUSY",
        Some(17) => "EEXIST",
        Some(19) => "ENODEV",
        Some(20) => "ENOTDIR",
        Some(21) => "EISDIR",
        Some(22) => "EINVAL",
        Some(28) => "ENOSPC",
        Some(30) => "EROFS",
        Some(38) => "ENOSYS",
        Some(95) => "EOPNOTSUPP",
        Some(n) => return format!("errno {n}"),
        None => return e.to_string(),
    };
    name.to_string()
}

fn read_trim(path: &str) -> Value {
    match fs::read_to_string(path) {
        Ok(s) => Value::String(s.trim_end_matches('\n').to_string()),
        Err(e) => json!({ "error": errno_name(&e) }),
    }
}

fn status() -> Map<String, Value> {
    let mut out = Map::new();
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        let nums = |v: &str| -> Value {
            v.split_whitespace()
                .filter_map(|x| x.parse::<u64>().ok())
                .collect::<Vec<_>>()
                .into()
        };
        match k {
            // real, effective, saved, filesystem
            "Uid" | "Gid" => {
                let ids: Vec<u64> = v
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let p = k.to_lowercase();
                for (i, name) in ["", "e", "s", "fs"].iter().enumerate() {
                    out.insert(
                        format!("{name}{p}"),
                        ids.get(i).copied().map(Value::from).unwrap_or(Value::Null),
                    );
                }
            }
            "Groups" => {
                out.insert("groups".into(), nums(v));
            }
            "CapInh" | "CapPrm" | "CapEff" | "CapBnd" | "CapAmb" => {
                out.insert(k.to_lowercase(), v.into());
            }
            "NoNewPrivs" => {
                out.insert("no_new_privs".into(), (v == "1").into());
            }
            "Seccomp" => {
                out.insert(
                    "seccomp".into(),
                    v.parse::<u64>().map(Value::from).unwrap_or(v.into()),
                );
            }
            "Seccomp_filters" => {
                out.insert(
                    "seccomp_filters".into(),
                    v.parse::<u64>().map(Value::from).unwrap_or(v.into()),
                );
            }
            "Umask" => {
                out.insert("umask".into(), v.into());
            }
            "PPid" => {
                out.insert(
                    "ppid".into(),
                    v.parse::<u64>().map(Value::from).unwrap_or(v.into()),
                );
            }
            _ => {}
        }
    }
    out
}

/// `/proc/self/limits` -> { "Max open files": [soft, hard], ... } with "unlimited" kept as a string.
fn rlimits() -> Value {
    let mut out = Map::new();
    let text = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    for line in text.lines().skip(1) {
        if line.len() < 26 {
            continue;
        }
        let (name, rest) = line.split_at(26);
        let mut it = rest.split_whitespace();
        let val = |s: Option<&str>| -> Value {
            match s {
                Some(s) => s.parse::<u64>().map(Value::from).unwrap_or(s.into()),
                None => Value::Null,
            }
        };
        let soft = val(it.next());
        let hard = val(it.next());
        out.insert(name.trim().to_string(), json!([soft, hard]));
    }
    Value::Object(out)
}

/// One entry per line of /proc/self/mountinfo, without mount ids, parent ids, device numbers
/// and peer group numbers.
fn mounts() -> Value {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < sep + 4 || sep < 6 {
            continue;
        }
        let propagation: Vec<Value> = fields[6..sep]
            .iter()
            .map(|f| f.split(':').next().unwrap_or(f).to_string().into())
            .collect();
        let mut super_opts: Vec<&str> = fields[sep + 3].split(',').collect();
        super_opts.sort();
        out.push(json!({
            "mount_point": fields[4],
            "root": fields[3],
            "options": fields[5],
            "propagation": propagation,
            "fstype": fields[sep + 1],
            "source": fields[sep + 2],
            "super_options": super_opts.join(","),
        }));
    }
    Value::Array(out)
}

fn namespaces() -> Value {
    let mut out = Map::new();
    for ns in NAMESPACES {
        let v = match fs::read_link(format!("/proc/self/ns/{ns}")) {
            Ok(t) => Value::String(t.to_string_lossy().into_owned()),
            Err(e) => json!({ "error": errno_name(&e) }),
        };
        out.insert((*ns).to_string(), v);
    }
    Value::Object(out)
}

fn dev_major_minor(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

fn describe(path: &Path) -> Value {
    let md = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return json!({ "error": errno_name(&e) }),
    };
    let ft = md.file_type();
    let kind = if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "file"
    };
    let mut o = Map::new();
    o.insert("type".into(), kind.into());
    o.insert(
        "mode".into(),
        format!("{:04o}", md.permissions().mode() & 0o7777).into(),
    );
    o.insert("uid".into(), md.uid().into());
    o.insert("gid".into(), md.gid().into());
    if ft.is_char_device() || ft.is_block_device() {
        let (ma, mi) = dev_major_minor(md.rdev());
        o.insert("dev".into(), format!("{ma}:{mi}").into());
    }
    if ft.is_symlink() {
        if let Ok(t) = fs::read_link(path) {
            o.insert("target".into(), t.to_string_lossy().into_owned().into());
        }
    }
    Value::Object(o)
}

/// /dev listing, two levels deep (so /dev/pts, /dev/shm, /dev/mqueue show their contents).
fn dev_listing() -> Value {
    let mut out = Map::new();
    fn walk(dir: &Path, prefix: &str, depth: u32, out: &mut Map<String, Value>) {
        let Ok(rd) = fs::read_dir(dir) else {
            return;
        };
        let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let name = format!("{prefix}{}", n.to_string_lossy());
            let p = dir.join(&n);
            let d = describe(&p);
            let is_dir = d.get("type").and_then(Value::as_str) == Some("dir");
            out.insert(name.clone(), d);
            if is_dir && depth > 0 {
                walk(&p, &format!("{name}/"), depth - 1, out);
            }
        }
    }
    walk(Path::new("/dev"), "", 1, &mut out);
    Value::Object(out)
}

/// exists / type / readable / writable of one path, without modifying it (writability of a
/// directory is tested by creating and removing a file in it).
fn probe(path: &str) -> Value {
    let p = Path::new(path);
    let mut o = match describe(p) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let exists = !o.contains_key("error");
    o.insert("exists".into(), exists.into());
    if !exists {
        return Value::Object(o);
    }
    let is_dir = fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir {
        let read = match fs::read_dir(p) {
            Ok(rd) => json!({ "ok": true, "entries": rd.count() }),
            Err(e) => json!({ "ok": false, "error": errno_name(&e) }),
        };
        o.insert("read".into(), read);
        let probe_file = p.join(".moat-checker-probe");
        let write = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe_file)
        {
            Ok(_) => {
                let _ = fs::remove_file(&probe_file);
                json!({ "ok": true })
            }
            Err(e) => json!({ "ok": false, "error": errno_name(&e) }),
        };
        o.insert("write".into(), write);
    } else {
        let read = match fs::File::open(p) {
            Ok(mut f) => {
                let mut buf = [0u8; 64];
                match f.read(&mut buf) {
                    Ok(n) => json!({ "ok": true, "len": n }),
                    Err(e) => json!({ "ok": false, "error": errno_name(&e) }),
                }
            }
            Err(e) => json!({ "ok": false, "error": errno_name(&e) }),
        };
        o.insert("read".into(), read);
        let write = match fs::OpenOptions::new().write(true).open(p) {
            Ok(_) => json!({ "ok": true }),
            Err(e) => json!({ "ok": false, "error": errno_name(&e) }),
        };
        o.insert("write".into(), write);
    }
    Value::Object(o)
}

fn mkdir_probe(path: &str) -> Value {
    match fs::create_dir(path) {
        Ok(()) => {
            let _ = fs::remove_dir(path);
            json!({ "ok": true })
        }
        Err(e) => json!({ "ok": false, "error": errno_name(&e) }),
    }
}

fn stdio() -> Value {
    let mut out = Vec::new();
    for fd in 0..3 {
        let v = match fs::read_link(format!("/proc/self/fd/{fd}")) {
            Ok(t) => {
                let t = t.to_string_lossy().into_owned();
                // pipe:[1234] -> pipe, socket:[1234] -> socket
                match t.split_once(":[") {
                    Some((kind, _)) => kind.to_string(),
                    None => t,
                }
            }
            Err(e) => format!("error {}", errno_name(&e)),
        };
        out.push(Value::String(v));
    }
    Value::Array(out)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let mut sysctls = Map::new();
    let mut probes = Map::new();
    let mut mkdirs = Map::new();
    let mut exit_code = 0;
    let mut syscalls = false;
    let mut i = 1;
    while i < argv.len() {
        let arg = argv[i].as_str();
        let val = argv.get(i + 1).cloned();
        match (arg, val) {
            ("--sysctl", Some(name)) => {
                let path = format!("/proc/sys/{}", name.replace('.', "/"));
                sysctls.insert(name, read_trim(&path));
                i += 2;
            }
            ("--probe", Some(path)) => {
                probes.insert(path.clone(), probe(&path));
                i += 2;
            }
            ("--mkdir", Some(path)) => {
                mkdirs.insert(path.clone(), mkdir_probe(&path));
                i += 2;
            }
            ("--syscalls", _) => {
                syscalls = true;
                i += 1;
            }
            ("--exit", Some(code)) => {
                exit_code = code.parse().unwrap_or(2);
                i += 2;
            }
            _ => {
                eprintln!("checker: unknown argument {arg:?}");
                eprintln!("usage: checker [--sysctl NAME]... [--probe PATH]... [--mkdir PATH]... [--syscalls] [--exit CODE]");
                std::process::exit(2);
            }
        }
    }

    let mut env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    env.sort();

    let mut out = Map::new();
    out.insert("pid".into(), std::process::id().into());
    for (k, v) in status() {
        out.insert(k, v);
    }
    out.insert("argv".into(), argv.clone().into());
    out.insert("env".into(), env.into());
    out.insert(
        "cwd".into(),
        match std::env::current_dir() {
            Ok(p) => p.to_string_lossy().into_owned().into(),
            Err(e) => json!({ "error": errno_name(&e) }),
        },
    );
    out.insert("hostname".into(), read_trim("/proc/sys/kernel/hostname"));
    out.insert(
        "domainname".into(),
        read_trim("/proc/sys/kernel/domainname"),
    );
    out.insert(
        "oom_score_adj".into(),
        read_trim("/proc/self/oom_score_adj"),
    );
    out.insert("uid_map".into(), read_map("/proc/self/uid_map"));
    out.insert("gid_map".into(), read_map("/proc/self/gid_map"));
    out.insert("setgroups".into(), read_trim("/proc/self/setgroups"));
    out.insert("attr_current".into(), read_trim("/proc/self/attr/current"));
    out.insert("rlimits".into(), rlimits());
    out.insert("namespaces".into(), namespaces());
    out.insert("mounts".into(), mounts());
    out.insert("dev".into(), dev_listing());
    out.insert(
        "cgroup".into(),
        fs::read_to_string("/proc/self/cgroup")
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
            .into(),
    );
    out.insert("net_links".into(), net_links());
    out.insert("stdio".into(), stdio());
    out.insert("sysctls".into(), Value::Object(sysctls));
    out.insert("probes".into(), Value::Object(probes));
    out.insert("mkdir".into(), Value::Object(mkdirs));
    if syscalls {
        // Last: unshare_user moves this process into a new user namespace.
        let mut m = Map::new();
        for p in moat_sys::probe::Probe::ALL {
            let v = match p.run() {
                Ok(n) => {
                    if p == moat_sys::probe::Probe::Keyctl {
                        m.insert("session_keyring".into(), n.into());
                    }
                    Value::from("ok")
                }
                Err(e) => errno_name(&e).into(),
            };
            m.insert(p.name().into(), v);
        }
        out.insert("syscalls".into(), Value::Object(m));
    }

    println!("{}", Value::Object(out));
    std::process::exit(exit_code);
}

/// Network interfaces and their flags (`{"lo": "0x9"}`; 0x1 is IFF_UP).
fn net_links() -> Value {
    let rd = match fs::read_dir("/sys/class/net") {
        Ok(rd) => rd,
        Err(e) => return json!({ "error": errno_name(&e) }),
    };
    let mut m = Map::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let flags = read_trim(&format!("/sys/class/net/{name}/flags"));
        m.insert(name, flags);
    }
    Value::Object(m)
}

/// uid_map / gid_map lines with whitespace collapsed: ["0 1000 1", ...]
fn read_map(path: &str) -> Value {
    match fs::read_to_string(path) {
        Ok(s) => s
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .into(),
        Err(e) => json!({ "error": errno_name(&e) }),
    }
}
