//! Shared harness for the end-to-end tests (layer 4 in ARCHITECTURE.md): busybox bundles,
//! a `Runtime` handle that drives either runc or moat through their CLI, leak checks and a
//! readable JSON diff.
//!
//! * `Runtime::moat()` runs `$MOAT_E2E_BINARY` if set (e.g. `/usr/sbin/runc` to validate the
//!   harness itself), else the `moat` binary built by cargo for this test.
//! * `Runtime::runc()` runs `$RUNC_BINARY` or `/usr/sbin/runc`.
//! * Bundles are built from the host's static busybox (`/bin/busybox`) and, when asked, the
//!   static checker (`scripts/build-checker.sh`).
//!
//! Every test uses its own `--root` and bundle temp dirs and a unique container id, so tests
//! can run in parallel.
#![allow(dead_code)]

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest any single runtime invocation (or wait) may take before the harness gives up and
/// kills it: 60 s, or `$MOAT_E2E_TIMEOUT_SECS`.
pub fn cmd_timeout() -> Duration {
    let secs = std::env::var("MOAT_E2E_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// A temp directory removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "moat-e2e-{prefix}-{}-{}-{nanos:x}",
            std::process::id(),
            next()
        ));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A container id unique to this test process and call: `<name>-<pid>-<n>`.
pub fn unique_id(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), next())
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The static checker; panics with build instructions when it is missing.
pub fn checker_path() -> PathBuf {
    let p = workspace_root().join("target/x86_64-unknown-linux-gnu/release/moat-checker");
    if !p.exists() {
        panic!(
            "static checker not found at {}\nbuild it first with: scripts/build-checker.sh\n\
             (RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release -p moat-checker \
             --target x86_64-unknown-linux-gnu)",
            p.display()
        );
    }
    p
}

pub fn runc_path() -> PathBuf {
    std::env::var_os("RUNC_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"))
}

pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "cat", "echo", "ls", "id", "hostname", "mount", "ps", "mkdir",
    "touch", "kill", "stat", "readlink", "env", "pwd", "grep", "test", "mknod", "umask",
];

/// An OCI bundle in a temp dir: `rootfs/` (busybox, optional checker, /etc/passwd, /etc/group)
/// and `config.json` from `runc spec` with `process.terminal = false` and args `/bin/true`.
pub struct Bundle {
    dir: TempDir,
}

impl Bundle {
    /// Busybox-only bundle, `modify` edits the config.
    pub fn new(modify: impl FnOnce(&mut Value)) -> Bundle {
        Self::build(false, modify)
    }

    /// Bundle with the static checker at `/checker` (panics if it has not been built).
    pub fn with_checker(modify: impl FnOnce(&mut Value)) -> Bundle {
        Self::build(true, modify)
    }

    fn build(checker: bool, modify: impl FnOnce(&mut Value)) -> Bundle {
        let dir = TempDir::new("bundle");
        let b = Bundle { dir };
        let rootfs = b.rootfs();
        for d in [
            "bin",
            "etc",
            "proc",
            "sys",
            "dev",
            "root",
            "home/user",
            "tmp",
        ] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("copy /bin/busybox (is busybox-static installed?)");
        for a in BUSYBOX_APPLETS {
            symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        if checker {
            fs::copy(checker_path(), rootfs.join("checker")).unwrap();
        }
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n\
             user:x:1000:1000:user:/home/user:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\nwheel:x:10:user\nusers:x:100:user\nuser:x:1000:\n\
             extra:x:2000:user\nnogroup:x:65534:\n",
        )
        .unwrap();
        let out = Command::new(runc_path())
            .arg("spec")
            .current_dir(b.path())
            .output()
            .expect("run `runc spec`");
        assert!(out.status.success(), "runc spec failed: {out:?}");
        let mut cfg = b.config();
        cfg["process"]["terminal"] = json!(false);
        cfg["process"]["args"] = json!(["/bin/true"]);
        modify(&mut cfg);
        b.write_config(&cfg);
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    pub fn config(&self) -> Value {
        let s = fs::read_to_string(self.path().join("config.json")).unwrap();
        serde_json::from_str(&s).unwrap()
    }

    pub fn write_config(&self, cfg: &Value) {
        fs::write(
            self.path().join("config.json"),
            serde_json::to_string_pretty(cfg).unwrap(),
        )
        .unwrap();
    }

    pub fn edit_config(&self, modify: impl FnOnce(&mut Value)) {
        let mut cfg = self.config();
        modify(&mut cfg);
        self.write_config(&cfg);
    }
}

impl Drop for Bundle {
    /// Host mounts under the bundle (made by a test, or leaked by a runtime) would make the
    /// temp dir removal fail: detach them first, deepest first.
    fn drop(&mut self) {
        let prefix = format!("{}/", self.path_str());
        let mut points: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|mp| mp.starts_with(&prefix))
            .map(String::from)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for mp in points {
            let _ = Command::new("umount").arg("-l").arg(&mp).status();
        }
    }
}

