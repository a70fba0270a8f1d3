//! `exec`: start one more process in a running container.
//!
//! The exec'ing moat opens the init's namespaces and root
//! (`/proc/<pid>/ns/*`, `/proc/<pid>/root`) and then checks the init's start
//! time, so a recycled pid is never joined. It joins the pid namespace for
//! its children only, clones one child and puts it in the container's
//! cgroup before the child may exec (on pure v2 the clone lands there
//! directly). The child joins the other namespaces (user first), chroots to
//! the init's root, applies the process security of the container's
//! effective config (the host's floor included) and calls the same
//! `exec_process` as the init. A failure of the child before `execve` comes
//! back as step, path and errno.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use rustix::fs::{Mode, OFlags};

use crate::error::{Context, Error, Result};
use crate::ops::Loaded;
use crate::state::{Status, Store};
use crate::sync::{self, Msg};
use crate::tty::{copy_winsize, drain, relay_once, status_code, RawTerminal};

/// The flags of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOpts {
    pub id: String,
    /// `--process`: an OCI process JSON (then the other process flags are ignored).
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub tty: bool,
    /// `uid[:gid]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub no_new_privs: bool,
    pub caps: Vec<String>,
    pub preserve_fds: i32,
    pub ignore_paused: bool,
    /// The host's security floor (applied to the exec'd process too).
    pub policy: moat_spec::floor::Policy,
}

/// The namespace kinds in join order: user first, pid last (the parent
/// joins pid for its child).
const NS_ORDER: &[(LinuxNamespaceType, &str)] = &[
    (LinuxNamespaceType::User, "user"),
    (LinuxNamespaceType::Mount, "mnt"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Time, "time"),
    (LinuxNamespaceType::Pid, "pid"),
];

/// The container's config as `create` left it (floor applied): from the
/// state, or the config.json an older moat kept beside it, or the bundle's
/// for a container made before moat kept one.
fn load_config(l: &Loaded) -> Result<Spec> {
    let st = l.state.as_ref().expect("checked");
    let p = l.locked.dir.join(crate::create::EFFECTIVE_CONFIG);
    let parsed = match &st.config {
        Some(raw) => serde_json::from_str::<Spec>(raw.get()),
        None => match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(moat_spec::load(&st.bundle)?.spec)
            }
            Err(e) => return Err(e).at("read", p),
        },
    };
    let mut spec = parsed
        .map_err(|e| Error::Refused(format!("parse config of {}: {e}", l.locked.dir.display())))?;
    if st.default_seccomp {
        if let Some(linux) = spec.linux_mut().as_mut() {
            linux.set_seccomp(Some(moat_spec::floor::default_profile()));
        }
    }
    Ok(spec)
}

/// The process to start: `--process` as given, else the config's process
/// with the flags applied (as runc's `getProcess`).
fn build_process(spec: &Spec, o: &ExecOpts) -> Result<Process> {
    if let Some(p) = &o.process {
        let text = std::fs::read_to_string(p).at("open", p)?;
        return serde_json::from_str(&text)
            .map_err(|e| Error::Refused(format!("parse {}: {e}", p.display())));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    if o.args.is_empty() {
        return Err(Error::Refused("process args cannot be empty".into()));
    }
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    if let Some(c) = &o.cwd {
        p.set_cwd(c.clone());
    }
    if !o.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for e in &o.env {
            let key = e.split('=').next().unwrap_or("");
            match env
                .iter_mut()
                .find(|x| x.split('=').next() == Some(key) && x.contains('='))
            {
                Some(x) if e.contains('=') => *x = e.clone(),
                _ => env.push(e.clone()),
            }
        }
        p.set_env(Some(env));
    }
    let mut user = p.user().clone();
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Refused(format!("parsing {s} as int: invalid syntax")))
        };
        user.set_uid(num(uid)?);
        if let Some(g) = gid {
            user.set_gid(num(g)?);
        }
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: Option<oci_spec::runtime::Capabilities>| {
            let mut set = set.unwrap_or_default();
            for c in &o.caps {
                let name = c.to_ascii_uppercase();
                let name = if name.starts_with("CAP_") {
                    name
                } else {
                    format!("CAP_{name}")
                };
                match serde_json::from_value::<oci_spec::runtime::Capability>(
                    serde_json::Value::String(name),
                ) {
                    Ok(cap) => {
                        set.insert(cap);
                    }
                    Err(_) => return Err(Error::Refused(format!("unknown capability {c:?}"))),
                }
            }
            Ok(Some(set))
        };
        // As runc 1.1.5: bounding, effective and permitted; never inheritable.
        let b = add(caps.bounding().clone())?;
        let e = add(caps.effective().clone())?;
        let pm = add(caps.permitted().clone())?;
        caps.set_bounding(b);
        caps.set_effective(e);
        caps.set_permitted(pm);
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

