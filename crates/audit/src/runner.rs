//! Drives a runtime through its runc-compatible CLI: builds the two bundles (busybox + the
//! static probe), starts tenant B detached, runs tenant A in the foreground, reads what it
//! needs of B from the host, and always cleans up (stop file, `delete --force`, directories,
//! a SysV segment left in a shared IPC namespace).

use crate::checks::{evaluate, CheckResult, Observations};
use crate::profiles::{prepare, Scenario};
use serde_json::{json, Map, Value};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Names shared with the probe (kept in sync with moat-audit-probe's constants).
const PROBE_IN_ROOTFS: &str = "/moat-audit-probe";
const STOP_FILE: &str = "moat-audit-stop";
const SECRET_FILE: &str = "moat-audit-secret";
const SECRET_ENV: &str = "MOAT_AUDIT_SECRET";

/// A runtime to audit: `[NAME=]PATH [GLOBAL-ARGS...]`, e.g. `runc`,
/// `moat-compat=target/release/moat --policy compat`.
#[derive(Debug, Clone)]
pub struct RuntimeCmd {
    pub name: String,
    pub argv: Vec<String>,
}

impl RuntimeCmd {
    pub fn parse(s: &str) -> Result<RuntimeCmd, String> {
        let (name, rest) = match s.split_once('=') {
            Some((n, r)) if !n.contains(' ') && !n.contains('/') => (Some(n.to_string()), r),
            _ => (None, s),
        };
        let argv: Vec<String> = rest.split_whitespace().map(String::from).collect();
        if argv.is_empty() {
            return Err(format!("empty runtime {s:?}"));
        }
        let name = name.unwrap_or_else(|| {
            let base = argv[0].rsplit('/').next().unwrap_or(&argv[0]).to_string();
            if argv.len() > 1 {
                format!("{base} {}", argv[1..].join(" "))
            } else {
                base
            }
        });
        Ok(RuntimeCmd { name, argv })
    }

    fn base(&self, root: &Path) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]);
        c.arg("--root").arg(root);
        c.stdin(Stdio::null());
        c
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub probe: PathBuf,
    /// Bound for each runtime invocation and for waiting on B.
    pub timeout: Duration,
    /// Where the temp dirs go (default: the system temp dir).
    pub tmp: Option<PathBuf>,
}