/// Drives one runtime binary with its own `--root`.
pub struct Runtime {
    pub binary: PathBuf,
    pub root: TempDir,
    /// "runc" or "moat" (what the test asked for, even if MOAT_E2E_BINARY points at runc).
    pub name: &'static str,
    /// Global flags put before every command (moat's `--policy`).
    pub global: Vec<String>,
}

/// Output of one invocation, with convenient accessors.
pub trait OutputExt {
    fn code(&self) -> Option<i32>;
    fn stdout_str(&self) -> String;
    fn stderr_str(&self) -> String;
    fn describe(&self) -> String;
}

impl OutputExt for Output {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }
    fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout_str(),
            self.stderr_str()
        )
    }
}

impl Runtime {
    pub fn runc() -> Runtime {
        Runtime {
            binary: runc_path(),
            root: TempDir::new("root-runc"),
            name: "runc",
            global: Vec::new(),
        }
    }

    /// moat under its `compat` policy: behaves exactly as runc, so the
    /// comparison tests hold it to runc's behaviour.
    pub fn moat() -> Runtime {
        Runtime::moat_policy("compat")
    }

    /// moat under its default policy (the hardened security floor).
    pub fn moat_hardened() -> Runtime {
        Runtime::moat_policy("hardened")
    }

    fn moat_policy(policy: &str) -> Runtime {
        let over = std::env::var_os("MOAT_E2E_BINARY").map(PathBuf::from);
        let global = if over.is_some() {
            Vec::new()
        } else {
            vec!["--policy".to_string(), policy.to_string()]
        };
        let binary = over.unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_moat")));
        Runtime {
            binary,
            root: TempDir::new("root-moat"),
            name: "moat",
            global,
        }
    }

    /// Both runtimes, runc first.
    pub fn both() -> [Runtime; 2] {
        [Runtime::runc(), Runtime::moat()]
    }

    /// runc, moat (compat) and moat under its default hardened floor —
    /// for checks every runtime must pass, e.g. bad input leaving nothing.
    pub fn all() -> Vec<Runtime> {
        let mut v = vec![Runtime::runc(), Runtime::moat()];
        if std::env::var_os("MOAT_E2E_BINARY").is_none() {
            v.push(Runtime::moat_hardened());
        }
        v
    }

