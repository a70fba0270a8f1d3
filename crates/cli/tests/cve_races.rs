//! The runc escape CVEs that are races or symlink games on paths the runtime
//! resolves while it sets a container up (issue #5). Each test mounts the
//! attack against moat and asserts that nothing happened outside the
//! container: a canary directory or file on the host stays untouched, the
//! runtime's writes never land in a file the container planted.
//!
//! Every test also shows that its observation *can* fail: either runc 1.1.5
//! (Debian's, on this host) falls for the same attack, or a deliberately
//! naive runtime step (mount/mkdir by path string, run with `unshare -m`)
//! is shown escaping with the attack already in place. runc's results are
//! printed (`--nocapture` shows them), never asserted: Debian patches vary.
//!
//! No real host target is ever used: every redirect points at a canary in a
//! temp dir (never /proc/sysrq-trigger or core_pattern themselves).

mod common;

use common::*;
use nix::fcntl::RenameFlags;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Victim creations per runtime in a race test (each one is a whole
/// `run`; the bound keeps a test well under 30 s).
const RACE_ROUNDS: usize = 25;

fn moats() -> Vec<Runtime> {
    if std::env::var_os("MOAT_E2E_BINARY").is_some() {
        return vec![Runtime::moat()];
    }
    vec![Runtime::moat(), Runtime::moat_hardened()]
}

/// A bind mount entry for the config.
fn bind(src: &Path, dest: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": "bind", "source": src, "options": opts})
}

fn push_mounts(c: &mut Value, extra: Vec<Value>) {
    let m = c["mounts"].as_array_mut().unwrap();
    m.extend(extra);
}

fn mkdir_open(p: &Path) {
    fs::create_dir_all(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o777)).unwrap();
}

fn entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn is_symlink(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

/// A "deliberately vulnerable runtime": `script` run as root in a private
/// mount namespace of its own (nothing it mounts reaches the host).
fn naive(script: &str) -> std::process::Output {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", script]);
    run_command(c, cmd_timeout())
}

/// The racing attacker: a host-side thread that swaps two names in a shared
/// volume with `renameat2(RENAME_EXCHANGE)` as fast as it can — exactly what
/// a container sharing that volume can do. Stopped (and the names put back)
/// by `stop`.
struct Swapper {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
    dir: PathBuf,
    a: &'static str,
    b: &'static str,
}

impl Swapper {
    fn start(dir: &Path, a: &'static str, b: &'static str) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, d) = (stop.clone(), dir.to_path_buf());
        let handle = std::thread::spawn(move || {
            let dirfd = fs::File::open(&d).unwrap();
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(&dirfd, a, &dirfd, b, RenameFlags::RENAME_EXCHANGE)
                    .expect("renameat2 RENAME_EXCHANGE");
                n += 1;
            }
            n
        });
        Swapper {
            stop,
            handle: Some(handle),
            dir: dir.to_path_buf(),
            a,
            b,
        }
    }

    /// Stops the thread; `a` is the real directory again. Returns the swaps done.
    fn stop(mut self) -> u64 {
        self.halt()
    }

    fn halt(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let n = self.handle.take().map(|h| h.join().unwrap()).unwrap_or(0);
        if is_symlink(&self.dir.join(self.a)) {
            let d = fs::File::open(&self.dir).unwrap();
            nix::fcntl::renameat2(&d, self.a, &d, self.b, RenameFlags::RENAME_EXCHANGE).unwrap();
        }
        n
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.halt();
        }
    }
}

/// Tally of one runtime's race rounds, for the printed report.
#[derive(Default)]
struct Tally {
    ran: usize,
    refused: usize,
    escaped: usize,
    swaps: u64,
    first_refusal: Option<String>,
}