/// One audit: a runtime, a scenario, what was seen, the verdicts.
#[derive(Debug, Clone)]
pub struct AuditRun {
    pub runtime: String,
    pub scenario: String,
    pub observations: Observations,
    pub results: Vec<CheckResult>,
    /// Problems met while cleaning up (anything left behind is reported, never hidden).
    pub cleanup: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// probe discovery

/// The static probe: `explicit`, `$MOAT_AUDIT_PROBE`, next to the current executable, or where
/// `scripts/build-audit-probe.sh` (the static recipe) puts it relative to it.
pub fn find_probe(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        cands.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("MOAT_AUDIT_PROBE") {
            cands.push(PathBuf::from(p));
        }
        if let Ok(exe) = std::env::current_exe() {
            if let Some(dir) = exe.parent() {
                cands.push(dir.join("moat-audit-probe"));
                for up in [dir.join(".."), dir.join("../..")] {
                    cands.push(up.join("x86_64-unknown-linux-gnu/release/moat-audit-probe"));
                }
            }
        }
    }
    let mut dynamic = Vec::new();
    for c in &cands {
        if c.is_file() {
            let bytes = fs::read(c).map_err(|e| format!("read {}: {e}", c.display()))?;
            if contains(&bytes, b"/lib64/ld-linux") || contains(&bytes, b"/lib/ld-linux") {
                dynamic.push(c.display().to_string());
                continue;
            }
            return Ok(c.clone());
        }
    }
    if !dynamic.is_empty() {
        return Err(format!(
            "{} dynamically linked; the probe runs in a busybox rootfs without libc: build it \
             static with crates/audit/build-probe.sh",
            dynamic.join(", ")
        ));
    }
    Err(format!(
        "static probe not found (looked at {}); build it with crates/audit/build-probe.sh or pass --probe",
        cands
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// temp dirs, bounded commands

static COUNTER: AtomicU32 = AtomicU32::new(0);

struct Work {
    dir: PathBuf,
}

impl Work {
    fn new(base: Option<&Path>) -> Result<Work, String> {
        let base = base
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!(
            "moat-audit-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        // traversable by the containers' mapped root (user namespaces)
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o755));
        Ok(Work { dir })
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // mounts left under our dir by a runtime would make removal fail: detach first
        let prefix = format!("{}/", self.dir.display());
        let mut points: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|mp| mp.starts_with(&prefix))
            .map(String::from)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for mp in points {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&mp)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd` with stdout/stderr into files (a detached container inheriting them cannot block
/// us), killing it past `timeout`. Returns (status or None on timeout, stdout, stderr).
fn run_bounded(
    mut cmd: Command,
    out: &Path,
    timeout: Duration,
) -> Result<(Option<ExitStatus>, String, String), String> {
    let err = out.with_extension("err");
    let o = fs::File::create(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let e = fs::File::create(&err).map_err(|e| format!("create {}: {e}", err.display()))?;
    cmd.stdout(o).stderr(e);
    let desc = format!("{cmd:?}");
    let mut child = cmd.spawn().map_err(|e| format!("spawn {desc}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("wait {desc}: {e}")),
        }
    };
    Ok((
        status,
        fs::read_to_string(out).unwrap_or_default(),
        fs::read_to_string(&err).unwrap_or_default(),
    ))
}

fn tail(s: &str) -> String {
    let t: Vec<&str> = s.trim().lines().rev().take(3).collect();
    t.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

fn token() -> String {
    let mut b = [0u8; 8];
    let ok = fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ ((std::process::id() as u64) << 32);
        b = n.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// host facts

fn ns_links(pid: &str) -> Value {
    let mut m = Map::new();
    for ns in ["pid", "net", "ipc", "uts", "user", "cgroup", "mnt"] {
        if let Ok(t) = fs::read_link(format!("/proc/{pid}/ns/{ns}")) {
            m.insert(ns.into(), t.to_string_lossy().into_owned().into());
        }
    }
    Value::Object(m)
}

/// The auditor's own bounding capability set (CapBnd of /proc/self/status).
pub fn own_bounding_set() -> u64 {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(0)
}

/// A host disk for the mknod check: (name, major, minor) of the first real block device.
pub fn host_disk() -> Option<(String, u32, u32)> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["loop", "ram", "zram", "nbd", "sr", "dm-", "md", "fd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    for n in names {
        if let Ok(d) = fs::read_to_string(format!("/sys/block/{n}/dev")) {
            if let Some((a, b)) = d.trim().split_once(':') {
                if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                    return Some((n, a, b));
                }
            }
        }
    }
    None
}

/// The auditor's side: namespaces, hostname, interfaces, host disk, and the syscall baseline
/// (the probe's `baseline` mode run directly on the host).
pub fn host_facts(opts: &Options, work: &Path) -> Value {
    let mut ifaces: Vec<String> = fs::read_dir("/sys/class/net")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ifaces.sort();
    let mut c = Command::new(&opts.probe);
    c.arg("baseline").stdin(Stdio::null());
    let baseline = match run_bounded(c, &work.join("baseline.out"), opts.timeout) {
        Ok((Some(st), out, _)) if st.success() => serde_json::from_str::<Value>(out.trim())
            .map(|v| v["syscalls"].clone())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    json!({
        "ns": ns_links("self"),
        "hostname": fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        "net_ifaces": ifaces,
        "disk": host_disk().map(|(n, a, b)| {
            // can host root itself open it (read-only, nothing read)? An outer sandbox's
            // device policy may forbid it, and then no container can be blamed or credited.
            let open_r = match fs::File::open(format!("/dev/{n}")) {
                Ok(_) => "ok".to_string(),
                Err(e) if e.raw_os_error() == Some(1) => "EPERM".to_string(),
                Err(e) if e.raw_os_error() == Some(13) => "EACCES".to_string(),
                Err(e) => e.to_string(),
            };
            json!({"name": n, "dev": format!("{a}:{b}"), "open_r": open_r})
        }),
        "baseline": baseline,
        "files": host_files(),
    })
}

/// Kernel interfaces some checks look at: whether this host has them at all (a kernel built
/// without /proc/kcore cannot expose it, and a container cannot be credited for blocking it).
pub const HOST_FILES: &[&str] = &[
    "/proc/kcore",
    "/proc/sysrq-trigger",
    "/proc/kallsyms",
    "/proc/timer_list",
    "/proc/sys/kernel/core_pattern",
];

fn host_files() -> Value {
    let mut m = Map::new();
    for f in HOST_FILES {
        m.insert((*f).into(), Path::new(f).exists().into());
    }
    Value::Object(m)
}

/// The files holding the pids and memory limits of the cgroup in `proc_cgroup` (the text of
/// `/proc/<pid>/cgroup`), below `root` (normally /sys/fs/cgroup). Pure.
pub fn limit_files(proc_cgroup: &str, root: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        for c in ctrls.split(',') {
            match c {
                "pids" => out.push(("pids", root.join("pids").join(rel).join("pids.max"))),
                "memory" => out.push((
                    "memory",
                    root.join("memory").join(rel).join("memory.limit_in_bytes"),
                )),
                "" => v2 = Some(rel.to_string()),
                _ => {}
            }
        }
    }
    if let Some(rel) = v2 {
        // pure cgroup v2 (the controllers live in the unified tree)
        if !out.iter().any(|(k, _)| *k == "pids") {
            out.push(("pids", root.join(&rel).join("pids.max")));
        }
        if !out.iter().any(|(k, _)| *k == "memory") {
            out.push(("memory", root.join(&rel).join("memory.max")));
        }
    }
    out
}

fn b_host_side(pid: i64) -> Value {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut limits = Map::new();
    for (kind, file) in limit_files(&cg, Path::new("/sys/fs/cgroup")) {
        let v = match fs::read_to_string(&file) {
            Ok(s) => json!({"file": file.display().to_string(), "value": s.trim()}),
            Err(e) => json!({"file": Value::Null, "error": format!("{}: {e}", file.display())}),
        };
        limits.insert(kind.into(), v);
    }
    let uid_map: Vec<String> = fs::read_to_string(format!("/proc/{pid}/uid_map"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    json!({"host_pid": pid, "cgroup": Value::Object(limits), "uid_map": uid_map,
           "ns": ns_links(&pid.to_string())})
}

// ---------------------------------------------------------------------------------------------
// bundles

fn build_bundle(
    dir: &Path,
    probe: &Path,
    config: &Value,
    secret: Option<&str>,
) -> Result<(), String> {
    let e = |what: &str, p: &Path, err: std::io::Error| format!("{what} {}: {err}", p.display());
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        let p = rootfs.join(d);
        fs::create_dir_all(&p).map_err(|x| e("mkdir", &p, x))?;
    }
    for p in [dir.to_path_buf(), rootfs.clone()] {
        let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o755));
    }
    let _ = fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777));
    if Path::new("/bin/busybox").exists() {
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .map_err(|x| e("copy", Path::new("/bin/busybox"), x))?;
        for a in ["sh", "sleep", "cat", "ls"] {
            let _ = symlink("busybox", rootfs.join("bin").join(a));
        }
    }
    let dst = rootfs.join(PROBE_IN_ROOTFS.trim_start_matches('/'));
    fs::copy(probe, &dst).map_err(|x| e("copy", probe, x))?;
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755))
        .map_err(|x| e("chmod", &dst, x))?;
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n",
    )
    .map_err(|x| e("write", &rootfs, x))?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n")
        .map_err(|x| e("write", &rootfs, x))?;
    if let Some(s) = secret {
        let p = rootfs.join(SECRET_FILE);
        fs::write(&p, s).map_err(|x| e("write", &p, x))?;
        let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o644));
    }
    let cfg = dir.join("config.json");
    fs::write(
        &cfg,
        serde_json::to_string_pretty(config).unwrap_or_default(),
    )
    .map_err(|x| e("write", &cfg, x))
}

// ---------------------------------------------------------------------------------------------
// one audit

struct Cleanup<'a> {
    rt: &'a RuntimeCmd,
    root: PathBuf,
    ids: Vec<String>,
    b_rootfs: PathBuf,
    shm_key: Option<i32>,
    notes: Vec<String>,
    timeout: Duration,
}

impl Cleanup<'_> {
    /// `state ID`'s status, bounded (a hung runtime must not hang the cleanup).
    fn state_status(&self, id: &str) -> Option<String> {
        let mut c = self.rt.base(&self.root);
        c.arg("state").arg(id);
        let out = self.root.with_file_name(format!("state-{id}.out"));
        let bound = self.timeout.min(Duration::from_secs(10));
        let (_, stdout, _) = run_bounded(c, &out, bound).ok()?;
        let v: Value = serde_json::from_str(&stdout).ok()?;
        v["status"].as_str().map(String::from)
    }

    fn run(&mut self) {
        // ask B to clean up its shm and exit, give it a moment
        let _ = fs::write(self.b_rootfs.join(STOP_FILE), "stop");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            match self.ids.last().and_then(|id| self.state_status(id)) {
                Some(s) if s == "running" => std::thread::sleep(Duration::from_millis(50)),
                _ => break,
            }
        }
        for id in self.ids.clone() {
            let mut c = self.rt.base(&self.root);
            c.args(["delete", "--force", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = match c.spawn() {
                Ok(ch) => ch,
                Err(e) => {
                    self.notes.push(format!("delete --force {id}: {e}"));
                    continue;
                }
            };
            let dl = Instant::now() + self.timeout;
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() > dl => {
                        let _ = child.kill();
                        let _ = child.wait();
                        self.notes.push(format!("delete --force {id} timed out"));
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => break,
                }
            }
            if self.state_status(&id).is_some() {
                self.notes.push(format!(
                    "{id} still known to the runtime after delete --force"
                ));
            }
        }
        // a segment B made in the host's IPC namespace and could not remove (killed)
        if let Some(key) = self.shm_key {
            let hex = format!("{key:#x}");
            let present = fs::read_to_string("/proc/sysvipc/shm")
                .unwrap_or_default()
                .lines()
                .skip(1)
                .any(|l| l.split_whitespace().next() == Some(&key.to_string()));
            if present {
                let ok = Command::new("ipcrm")
                    .args(["-M", &hex])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if !ok {
                    self.notes
                        .push(format!("SysV shm key {hex} left in the host IPC namespace"));
                }
            }
        }
    }
}

/// FNV-1a of the token, as the probe computes it (`moat_audit_probe::shm_key`).
pub fn shm_key(token: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in token.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    ((h & 0x3fff_ffff) | 0x4000_0000) as i32
}

fn parse_json_line(out: &str, must_have: &str) -> Option<Value> {
    out.lines()
        .filter(|l| l.trim_start().starts_with('{') && l.contains(must_have))
        .find_map(|l| serde_json::from_str(l).ok())
}

/// Runs one audit of `scenario` on `rt`. Errors only for problems of the auditor itself
/// (temp dirs, the probe); a runtime that fails shows up as skipped checks with the reason.
pub fn audit(rt: &RuntimeCmd, scenario: &Scenario, opts: &Options) -> Result<AuditRun, String> {
    let work = Work::new(opts.tmp.as_deref())?;
    let w = work.dir.clone();
    let root = w.join("state");
    fs::create_dir_all(&root).map_err(|e| format!("mkdir {}: {e}", root.display()))?;
    let tok = token();
    let id_a = format!("moat-audit-{tok}-a");
    let id_b = format!("moat-audit-{tok}-b");
    let host = host_facts(opts, &w);

    // tenant B
    let bdir = w.join("b");
    let b_args: Vec<String> = [PROBE_IN_ROOTFS, "tenant-b", "--token", &tok, "--ttl"]
        .iter()
        .map(|s| s.to_string())
        .chain([(opts.timeout.as_secs() * 3 + 30).to_string()])
        .collect();
    let b_cfg = prepare(
        &scenario.config_b,
        &b_args,
        &[format!("{SECRET_ENV}={tok}")],
    );
    build_bundle(&bdir, &opts.probe, &b_cfg, Some(&tok))?;
    let mut cleanup = Cleanup {
        rt,
        root: root.clone(),
        ids: vec![id_a.clone(), id_b.clone()],
        b_rootfs: bdir.join("rootfs"),
        shm_key: Some(shm_key(&tok)),
        notes: vec![],
        timeout: opts.timeout,
    };
    let mut run_b = rt.base(&root);
    run_b.args(["run", "-d"]);
    if scenario.no_new_keyring {
        run_b.arg("--no-new-keyring");
    }
    run_b.arg("--bundle").arg(&bdir).arg(&id_b);
    let b = match run_bounded(run_b, &w.join("b.out"), opts.timeout) {
        Err(e) => json!({"error": e}),
        Ok((None, _, err)) => json!({"error": format!("run -d timed out: {}", tail(&err))}),
        Ok((Some(st), _, err)) if !st.success() => {
            json!({"error": format!("run -d exited {}: {}", st.code().unwrap_or(-1), tail(&err))})
        }
        Ok(_) => {
            let deadline = Instant::now() + opts.timeout;
            let mut ready = None;
            while Instant::now() < deadline {
                let out = fs::read_to_string(w.join("b.out")).unwrap_or_default();
                if let Some(v) = parse_json_line(&out, "\"ready\"") {
                    ready = Some(v);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut st = rt.base(&root);
            st.args(["state", &id_b]);
            let state = run_bounded(st, &w.join("b-state.out"), opts.timeout)
                .ok()
                .and_then(|(_, out, _)| serde_json::from_str::<Value>(&out).ok());
            let pid = state.as_ref().and_then(|s| s["pid"].as_i64());
            match (ready, pid) {
                (None, _) => json!({"error": format!("no ready line from tenant B: {}",
                    tail(&fs::read_to_string(w.join("b.err")).unwrap_or_default()))}),
                (Some(_), None) => json!({"error": "state of tenant B has no pid"}),
                (Some(r), Some(pid)) => {
                    let mut v = b_host_side(pid);
                    v["ready"] = r;
                    v
                }
            }
        }
    };

    // tenant A
    let adir = w.join("a");
    let mut a_args: Vec<String> = [PROBE_IN_ROOTFS, "tenant-a", "--token", &tok]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(p) = b["host_pid"].as_i64() {
        a_args.extend(["--b-pid".into(), p.to_string()]);
    }
    if let Some(p) = b["ready"]["tcp_port"].as_u64() {
        a_args.extend(["--b-port".into(), p.to_string()]);
    }
    if let Some(d) = host["disk"]["dev"].as_str() {
        a_args.extend(["--blk".into(), d.to_string()]);
    }
    let rt_base = rt.argv[0].rsplit('/').next().unwrap_or("").to_string();
    a_args.extend(["--runtime-name".into(), rt_base]);
    let a_cfg = prepare(&scenario.config_a, &a_args, &[]);
    build_bundle(&adir, &opts.probe, &a_cfg, None)?;
    let mut run_args: Vec<String> = Vec::new();
    run_args.push("run".into());
    if scenario.no_new_keyring {
        run_args.push("--no-new-keyring".into());
    }
    let run_a = match &scenario.leak_fd {
        None => {
            let mut c = rt.base(&root);
            c.args(&run_args);
            c
        }
        Some(dir) => {
            // fd 3 = an open directory of the host, handed over with --preserve-fds 1
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg("d=$1; shift; exec 3<\"$d\" && exec \"$@\"")
                .arg("sh")
                .arg(dir)
                .args(&rt.argv)
                .arg("--root")
                .arg(&root)
                .args(&run_args)
                .args(["--preserve-fds", "1"])
                .stdin(Stdio::null());
            c
        }
    };
    let mut run_a = run_a;
    run_a.arg("--bundle").arg(&adir).arg(&id_a);
    let a = match run_bounded(run_a, &w.join("a.out"), opts.timeout) {
        Err(e) => json!({"error": e}),
        Ok((None, _, err)) => json!({"error": format!("run timed out: {}", tail(&err))}),
        Ok((st, out, err)) => match parse_json_line(&out, "\"tenant-a\"") {
            Some(v) => v,
            None => json!({"error": format!("no report (exit {:?}): {}",
                st.and_then(|s| s.code()), tail(&err))}),
        },
    };

    cleanup.run();
    let notes = std::mem::take(&mut cleanup.notes);
    drop(work);
    let observations = Observations { host, a, b };
    let results = evaluate(&observations);
    Ok(AuditRun {
        runtime: rt.name.clone(),
        scenario: scenario.name.clone(),
        observations,
        results,
        cleanup: notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_parse() {
        let r = RuntimeCmd::parse("runc").unwrap();
        assert_eq!((r.name.as_str(), r.argv.len()), ("runc", 1));
        let r = RuntimeCmd::parse("compat=target/release/moat --policy compat").unwrap();
        assert_eq!(r.name, "compat");
        assert_eq!(r.argv, ["target/release/moat", "--policy", "compat"]);
        let r = RuntimeCmd::parse("/usr/bin/crun").unwrap();
        assert_eq!(r.name, "crun");
        assert!(RuntimeCmd::parse("  ").is_err());
    }

    #[test]
    fn limit_files_v1_hybrid_v2() {
        let v1 = "12:pids:/moat/x\n6:memory:/moat/x\n0::/moat/x\n";
        let f = limit_files(v1, Path::new("/c"));
        assert!(f.contains(&("pids", PathBuf::from("/c/pids/moat/x/pids.max"))));
        assert!(f.contains(&(
            "memory",
            PathBuf::from("/c/memory/moat/x/memory.limit_in_bytes")
        )));
        assert_eq!(f.len(), 2);
        let v2 = "0::/system.slice/x\n";
        let f = limit_files(v2, Path::new("/c"));
        assert_eq!(
            f,
            vec![
                ("pids", PathBuf::from("/c/system.slice/x/pids.max")),
                ("memory", PathBuf::from("/c/system.slice/x/memory.max"))
            ]
        );
    }

    #[test]
    fn shm_key_stable() {
        assert_eq!(shm_key("abc"), shm_key("abc"));
        assert_ne!(shm_key("abc"), shm_key("abd"));
        assert!(shm_key("x") > 0);
    }
}

#[cfg(test)]
mod probe_sync {
    #[test]
    fn shm_key_matches_the_probe() {
        for t in ["", "0123456789abcdef", "x"] {
            assert_eq!(super::shm_key(t), moat_audit_probe::shm_key(t));
        }
        assert_eq!(super::STOP_FILE, &moat_audit_probe::STOP_FILE[1..]);
        assert_eq!(super::SECRET_FILE, &moat_audit_probe::SECRET_FILE[1..]);
        assert_eq!(super::SECRET_ENV, moat_audit_probe::SECRET_ENV);
    }
}