    /// True when the binary is really runc (so moat-only checks can be skipped).
    pub fn is_really_runc(&self) -> bool {
        Command::new(&self.binary)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("runc version"))
            .unwrap_or(false)
    }

    pub fn root_path(&self) -> &Path {
        self.root.path()
    }

    /// `binary --root ROOT <args>` with stdin from /dev/null.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(&self.global);
        c.arg("--root").arg(self.root.path());
        c.args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs `binary --root ROOT <args>` to completion (bounded by cmd_timeout()).
    /// stdout/stderr go to files, so a container that inherits them cannot block us: we wait
    /// for the runtime process to exit, not for EOF.
    pub fn exec<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        run_command(self.command(args), cmd_timeout())
    }

    pub fn run(&self, bundle: &Bundle, id: &str) -> Output {
        self.exec(&["run", "--bundle", bundle.path_str(), id])
    }

    pub fn run_detached(&self, bundle: &Bundle, id: &str) -> Output {
        self.exec(&["run", "-d", "--bundle", bundle.path_str(), id])
    }

    pub fn create(&self, bundle: &Bundle, id: &str) -> Output {
        self.exec(&["create", "--bundle", bundle.path_str(), id])
    }

    pub fn start(&self, id: &str) -> Output {
        self.exec(&["start", id])
    }

    pub fn state_output(&self, id: &str) -> Output {
        self.exec(&["state", id])
    }

    /// `state` parsed; panics when the command fails or prints no JSON.
    pub fn state(&self, id: &str) -> Value {
        let out = self.state_output(id);
        assert!(
            out.status.success(),
            "{} state {id} failed:\n{}",
            self.name,
            out.describe()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{} state {id}: bad JSON ({e}):\n{}",
                self.name,
                out.describe()
            )
        })
    }

    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.exec(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str) -> Output {
        self.exec(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.exec(&["delete", "--force", id])
    }

    pub fn list(&self) -> Output {
        self.exec(&["list"])
    }

    /// `list -f json` parsed. NB: runc 1.1 prints `null` (not `[]`) when there are no
    /// containers; that is returned as an empty array.
    pub fn list_json(&self) -> Vec<Value> {
        let out = self.exec(&["list", "-f", "json"]);
        assert!(
            out.status.success(),
            "{} list -f json:\n{}",
            self.name,
            out.describe()
        );
        match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(Value::Array(a)) => a,
            Ok(Value::Null) => vec![],
            other => panic!(
                "{} list -f json: unexpected {other:?}\n{}",
                self.name,
                out.describe()
            ),
        }
    }

    /// Waits (bounded) until `state` reports `status`.
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + cmd_timeout();
        loop {
            let out = self.state_output(id);
            if out.status.success() {
                if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
                    if v["status"] == status {
                        return v;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: container {id} never reached status {status:?}; last state:\n{}",
                    self.name,
                    out.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Names of the entries directly under --root.
    pub fn root_entries(&self) -> Vec<String> {
        match fs::read_dir(self.root.path()) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        }
    }
}

impl Drop for Runtime {
    /// Best effort: force-delete whatever is still registered under our --root.
    fn drop(&mut self) {
        let mut ids: Vec<String> = self.root_entries();
        if let Ok(out) = try_run_command(self.command(&["list", "-q"]), Duration::from_secs(10)) {
            if out.status.success() {
                ids.extend(out.stdout_str().lines().map(|l| l.trim().to_string()));
            }
        }
        ids.sort();
        ids.dedup();
        for id in ids.iter().filter(|i| !i.is_empty()) {
            let _ = try_run_command(
                self.command(&["delete", "--force", id.as_str()]),
                Duration::from_secs(10),
            );
        }
    }
}

/// Runs `cmd` with stdout/stderr redirected to temp files, bounded by `timeout` (the process
/// is SIGKILLed and the call panics past it).
pub fn run_command(cmd: Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    try_run_command(cmd, timeout).unwrap_or_else(|(out, err)| {
        panic!(
            "{desc} did not finish within {timeout:?}\nstdout so far: {out}\nstderr so far: {err}"
        )
    })
}

/// Like `run_command` but never panics (for Drop impls: a panic while unwinding aborts the
/// whole test binary). On timeout the process is killed and its partial output returned as
/// Err((stdout, stderr)).
pub fn try_run_command(mut cmd: Command, timeout: Duration) -> Result<Output, (String, String)> {
    let tmp = TempDir::new("out");
    let out_path = tmp.path().join("stdout");
    let err_path = tmp.path().join("stderr");
    let files = fs::File::create(&out_path).and_then(|o| Ok((o, fs::File::create(&err_path)?)));
    let (o, e) = files.map_err(|e| (String::new(), format!("temp file: {e}")))?;
    cmd.stdout(o);
    cmd.stderr(e);
    let mut child = cmd
        .spawn()
        .map_err(|e| (String::new(), format!("spawn {cmd:?}: {e}")))?;
    match wait_timeout(&mut child, timeout) {
        Some(status) => Ok(Output {
            status,
            stdout: fs::read(&out_path).unwrap_or_default(),
            stderr: fs::read(&err_path).unwrap_or_default(),
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err((
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default(),
            ))
        }
    }
}

pub fn wait_timeout(child: &mut std::process::Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------------
// Leak checks

/// Directories named `id` anywhere under /sys/fs/cgroup (a few levels deep).
pub fn cgroup_dirs_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: u32, found: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.filter_map(|e| e.ok()) {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            if e.file_name() == id {
                found.push(p.clone());
            }
            if depth > 0 {
                walk(&p, id, depth - 1, found);
            }
        }
    }
    let mut found = vec![];
    walk(Path::new("/sys/fs/cgroup"), id, 6, &mut found);
    found
}

/// Lines of the host's mountinfo mentioning `needle`.
pub fn host_mounts_mentioning(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// Processes (other than us) whose root or cwd is inside `dir`, or whose command line mentions
/// `id`.
pub fn processes_using(dir: &Path, id: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = vec![];
    let Ok(rd) = fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        let p = e.path();
        let cmdline = fs::read(p.join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let in_dir = ["root", "cwd"].iter().any(|l| {
            fs::read_link(p.join(l))
                .map(|t| t.starts_with(dir))
                .unwrap_or(false)
        });
        if in_dir || cmdline.contains(id) {
            found.push(format!("pid {pid}: {cmdline}"));
        }
    }
    found
}

/// Who holds a moat user namespace slot file: its `user.moat.id` xattr, or
/// (where the filesystem has no user xattrs) its content.
pub fn slot_owner(p: &Path) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1024];
    match rustix::fs::getxattr(p, "user.moat.id", &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => fs::read(p).ok(),
    }
}