fn same_ns(a: &Path, b: &Path) -> bool {
    match (rustix::fs::stat(a), rustix::fs::stat(b)) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

/// What the parent prepared for the child.
struct Child<'a> {
    process: &'a Process,
    seccomp: Option<&'a moat_seccomp::Program>,
    joins: &'a [(LinuxNamespaceType, OwnedFd)],
    root: &'a OwnedFd,
    preserve_fds: i32,
    err_w: &'a OwnedFd,
}

/// `exec`; returns the code moat should exit with (the process's status in
/// the foreground, 0 detached).
pub fn exec(store: &Store, o: &ExecOpts) -> Result<i32> {
    let l = Loaded::open(store, &o.id)?;
    let status = l.status();
    match status {
        Status::Stopped => return Err(Error::Refused("cannot exec in a stopped container".into())),
        Status::Paused if !o.ignore_paused => {
            return Err(Error::Refused(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ))
        }
        Status::Creating => {
            return Err(Error::Refused(
                "cannot exec in a container that is being created".into(),
            ))
        }
        _ => {}
    }
    let st = l.state.clone().expect("not stopped");
    let mut spec = load_config(&l)?;
    let process = build_process(&spec, o)?;
    // The floor binds every process moat starts in the container: put the
    // exec'd process through it as if it were the container's own.
    spec.set_process(Some(process));
    moat_spec::floor::apply(&mut spec, &o.policy);
    let process = spec.process().clone().expect("set above");
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Refused("process args cannot be empty".into()));
    }
    let terminal = process.terminal() == Some(true);
    if terminal && o.detach && o.console_socket.is_none() {
        return Err(Error::Refused(
            "cannot allocate tty if moat will detach without setting console socket".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Refused(
            "cannot use console socket if moat will not detach or allocate tty".into(),
        ));
    }
    let console = match &o.console_socket {
        Some(p) => Some(connect_console(p)?),
        None => None,
    };
    let linux = spec.linux().clone().unwrap_or_default();
    let seccomp = match linux.seccomp() {
        Some(s) => Some(moat_seccomp::compile_cached(
            s,
            &crate::create::seccomp_cache_dir(store),
        )?),
        None => None,
    };

    // Open what we join, then prove it was the init's.
    let pid = st.pid;
    let listed: Vec<LinuxNamespaceType> = linux
        .namespaces()
        .iter()
        .flatten()
        .map(|n| n.typ())
        .collect();
    let mut joins = Vec::new();
    let mut pid_ns = None;
    for (typ, name) in NS_ORDER {
        if !listed.contains(typ) {
            continue;
        }
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        if same_ns(&theirs, Path::new(&format!("/proc/self/ns/{name}"))) {
            continue;
        }
        let fd = rustix::fs::open(&theirs, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .at("open namespace", &theirs)?;
        if *typ == LinuxNamespaceType::Pid {
            pid_ns = Some(fd);
        } else {
            joins.push((*typ, fd));
        }
    }
    let root_path = format!("/proc/{pid}/root");
    let root = rustix::fs::open(
        &root_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open container root", &root_path)?;
    if !st.init_alive() {
        return Err(Error::Refused("cannot exec in a stopped container".into()));
    }
    let cgroup = {
        let r = moat_cgroups::Root::detect()?;
        moat_cgroups::open_recorded(&r, st.cgroups_path.as_deref(), &st.id, &st.cgroup_paths)?
    };

    // Nothing in the container may open our /proc/<pid>/exe or ptrace us
    // once our child is in its pid namespace (CVE-2019-5736); the child
    // inherits this until its execve.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .at("prctl PR_SET_DUMPABLE", "self")?;
    // A paused container freezes our child as soon as it joins the cgroup
    // (at birth on v2): it must not hold the state lock then, or `resume`
    // and `delete` would wait on it forever.
    let lock_fd = l.locked.lock_raw_fd();
    let mut held = Some(l);
    if status == Status::Paused {
        held = None;
    }
    let (parent_end, child_end) = sync::pair().at("create sync socket", "socketpair")?;
    let (err_r, err_w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).at("create pipe", "exec")?;
    let v2_fd = cgroup.v2_dir_fd();
    if let Some(fd) = &pid_ns {
        nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID)
            .at("setns pid for children", "pid")?;
    }
    let cloned = moat_sys::clone3(0, v2_fd.as_ref().map(|f| f.as_fd()));
    if pid_ns.is_some() {
        let me = std::fs::File::open("/proc/self/ns/pid").at("open", "/proc/self/ns/pid")?;
        nix::sched::setns(me.as_fd(), CloneFlags::CLONE_NEWPID)
            .at("restore pid namespace", "pid")?;
    }
    let child = match cloned.at("clone", "exec")? {
        moat_sys::Cloned::Child => {
            drop(parent_end);
            drop(err_r);
            if held.is_some() {
                moat_sys::close_inherited(lock_fd);
            }
            let c = Child {
                process: &process,
                seccomp: seccomp.as_ref(),
                joins: &joins,
                root: &root,
                preserve_fds: o.preserve_fds,
                err_w: &err_w,
            };
            child::child_main(&c, child_end)
        }
        moat_sys::Cloned::Parent(p) => p,
    };
    drop(child_end);
    drop(err_w);
    let kill_child = || {
        let _ = nix::sys::signal::kill(Pid::from_raw(child), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(child), None);
    };
    // Migrated after the fork, not forked inside (Cgroup::enter): a
    // container at its pids limit still takes an exec, as with runc. On
    // hybrid hosts clone3 placed it in the unified hierarchy only.
    if !cgroup.is_v2() {
        if let Err(e) = cgroup.add_pid(child) {
            kill_child();
            return Err(e.into());
        }
    }
    if let Some(adj) = process.oom_score_adj() {
        // The child, non-dumpable in the container's user namespace, may
        // not open its own /proc files: set it from here.
        let path = format!("/proc/{child}/oom_score_adj");
        if let Err(e) = std::fs::write(&path, adj.to_string()) {
            kill_child();
            return Err(e).at("write", path);
        }
    }
    let _ = parent_end.send(&Msg::Joined);
    let mut pty = None;
    loop {
        let msg = match parent_end.recv() {
            Ok(m) => m,
            Err(e) => {
                kill_child();
                return Err(e).at("read sync channel", "exec");
            }
        };
        match msg {
            None => break,
            Some((Msg::Pty, Some(fd))) => match &console {
                Some(sock) => {
                    if let Err(e) =
                        sync::send_bytes_fd(sock.as_fd(), b"/dev/ptmx", Some(fd.as_fd()))
                    {
                        kill_child();
                        return Err(e).at(
                            "send pty master to console socket",
                            o.console_socket.clone().unwrap_or_default(),
                        );
                    }
                }
                None => pty = Some(fd),
            },
            Some((Msg::Error { step, path, errno }, _)) => {
                kill_child();
                return Err(child_error(&step, &path, errno));
            }
            Some(_) => {
                kill_child();
                return Err(Error::Refused(
                    "unexpected sync message from exec child".into(),
                ));
            }
        }
    }
    // The channel closed: the child is at (or past) execve. A failure of
    // exec_process itself comes through the pipe, which execve closes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match rustix::io::read(&err_r, &mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    if !buf.is_empty() {
        let _ = waitpid(Pid::from_raw(child), None);
        let text = String::from_utf8_lossy(&buf);
        let mut it = text.splitn(3, '\n');
        let errno = it.next().and_then(|e| e.parse().ok()).unwrap_or(libc::EIO);
        let step = it.next().unwrap_or("exec").to_string();
        let path = it.next().unwrap_or("").to_string();
        return Err(child_error(&step, &path, errno));
    }
    if let Some(p) = &o.pid_file {
        crate::create::write_pid_file(p, child)?;
    }
    // `kill`, `delete`, `state` work while we wait.
    drop(held);
    if o.detach {
        return Ok(0);
    }
    // Signals are forwarded from here on (until now they kill moat, not
    // the process, which did not exist yet).
    let mut mask = SigSet::all();
    mask.remove(Signal::SIGKILL);
    mask.remove(Signal::SIGSTOP);
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
        .at("block signals", "self")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).at("signalfd", "self")?;
    let raw = pty.as_ref().map(|_| RawTerminal::enter());
    let code = wait_loop(child, &sfd, pty.as_ref());
    drop(raw);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    code
}