impl Tally {
    fn report(&self, rt: &str, cve: &str) -> String {
        format!(
            "{cve} {rt}: {} rounds ({} swaps): ran {}, refused {}, ESCAPED {}{}",
            self.ran + self.refused + self.escaped,
            self.swaps,
            self.ran,
            self.refused,
            self.escaped,
            self.first_refusal
                .as_deref()
                .map(|s| format!(" (first refusal: {})", s.trim()))
                .unwrap_or_default()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2021-30465

/// Fixture shared by the two mount-target races: a shared volume `vol`
/// (the attacker's), a host directory `hostdir` that must stay untouched,
/// and the symlink `vol/s -> <hostdir>` (a host path: only a runtime that
/// resolves the destination in the host's view follows it there).
struct SharedVolume {
    tmp: TempDir,
}

impl SharedVolume {
    fn new(real: &str) -> SharedVolume {
        let tmp = TempDir::new("cve-vol");
        let sv = SharedVolume { tmp };
        mkdir_open(&sv.vol());
        mkdir_open(&sv.vol().join(real));
        mkdir_open(&sv.hostdir());
        symlink(sv.hostdir(), sv.vol().join("s")).unwrap();
        mkdir_open(&sv.src());
        fs::write(sv.src().join("ESCAPED"), "x").unwrap();
        sv
    }
    fn vol(&self) -> PathBuf {
        self.tmp.path().join("vol")
    }
    fn hostdir(&self) -> PathBuf {
        self.tmp.path().join("hostdir")
    }
    /// What the victim's second mount binds (a file named ESCAPED in it).
    fn src(&self) -> PathBuf {
        self.tmp.path().join("src")
    }
}

/// CVE-2021-30465: two containers share a volume; the victim's config
/// mounts the volume at /vol and another directory at /vol/d. The attacker
/// swaps `d` for a symlink while the runtime mounts, so that a runtime that
/// checks the path and then mounts by *string* follows the symlink out of
/// the rootfs. Here the symlink names a host directory, which the victim
/// also sees read-only at /hostview (rbind, after the attack mount): if the
/// attack mount ever lands on the host directory, /hostview shows ESCAPED.
/// moat opens the destination with openat2(RESOLVE_IN_ROOT) and mounts on
/// that fd (/proc/self/fd/N), so a swapped symlink is followed inside the
/// rootfs only (here: to nothing, so the round is refused).
#[test]
fn cve_2021_30465_bind_target_swapped_for_symlink() {
    let sv = SharedVolume::new("d");
    let (vol, src, hostdir) = (sv.vol(), sv.src(), sv.hostdir());
    let make = || {
        Bundle::new(|c| {
            push_mounts(
                c,
                vec![
                    bind(&vol, "/vol", &["rbind"]),
                    bind(&src, "/vol/d", &["bind"]),
                    bind(&hostdir, "/hostview", &["rbind", "ro"]),
                ],
            );
            c["process"]["args"] = json!(["sh", "-c", "ls -A /hostview; echo END"]);
        })
    };

    // Negative control: with the swap already done, a runtime that mounts by
    // path string lands the mount on the host directory.
    let bundle = make();
    fs::remove_dir(vol.join("d")).unwrap();
    symlink(&hostdir, vol.join("d")).unwrap();
    let r = bundle.rootfs();
    let out = naive(&format!(
        "mkdir -p {r}/vol {r}/hostview && mount --rbind {vol} {r}/vol && \
         mount --bind {src} {r}/vol/d && mount --rbind {h} {r}/hostview && ls -A {r}/hostview",
        r = r.display(),
        vol = vol.display(),
        src = src.display(),
        h = hostdir.display()
    ));
    assert!(
        out.stdout_str().contains("ESCAPED"),
        "negative control: the naive by-path mount should have escaped:\n{}",
        out.describe()
    );
    // moat with the swap already done: never escapes.
    for rt in moats() {
        let id = unique_id("cve30465s");
        let out = rt.run(&bundle, &id);
        assert!(
            !out.stdout_str().contains("ESCAPED"),
            "{}: static symlink: the mount landed on the host dir:\n{}",
            rt.name,
            out.describe()
        );
        rt.delete_force(&id);
        assert_nothing_left(&rt, &bundle, &id);
    }
    fs::remove_file(vol.join("d")).unwrap();
    mkdir_open(&vol.join("d"));
    drop(bundle);

    // The race proper.
    let mut rts = moats();
    rts.push(Runtime::runc());
    for rt in rts {
        let mut t = Tally::default();
        for _ in 0..RACE_ROUNDS {
            let bundle = make();
            let id = unique_id("cve30465");
            let sw = Swapper::start(&vol, "d", "s");
            let out = rt.run(&bundle, &id);
            t.swaps += sw.stop();
            let escaped = out.stdout_str().contains("ESCAPED") || !entries(&hostdir).is_empty();
            if escaped {
                t.escaped += 1;
            } else if out.stdout_str().contains("END") {
                t.ran += 1;
            } else {
                t.refused += 1;
                t.first_refusal.get_or_insert(out.stderr_str());
            }
            rt.delete_force(&id);
            if rt.name == "moat" {
                assert!(
                    !escaped,
                    "{}: the racing attacker redirected the mount out of the rootfs:\n{}",
                    rt.name,
                    out.describe()
                );
                assert_nothing_left(&rt, &bundle, &id);
            }
        }
        eprintln!("{}", t.report(rt.name, "CVE-2021-30465"));
        if rt.name == "moat" {
            assert!(
                t.ran > 0,
                "moat never ran the victim: the test proves nothing"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2024-45310

/// CVE-2024-45310: the runtime creates a missing bind-mount target
/// (`mkdir -p /vol/a/b/c`) while the attacker swaps the component `a` for a
/// symlink to a host directory: a runtime that checks the path and then
/// mkdirs by string creates `b/c` on the host. moat creates each component
/// with mkdirat() on the fd of its parent, resolved with RESOLVE_IN_ROOT,
/// so the host directory must stay empty.
#[test]
fn cve_2024_45310_mkdir_through_swapped_component() {
    let sv = SharedVolume::new("a");
    let (vol, src, hostdir) = (sv.vol(), sv.src(), sv.hostdir());
    let make = || {
        Bundle::new(|c| {
            push_mounts(
                c,
                vec![
                    bind(&vol, "/vol", &["rbind"]),
                    bind(&src, "/vol/a/b/c", &["bind"]),
                ],
            );
            c["process"]["args"] = json!(["sh", "-c", "ls -A /vol/a/b/c; echo END"]);
        })
    };
    let reset = || {
        let _ = fs::remove_dir_all(vol.join("a/b"));
        for e in entries(&hostdir) {
            let _ = fs::remove_dir_all(hostdir.join(e));
        }
    };

    // Negative control: `a` already swapped; a naive mkdir -p by path
    // creates b/c in the host directory.
    let bundle = make();
    fs::remove_dir(vol.join("a")).unwrap();
    symlink(&hostdir, vol.join("a")).unwrap();
    let r = bundle.rootfs();
    let out = naive(&format!(
        "mkdir -p {r}/vol && mount --rbind {vol} {r}/vol && mkdir -p {r}/vol/a/b/c",
        r = r.display(),
        vol = vol.display()
    ));
    assert!(
        hostdir.join("b/c").is_dir(),
        "negative control: naive mkdir -p should have created b/c on the host:\n{}",
        out.describe()
    );
    reset();
    for rt in moats() {
        let id = unique_id("cve45310s");
        let out = rt.run(&bundle, &id);
        assert!(
            entries(&hostdir).is_empty(),
            "{}: static symlink: created {:?} in the host dir:\n{}",
            rt.name,
            entries(&hostdir),
            out.describe()
        );
        rt.delete_force(&id);
        assert_nothing_left(&rt, &bundle, &id);
    }
    fs::remove_file(vol.join("a")).unwrap();
    mkdir_open(&vol.join("a"));
    drop(bundle);

    let mut rts = moats();
    rts.push(Runtime::runc());
    for rt in rts {
        let mut t = Tally::default();
        for _ in 0..RACE_ROUNDS {
            let bundle = make();
            let id = unique_id("cve45310");
            let sw = Swapper::start(&vol, "a", "s");
            let out = rt.run(&bundle, &id);
            t.swaps += sw.stop();
            let created = entries(&hostdir);
            if !created.is_empty() {
                t.escaped += 1;
            } else if out.stdout_str().contains("END") {
                // Ran (ls may find /vol/a swapped away by then).
                t.ran += 1;
            } else {
                t.refused += 1;
                t.first_refusal.get_or_insert(out.stderr_str());
            }
            rt.delete_force(&id);
            if rt.name == "moat" {
                assert!(
                    created.is_empty(),
                    "{}: the runtime created {created:?} in the host dir:\n{}",
                    rt.name,
                    out.describe()
                );
                assert_nothing_left(&rt, &bundle, &id);
            }
            reset();
        }
        eprintln!("{}", t.report(rt.name, "CVE-2024-45310"));
        if rt.name == "moat" {
            assert!(
                t.ran > 0,
                "moat never ran the victim: the test proves nothing"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2023-27561 / CVE-2019-16884

/// CVE-2023-27561 (a regression of CVE-2019-16884): the image makes /proc a
/// symlink, to a directory of its own holding fake `self/oom_score_adj` and
/// `sys/kernel/domainname`, or to a host directory. A runtime that follows
/// it mounts procfs somewhere else and writes the process's settings (oom
/// score, sysctls, LSM labels) into the image's fake files. moat resolves
/// /proc without following symlinks and refuses; or, if it runs, the
/// container's /proc is procfs, the fake files are unchanged and nothing is
/// mounted on the host directory.
#[test]
fn cve_2023_27561_proc_is_a_symlink() {
    let tmp = TempDir::new("cve27561");
    let hostdir = tmp.path().join("hostdir");
    mkdir_open(&hostdir);

    // Negative control: a runtime mounting procfs at <rootfs>/proc by path
    // puts it on the host directory.
    {
        let bundle = Bundle::new(|_| {});
        let p = bundle.rootfs().join("proc");
        fs::remove_dir(&p).unwrap();
        symlink(&hostdir, &p).unwrap();
        let out = naive(&format!(
            "mount -t proc proc {} && stat -f -c %T {}",
            p.display(),
            hostdir.display()
        ));
        assert!(
            out.stdout_str().trim() == "proc",
            "negative control: naive proc mount should have landed on the host dir:\n{}",
            out.describe()
        );
    }

    let mut rts = moats();
    rts.push(Runtime::runc());
    for rt in rts {
        for target in ["evil", "/evil", hostdir.to_str().unwrap()] {
            let bundle = Bundle::new(|c| {
                c["process"]["oomScoreAdj"] = json!(123);
                c["linux"]["sysctl"] = json!({"kernel.domainname": "moatcheck"});
                c["process"]["args"] = json!([
                    "sh",
                    "-c",
                    "stat -f -c %T /proc; cat /proc/self/oom_score_adj; echo END"
                ]);
            });
            let r = bundle.rootfs();
            fs::create_dir_all(r.join("evil/self")).unwrap();
            fs::create_dir_all(r.join("evil/sys/kernel")).unwrap();
            fs::write(r.join("evil/self/oom_score_adj"), "fake\n").unwrap();
            fs::write(r.join("evil/sys/kernel/domainname"), "fake\n").unwrap();
            fs::remove_dir(r.join("proc")).unwrap();
            symlink(target, r.join("proc")).unwrap();
            let id = unique_id("cve27561");
            let out = rt.run(&bundle, &id);
            let fake_oom = fs::read_to_string(r.join("evil/self/oom_score_adj")).unwrap();
            let fake_dn = fs::read_to_string(r.join("evil/sys/kernel/domainname")).unwrap();
            let untouched = fake_oom == "fake\n"
                && fake_dn == "fake\n"
                && entries(&hostdir).is_empty()
                && host_mounts_mentioning(hostdir.to_str().unwrap()).is_empty();
            let ran = out.code() == Some(0);
            let real_proc = out.stdout_str().starts_with("proc\n123\n");
            eprintln!(
                "CVE-2023-27561 {} proc -> {target}: {} (fake files untouched: {untouched}) {}",
                rt.name,
                if ran {
                    format!("ran, /proc + oom: {:?}", out.stdout_str())
                } else {
                    "refused".to_string()
                },
                out.stderr_str().trim()
            );
            if rt.name == "moat" {
                assert!(
                    untouched,
                    "{}: proc -> {target}:\n{}",
                    rt.name,
                    out.describe()
                );
                assert!(
                    (ran && real_proc) || (!ran && out.stderr_str().contains("/proc")),
                    "{}: proc -> {target}: neither a real /proc nor a clear refusal:\n{}",
                    rt.name,
                    out.describe()
                );
            }
            rt.delete_force(&id);
            assert_nothing_left(&rt, &bundle, &id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2025-52881

/// CVE-2025-52881: the runtime's own writes into the container's /proc
/// (`oom_score_adj`, sysctls under /proc/sys, LSM labels) are redirected
/// because, by the time the runtime writes, something the attacker
/// controls is mounted over part of /proc (a racing container with shared
/// mounts gets there; here the same end state is set up by mounts in the
/// config, which moat accepts): a directory over /proc whose entries are
/// symlinks to a host canary file, a directory over /proc/sys with a plain
/// fake file, or one over /proc/1 (the container's init). moat opens these
/// files through the procfs root with openat2(RESOLVE_BENEATH | NO_XDEV |
/// NO_MAGICLINKS) and checks fstatfs() == PROC_SUPER_MAGIC: the writes land
/// in the real procfs or the container is refused. Neither the canary nor
/// the fake files may change.
#[test]
fn cve_2025_52881_proc_writes_redirected() {
    let mut rts = moats();
    rts.push(Runtime::runc());
    for rt in rts {
        for (variant, write) in [
            ("/proc", "oom"),
            ("/proc", "sysctl"),
            ("/proc/sys", "sysctl"),
            ("/proc/1", "oom"),
        ] {
            let tmp = TempDir::new("cve52881");
            let hostdir = tmp.path().join("hostdir");
            mkdir_open(&hostdir);
            let canary = hostdir.join("canary");
            fs::write(&canary, "canary\n").unwrap();
            fs::set_permissions(&canary, fs::Permissions::from_mode(0o666)).unwrap();
            let fake = tmp.path().join("fake");
            mkdir_open(&fake);
            let mut fakes = vec![];
            match variant {
                "/proc" => {
                    // Every write the runtime might do follows a symlink to the canary.
                    for d in ["self", "1", "sys/kernel"] {
                        mkdir_open(&fake.join(d));
                    }
                    for f in [
                        "self/oom_score_adj",
                        "1/oom_score_adj",
                        "sys/kernel/domainname",
                    ] {
                        symlink("/hostview/canary", fake.join(f)).unwrap();
                    }
                }
                "/proc/sys" => {
                    mkdir_open(&fake.join("kernel"));
                    fakes.push(fake.join("kernel/domainname"));
                }
                _ => fakes.push(fake.join("oom_score_adj")),
            }
            for f in &fakes {
                fs::write(f, "fake\n").unwrap();
                fs::set_permissions(f, fs::Permissions::from_mode(0o666)).unwrap();
            }
            let bundle = Bundle::new(|c| {
                if write == "oom" {
                    c["process"]["oomScoreAdj"] = json!(123);
                } else {
                    c["linux"]["sysctl"] = json!({"kernel.domainname": "moatcheck"});
                }
                push_mounts(
                    c,
                    vec![
                        bind(&hostdir, "/hostview", &["rbind"]),
                        bind(&fake, variant, &["rbind"]),
                    ],
                );
                c["process"]["args"] = json!(["sh", "-c", "echo END"]);
            });
            let id = unique_id("cve52881");
            let out = rt.run(&bundle, &id);
            let canary_now = fs::read_to_string(&canary).unwrap();
            let changed: Vec<String> = fakes
                .iter()
                .filter(|f| fs::read_to_string(f).unwrap() != "fake\n")
                .map(|f| f.display().to_string())
                .collect();
            let redirected = canary_now != "canary\n" || !changed.is_empty();
            eprintln!(
                "CVE-2025-52881 {} mount over {variant}, {write} write: {} {}{}",
                rt.name,
                if out.code() == Some(0) {
                    "ran"
                } else {
                    "refused"
                },
                if redirected {
                    format!("WRITES REDIRECTED (canary {canary_now:?}, fakes changed {changed:?}) ")
                } else {
                    String::new()
                },
                out.stderr_str().trim()
            );
            if rt.name == "moat" {
                assert!(
                    !redirected,
                    "{}: over {variant}: canary {canary_now:?}, fake files written {changed:?}:\n{}",
                    rt.name,
                    out.describe()
                );
                if out.code() != Some(0) {
                    assert!(
                        out.stderr_str().contains("/proc"),
                        "{}: refusal must name the path:\n{}",
                        rt.name,
                        out.describe()
                    );
                }
            }
            rt.delete_force(&id);
            assert_nothing_left(&rt, &bundle, &id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2025-52565

/// Receives the pty master a runtime sends to `--console-socket` (None when
/// the runtime finished without connecting).
fn receive_master(
    listener: &std::os::unix::net::UnixListener,
    runtime_done: impl Fn() -> bool,
) -> Option<fs::File> {
    use std::os::fd::AsFd;
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + cmd_timeout();
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < deadline, "nobody connected");
                if runtime_done() {
                    return None;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 4096];
    let (_, fd) = moat_container::sync::recv_bytes_fd(stream.as_fd(), &mut buf).ok()?;
    fd.map(fs::File::from)
}

/// CVE-2025-52565: with `terminal: true` runc bind-mounts the pty over
/// /dev/console, creating it first (O_CREAT|O_TRUNC). The image makes
/// /dev/console a symlink to a file the container must not get a mount on
/// (a kernel knob in the real attack; here a canary file on the host, also
/// bound at /hostview): the runtime truncates it and mounts over it before
/// masked paths are applied. moat never creates or mounts /dev/console: the
/// pty is only the container's stdio. Checked on a created container: the
/// canary is unchanged and the init's mount table has no mount on it.
#[test]
fn cve_2025_52565_dev_console_symlink() {
    let mut rts = moats();
    rts.push(Runtime::runc());
    for rt in rts {
        let tmp = TempDir::new("cve52565");
        let hostdir = tmp.path().join("hostdir");
        mkdir_open(&hostdir);
        let canary = hostdir.join("canary");
        fs::write(&canary, "canary\n").unwrap();
        fs::set_permissions(&canary, fs::Permissions::from_mode(0o666)).unwrap();
        let bundle = Bundle::new(|c| {
            // The image's own /dev (no tmpfs over it), devpts kept.
            let mounts: Vec<Value> = c["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["destination"] != "/dev")
                .cloned()
                .collect();
            c["mounts"] = json!(mounts);
            push_mounts(c, vec![bind(&hostdir, "/hostview", &["rbind"])]);
            c["process"]["terminal"] = json!(true);
            c["process"]["args"] = json!(["sh"]);
        });
        symlink("/hostview/canary", bundle.rootfs().join("dev/console")).unwrap();
        let id = unique_id("cve52565");
        let sock = tmp.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let (out, master) = std::thread::scope(|s| {
            let runner = s.spawn(|| {
                rt.exec(&[
                    "create",
                    "--bundle",
                    bundle.path_str(),
                    "--console-socket",
                    sock.to_str().unwrap(),
                    &id,
                ])
            });
            let master = receive_master(&listener, || runner.is_finished());
            (runner.join().unwrap(), master)
        });
        let mut mounted = vec![];
        if out.code() == Some(0) {
            let pid = rt.state(&id)["pid"].as_i64().unwrap();
            mounted = fs::read_to_string(format!("/proc/{pid}/mountinfo"))
                .unwrap_or_default()
                .lines()
                .filter(|l| {
                    l.split(' ')
                        .nth(4)
                        .is_some_and(|mp| mp.contains("canary") || mp == "/dev/console")
                })
                .map(String::from)
                .collect();
        }
        drop(master);
        let canary_now = fs::read_to_string(&canary).unwrap();
        eprintln!(
            "CVE-2025-52565 {}: create {}; canary {:?}; mounts on it: {:?} {}",
            rt.name,
            if out.code() == Some(0) {
                "ok"
            } else {
                "refused"
            },
            canary_now,
            mounted,
            out.stderr_str().trim()
        );
        if rt.name == "moat" {
            assert_eq!(out.code(), Some(0), "{}: {}", rt.name, out.describe());
            assert_eq!(canary_now, "canary\n", "{}: canary changed", rt.name);
            assert!(
                mounted.is_empty(),
                "{}: mounted over the console target: {mounted:?}",
                rt.name
            );
        }
        rt.delete_force(&id);
        assert_nothing_left(&rt, &bundle, &id);
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2016-9962

/// The attacker in the container: scans every other process's fd table and
/// exe link, forever, logging anything that names a host path of the
/// runtime (state dir, bundle, binary) or the host secret; one line in
/// /out/passes per full scan. Its own stdio is /dev/null (the harness's
/// output files would otherwise match).
const SCANNER: &str = "exec </dev/null >/dev/null 2>&1
while :; do
  for p in /proc/[0-9]*; do
    ls -l $p/fd/ $p/exe 2>/dev/null | grep -e moat-e2e-root -e moat-e2e-bundle -e hostsecret \
      -e /target/ -e sbin/runc -e exec.fifo | sed \"s|^|$p |\" >> /out/hits
  done
  echo x >> /out/passes
done";

/// Waits (bounded) until the scanner has finished `n` more passes.
fn wait_passes(out: &Path, n: usize) {
    let count = || {
        fs::read_to_string(out.join("passes"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let want = count() + n;
    let deadline = std::time::Instant::now() + cmd_timeout();
    while count() < want {
        assert!(
            std::time::Instant::now() < deadline,
            "the scanner stopped scanning"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// CVE-2016-9962: a process already in the container (root, with the
/// default capabilities) reaches into a process of the runtime that has
/// joined the container's pid namespace while it still holds host fds —
/// `exec`'s child before its execve, or the init of a second container
/// created into this pid namespace (a pod) while it waits for `start` —
/// through /proc/<pid>/fd. moat's init and exec child are non-dumpable from
/// their first instruction until execve and close their fds before it.
/// Negative control: a dumpable process with the container's capabilities
/// entered into the same pid namespace with a host file open is found by
/// the same scanner. Run under compat (host root in the container; the
/// hardened floor adds a user namespace on top).
///
/// What this cannot prove: while a runtime process still holds more
/// capabilities than the container, the kernel's capability check refuses
/// the scanner whether or not it is dumpable; dumpability is the only
/// barrier in exec's last microseconds (after the capability drop, before
/// execve), too short for this race to hit reliably. The control proves the
/// scanner would see such a process, not that the window is ever hit.
#[test]
fn cve_2016_9962_runtime_process_in_the_container() {
    for rt in [Runtime::moat(), Runtime::runc()] {
        let tmp = TempDir::new("cve9962");
        let out = tmp.path().join("out");
        mkdir_open(&out);
        let secret = tmp.path().join("hostsecret");
        fs::write(&secret, "HOSTSECRET\n").unwrap();
        let attacker = Bundle::new(|c| {
            push_mounts(c, vec![bind(&out, "/out", &["rbind"])]);
            c["process"]["args"] = json!(["sh", "-c", SCANNER]);
        });
        let aid = unique_id("cve9962a");
        let o = rt.run_detached(&attacker, &aid);
        assert_eq!(o.code(), Some(0), "{}: {}", rt.name, o.describe());
        let apid = rt.state(&aid)["pid"].as_i64().unwrap();
        wait_passes(&out, 1);

        // Negative control (moat only; the detector is the same for runc).
        if rt.name == "moat" {
            let mut c = Command::new("sh");
            c.args([
                "-c",
                "exec 3<\"$1\"; exec nsenter -t \"$2\" -p -- setpriv \
                 --bounding-set -all,+kill,+audit_write,+net_bind_service --inh-caps -all \
                 sleep 600",
                "sh",
                secret.to_str().unwrap(),
                &apid.to_string(),
            ]);
            let mut intruder = c.spawn().unwrap();
            let deadline = std::time::Instant::now() + cmd_timeout();
            while !fs::read_to_string(out.join("hits"))
                .unwrap_or_default()
                .contains("hostsecret")
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "negative control: the scanner never saw the dumpable intruder's host fd"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = intruder.kill();
            let _ = intruder.wait();
            // The intruder's child (sleep) dies with the pid namespace at
            // the end; stop logging it now.
            fs::write(out.join("hits"), "").unwrap();
        }
        let read_hits = || fs::read_to_string(out.join("hits")).unwrap_or_default();
        let base = read_hits();
        let noise = |s: &str| -> Vec<String> {
            // Lines about the intruder (still alive until A is deleted).
            s.lines()
                .filter(|l| !l.contains("hostsecret") && !base.contains(*l))
                .map(String::from)
                .collect()
        };

        // 1. `exec` joins the container again and again.
        for _ in 0..RACE_ROUNDS {
            let o = rt.exec(&["exec", &aid, "/bin/true"]);
            assert_eq!(o.code(), Some(0), "{}: {}", rt.name, o.describe());
        }
        wait_passes(&out, 1);
        // 2. A second container's init waits for `start` in this pid
        //    namespace, holding its state dir and exec fifo.
        let victim = Bundle::new(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            for n in ns.iter_mut() {
                if n["type"] == "pid" {
                    n["path"] = json!(format!("/proc/{apid}/ns/pid"));
                }
            }
        });
        let vid = unique_id("cve9962v");
        let o = rt.create(&victim, &vid);
        assert_eq!(o.code(), Some(0), "{}: {}", rt.name, o.describe());
        wait_passes(&out, 2);
        rt.delete_force(&vid);

        let leaks = noise(&read_hits());
        eprintln!(
            "CVE-2016-9962 {}: {} exec rounds + a created init in the pid namespace: {}",
            rt.name,
            RACE_ROUNDS,
            if leaks.is_empty() {
                "nothing reached".to_string()
            } else {
                format!("REACHED {leaks:?}")
            }
        );
        if rt.name == "moat" {
            assert!(
                leaks.is_empty(),
                "the container reached a runtime process's host fds: {leaks:#?}"
            );
        }
        rt.delete_force(&aid);
        assert_nothing_left(&rt, &victim, &vid);
        assert_nothing_left(&rt, &attacker, &aid);
    }
}