/// Asserts the failed attempt to set up `id` from `bundle` left nothing behind: no entry named
/// `id` under --root, no cgroup dir named `id`, no host mount mentioning the bundle or id, no
/// process living in the bundle.
pub fn assert_nothing_left(rt: &Runtime, bundle: &Bundle, id: &str) {
    let mut problems = vec![];
    let entries: Vec<String> = rt
        .root_entries()
        .into_iter()
        .filter(|e| e.contains(id))
        .collect();
    if !entries.is_empty() {
        problems.push(format!("entries under --root: {entries:?}"));
    }
    let cg = cgroup_dirs_named(id);
    if !cg.is_empty() {
        problems.push(format!("cgroup dirs: {cg:?}"));
    }
    // moat's user namespace slots (files naming the container id).
    if let Ok(rd) = fs::read_dir(rt.root.path().join(".userns")) {
        for e in rd.flatten() {
            if slot_owner(&e.path()).is_some_and(|b| b == id.as_bytes()) {
                problems.push(format!(
                    "user namespace slot still held: {}",
                    e.path().display()
                ));
            }
        }
    }
    for needle in [bundle.path_str(), id] {
        let m = host_mounts_mentioning(needle);
        if !m.is_empty() {
            problems.push(format!("host mounts mentioning {needle}: {m:#?}"));
        }
    }
    let procs = processes_using(bundle.path(), id);
    if !procs.is_empty() {
        problems.push(format!("processes: {procs:#?}"));
    }
    assert!(
        problems.is_empty(),
        "{}: leftovers after failed setup of {id}:\n{}",
        rt.name,
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// JSON comparison

/// Flattens JSON into `path -> scalar` (arrays by index, objects by key).
pub fn flatten(v: &Value) -> BTreeMap<String, Value> {
    fn go(prefix: String, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    go(format!("{prefix}.{k}"), v, out);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for (i, v) in a.iter().enumerate() {
                    go(format!("{prefix}[{i}]"), v, out);
                }
            }
            _ => {
                out.insert(prefix, v.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    go(String::new(), v, &mut out);
    out
}

/// Human-readable field-by-field differences between two JSON values (empty when equal).
pub fn json_diff(left_name: &str, left: &Value, right_name: &str, right: &Value) -> Vec<String> {
    let l = flatten(left);
    let r = flatten(right);
    let mut diffs = vec![];
    for (k, lv) in &l {
        match r.get(k) {
            None => diffs.push(format!("{k}: {left_name}={lv} {right_name}=<absent>")),
            Some(rv) if rv != lv => diffs.push(format!("{k}: {left_name}={lv} {right_name}={rv}")),
            _ => {}
        }
    }
    for (k, rv) in &r {
        if !l.contains_key(k) {
            diffs.push(format!("{k}: {left_name}=<absent> {right_name}={rv}"));
        }
    }
    diffs
}

pub fn assert_json_eq(left_name: &str, left: &Value, right_name: &str, right: &Value) {
    // stdio differs on purpose: runc's foreground `run` always pipes it, moat
    // hands non-terminal stdio straight to the container (docs/compat.md).
    // Tests assert each runtime's stdio on its own.
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("stdio");
        }
        v
    };
    let (left, right) = (&strip(left), &strip(right));
    let d = json_diff(left_name, left, right_name, right);
    assert!(
        d.is_empty(),
        "{left_name} and {right_name} differ in {} field(s):\n  {}",
        d.len(),
        d.join("\n  ")
    );
}

/// The host's namespace links (`/proc/self/ns/*` of the test process).
pub fn host_namespaces() -> Map<String, Value> {
    let mut m = Map::new();
    if let Ok(rd) = fs::read_dir("/proc/self/ns") {
        for e in rd.filter_map(|e| e.ok()) {
            if let Ok(t) = fs::read_link(e.path()) {
                m.insert(
                    e.file_name().to_string_lossy().into_owned(),
                    t.to_string_lossy().into_owned().into(),
                );
            }
        }
    }
    m
}

/// Makes a checker report comparable between runtimes: the bundle path and the container id
/// become placeholders, namespace links become "new"/"host", mounts are keyed by mount point,
/// cgroup lines keep only hierarchy and controllers.
pub fn normalize_report(report: &Value, bundle: &Bundle, id: &str) -> Value {
    let text = report
        .to_string()
        .replace(bundle.path_str(), "<bundle>")
        .replace(id, "<id>");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let host = host_namespaces();
    if let Some(ns) = v.get_mut("namespaces").and_then(Value::as_object_mut) {
        for (k, val) in ns.iter_mut() {
            if let Some(s) = val.as_str() {
                *val = if host.get(k).and_then(Value::as_str) == Some(s) {
                    "host".into()
                } else {
                    "new".into()
                };
            }
        }
    }
    if let Some(Value::Array(mounts)) = v.get("mounts").cloned() {
        let mut keyed = Map::new();
        for m in mounts {
            let mp = m["mount_point"].as_str().unwrap_or("?").to_string();
            let mut key = mp.clone();
            let mut n = 2;
            while keyed.contains_key(&key) {
                key = format!("{mp}#{n}");
                n += 1;
            }
            keyed.insert(key, m);
        }
        v["mounts"] = Value::Object(keyed);
    }
    // stdout/stderr are files made by run_command, named differently on every run
    if let Some(Value::Array(fds)) = v.get_mut("stdio") {
        let prefix = std::env::temp_dir().join("moat-e2e-out-");
        let prefix = prefix.to_string_lossy();
        for fd in fds.iter_mut() {
            if fd.as_str().is_some_and(|s| s.starts_with(&*prefix)) {
                *fd = "<output file>".into();
            }
        }
    }
    if let Some(Value::Array(lines)) = v.get("cgroup").cloned() {
        let kept: Vec<Value> = lines
            .iter()
            .filter_map(Value::as_str)
            .map(|l| {
                l.rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(l)
                    .to_string()
                    .into()
            })
            .collect();
        v["cgroup"] = Value::Array(kept);
    }
    v
}

/// Parses the single JSON object the checker printed on stdout.
pub fn parse_report(rt: &Runtime, out: &Output) -> Value {
    let s = out.stdout_str();
    let line = s
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("{}: checker printed no JSON:\n{}", rt.name, out.describe()));
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "{}: checker JSON invalid ({e}):\n{}",
            rt.name,
            out.describe()
        )
    })
}

/// Runs the checker bundle built by `make` under both runtimes (a fresh bundle each, same
/// config) and returns `[(runc report, raw), (moat report, raw)]` normalized.
pub fn run_checker_both(make: impl Fn() -> Bundle, name: &str) -> Vec<(Value, Value)> {
    let mut res = vec![];
    for rt in Runtime::both() {
        let bundle = make();
        let id = unique_id(name);
        let out = rt.run(&bundle, &id);
        assert_eq!(
            out.code(),
            Some(0),
            "{} run of the checker failed:\n{}",
            rt.name,
            out.describe()
        );
        let raw = parse_report(&rt, &out);
        res.push((normalize_report(&raw, &bundle, &id), raw));
    }
    res
}

/// Writes an executable shell script.
pub fn write_script(path: &Path, body: &str) {
    let mut f = fs::File::create(path).unwrap();
    writeln!(f, "#!/bin/sh\n{body}").unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}