fn child_error(step: &str, path: &str, errno: i32) -> Error {
    let e = moat_sys::errno::text_of(errno);
    Error::Refused(format!(
        "unable to start container process: {step} {path}: {e}"
    ))
}

mod child {
    use std::ffi::CString;
    use std::os::fd::{AsFd, AsRawFd};

    use nix::sched::CloneFlags;
    use nix::sys::signal::{SigSet, SigmaskHow};
    use oci_spec::runtime::LinuxNamespaceType;

    use super::Child;
    use crate::fail::{At, Fail, R};
    use crate::init;
    use crate::sync::{Channel, Msg};

    pub(super) fn child_main(c: &Child, chan: Channel) -> ! {
        let _ =
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        match child_steps(c, &chan) {
            Ok(never) => match never {},
            Err(f) => {
                let _ = chan.send(&Msg::Error {
                    step: f.step.to_string(),
                    path: f.path,
                    errno: f.errno,
                });
                moat_sys::exit_now(1)
            }
        }
    }

    fn recv(chan: &Channel) -> R<Msg> {
        match chan.recv() {
            Ok(Some((m, _))) => Ok(m),
            Ok(None) => moat_sys::exit_now(1),
            Err(e) => Err(e).at("read sync channel", "parent"),
        }
    }

    fn child_steps(c: &Child, chan: &Channel) -> R<init::Never> {
        for (typ, fd) in c.joins {
            nix::sched::setns(fd.as_fd(), CloneFlags::empty()).at("setns", typ.to_string())?;
            if *typ == LinuxNamespaceType::User {
                // Be the namespace's root, as runc's nsexec does, until the
                // process's own identity is set.
                nix::unistd::setresgid(0.into(), 0.into(), 0.into()).at("setresgid", "0")?;
                nix::unistd::setresuid(0.into(), 0.into(), 0.into()).at("setresuid", "0")?;
            }
        }
        // The init's root, opened before we joined its mount namespace.
        rustix::process::fchdir(c.root).at("chdir", "container root")?;
        nix::unistd::chroot(".").at("chroot", "container root")?;
        rustix::process::chdir("/").at("chdir", "/")?;
        match recv(chan)? {
            Msg::Joined => {}
            m => {
                return Err(Fail::new(
                    "unexpected sync message",
                    format!("{m:?}"),
                    libc::EPROTO,
                ))
            }
        }
        let process = c.process;
        if process.terminal() == Some(true) {
            init::setup_pty(chan, process.user().uid(), process.user().gid())?;
        } else {
            // Not in the caller's session: no TIOCSTI into its terminal.
            rustix::process::setsid().at("setsid", "self")?;
        }
        for r in process.rlimits().as_deref().unwrap_or_default() {
            let name = serde_json::to_value(r.typ()).ok();
            let name = name.as_ref().and_then(|v| v.as_str()).unwrap_or("");
            let res = init::rlimit_resource(name)
                .ok_or_else(|| Fail::new("unknown rlimit", name, libc::EINVAL))?;
            nix::sys::resource::setrlimit(res, r.soft(), r.hard()).at("setrlimit", name)?;
        }
        let args = process.args().as_deref().unwrap_or_default();
        let mut env: Vec<&str> = process.env().iter().flatten().map(|s| s.as_str()).collect();
        let home;
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            home = format!("HOME={}", init::home_dir(process.user().uid()));
            env.push(&home);
        }
        let exe = init::find_executable(&args[0], &env)?;
        let cs = |s: &str| {
            CString::new(s).map_err(|_| Fail::new("argument contains NUL", s, libc::EINVAL))
        };
        let argv = args.iter().map(|s| cs(s)).collect::<R<Vec<_>>>()?;
        let envp = env.iter().map(|s| cs(s)).collect::<R<Vec<_>>>()?;
        let exe_c = CString::new(exe.as_os_str().as_encoded_bytes())
            .map_err(|_| Fail::new("exe", exe.display(), libc::EINVAL))?;
        // exec_process closes every fd from 3 + preserve_fds: put the error
        // pipe just there (close-on-exec) and keep it, so a failure inside
        // exec_process still reaches the parent, and execve closes it.
        let slot = 3 + c.preserve_fds;
        let moved;
        let err_fd = if c.err_w.as_raw_fd() == slot {
            c.err_w.as_fd()
        } else {
            // Whatever sits at the slot (the caller's fd past the preserved
            // range, or one of ours we are done with) goes; the lowest free fd
            // from the slot on is then the slot itself.
            moat_sys::close_inherited(slot);
            moved = rustix::io::fcntl_dupfd_cloexec(c.err_w, slot).at("dup", "error pipe")?;
            if moved.as_raw_fd() != slot {
                return Err(Fail::new("dup", "error pipe", libc::EBADF));
            }
            moved.as_fd()
        };
        let f = match init::exec_process(
            process,
            c.seccomp,
            c.preserve_fds + 1,
            &exe_c,
            &argv,
            &envp,
        ) {
            Ok(never) => match never {},
            Err(f) => f,
        };
        let msg = format!("{}\n{}\n{}", f.errno, f.step, f.path);
        let _ = rustix::io::write(err_fd, msg.as_bytes());
        moat_sys::exit_now(1)
    }
}

fn connect_console(p: &Path) -> Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .at("create console socket", p)?;
    let addr = rustix::net::SocketAddrUnix::new(p).at("console socket path", p)?;
    rustix::net::connect(&sock, &addr).at("connect console socket", p)?;
    Ok(sock)
}

/// Forward signals to the process, relay its pty, return its status.
fn wait_loop(pid: i32, sfd: &SignalFd, pty: Option<&OwnedFd>) -> Result<i32> {
    let mut stdin_open = pty.is_some();
    let mut buf = [0u8; 8192];
    if let Some(m) = pty {
        copy_winsize(m);
    }
    let child = Pid::from_raw(pid);
    loop {
        // The process may have exited before we got here.
        if let Ok(s) = waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            if let Some(c) = status_code(s) {
                if let Some(m) = pty {
                    drain(m, &mut buf);
                }
                return Ok(c);
            }
        }
        match relay_once(sfd, pty, &mut stdin_open, &mut buf)? {
            // SIGCHLD: reaped at the top of the loop.
            None | Some(libc::SIGCHLD) => {}
            Some(libc::SIGWINCH) if pty.is_some() => copy_winsize(pty.expect("pty")),
            Some(sig) => {
                if let Ok(s) = Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(child, s);
                }
            }
        }
    }
}
