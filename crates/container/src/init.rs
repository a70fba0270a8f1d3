//! The container init: the child of the single clone. It finishes the
//! namespaces, builds the rootfs, reports `Ready`, waits on the exec fifo,
//! then drops privileges in the order documented in docs/process-model.md
//! and calls `execve`. It never returns: failures go to the parent as
//! `Msg::Error { step, path, errno }`.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::caps;
use crate::fail::{At, Fail, R};
use crate::rootfs;
use crate::sync::{Channel, Msg};

/// Everything the init needs, prepared by the parent before the clone.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// O_PATH fd of the rootfs, opened by the parent as host root.
    pub rootfs_fd: &'a OwnedFd,
    /// O_PATH fd of the container's state dir (holds exec.fifo).
    pub state_dir: &'a OwnedFd,
    /// Namespaces to join (user first), excluding pid which the parent joins.
    pub joins: &'a [(LinuxNamespaceType, OwnedFd)],
    /// Namespaces the init unshares itself (only when it also joins some).
    pub unshare: CloneFlags,
    pub new_user: bool,
    pub new_mnt: bool,
    pub new_cgroupns: bool,
    pub new_time: bool,
    /// A network namespace of its own (not joined by path): `lo` goes up.
    pub new_net: bool,
    pub seccomp: Option<&'a moat_seccomp::Program>,
    pub no_pivot: bool,
    /// The container joins a user namespace by path.
    pub joins_user: bool,
    /// Fork once more after unsharing the pid namespace (see create.rs).
    pub double_fork: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// Stop at the hooks point (any prestart/createRuntime/createContainer/
    /// startContainer hook exists).
    pub hooks_sync: bool,
    /// `create`: wait on the exec fifo after `Saved` (`run` gets `Start`).
    pub exec_fifo: bool,
    /// The mount index of `/dev` when the parent makes it (devtree.rs): its
    /// tree follows Go with those of idmap mounts.
    pub dev_tree: Option<usize>,
    /// Masked paths the parent found need no mask under the floor's user
    /// namespace (its root cannot open them, or they do not exist:
    /// rootfs::host_unopenable), by index; empty otherwise.
    pub unopenable: &'a [bool],
    /// The parent's /proc/self/mountinfo, read before the clone, when our
    /// mount namespace is a copy of its (not joined): where the host's
    /// cgroup hierarchies are mounted, without reading it again.
    pub host_mountinfo: Option<&'a str>,
    /// The container's cgroup dirs on the host (bound into a user-namespaced
    /// container, which may not mount cgroup v1 itself).
    pub cgroup_paths: &'a [PathBuf],
}

/// Child entry point.
pub fn run(a: &InitArgs, chan: Channel) -> ! {
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    match steps(a, &chan) {
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

pub(crate) enum Never {}

fn recv(chan: &Channel) -> R<Msg> {
    match chan.recv() {
        Ok(Some((m, _))) => Ok(m),
        // The parent is gone: nobody is left to report to.
        Ok(None) => moat_sys::exit_now(1),
        Err(e) => Err(e).at("read sync channel", "parent"),
    }
}

fn send(chan: &Channel, m: &Msg) -> R<()> {
    chan.send(m).at("write sync channel", "parent")
}

fn steps(a: &InitArgs, chan: &Channel) -> R<Never> {
    // Not dumpable until execve: nothing in the container may open our
    // /proc/<pid>/exe (the moat binary) or ptrace us (CVE-2019-5736).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .at("prctl PR_SET_DUMPABLE", "self")?;
    let spec = a.spec;
    let linux = spec.linux().as_ref();

    for (typ, fd) in a.joins {
        // The type is checked by the kernel: a path naming another kind of
        // namespace is refused (EINVAL), as runc does.
        nix::sched::setns(fd.as_fd(), crate::create::ns_flag(*typ)).at("setns", typ.to_string())?;
    }
    if a.joins_user {
        // Root of the joined user namespace, as runc's nsexec.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).at("setresgid", "0")?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into()).at("setresuid", "0")?;
    }
    if a.unshare.contains(CloneFlags::CLONE_NEWUSER) {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).at("unshare", "user")?;
    }
    if a.new_user {
        send(chan, &Msg::NeedMaps)?;
    }
    let rootfs_tree = match chan.recv() {
        Ok(Some((Msg::Go, fd))) => fd,
        Ok(None) => moat_sys::exit_now(1),
        Err(e) => return Err(e).at("read sync channel", "parent"),
        Ok(Some((m, _))) => {
            return Err(Fail::new(
                "unexpected sync message",
                format!("{m:?}"),
                libc::EPROTO,
            ))
        }
    };
    if a.new_user {
        // uid only, as runc's nsexec: the gid follows after the unshare.
        nix::unistd::setresuid(0.into(), 0.into(), 0.into()).at("setresuid", "0")?;
    }
    // The id-mapped trees for idmap mounts follow Go, one per such mount.
    let mut trees: Vec<Option<OwnedFd>> = Vec::new();
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let want = mounts
        .iter()
        .filter(|m| {
            crate::mountopts::parse(m.options().as_deref().unwrap_or_default())
                .is_ok_and(|o| o.idmap.is_some())
        })
        .count()
        + usize::from(a.dev_tree.is_some());
    if want > 0 {
        trees.resize_with(mounts.len(), || None);
        for _ in 0..want {
            match chan.recv() {
                Ok(Some((Msg::Tree(i), Some(fd)))) if (i as usize) < mounts.len() => {
                    trees[i as usize] = Some(fd)
                }
                Ok(None) => moat_sys::exit_now(1),
                Ok(Some((m, _))) => {
                    return Err(Fail::new(
                        "unexpected sync message",
                        format!("{m:?}"),
                        libc::EPROTO,
                    ))
                }
                Err(e) => return Err(e).at("read sync channel", "parent"),
            }
        }
    }
    if rootfs_tree.is_some() {
        // Stand in the rootfs before the mount namespace is copied: the copy
        // carries the cwd over, and no host path above it is walked again.
        rustix::process::fchdir(a.rootfs_fd).at("chdir", a.rootfs.display())?;
    }
    let rest = a.unshare - CloneFlags::CLONE_NEWUSER;
    if !rest.is_empty() {
        nix::sched::unshare(rest).at("unshare", format!("{rest:?}"))?;
    }
    if a.new_user {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).at("setresgid", "0")?;
    }
    // Wait for `Joined` only when something needs the cgroup: a cgroup
    // mount, the cgroup namespace (its root is the cgroup we are in), and
    // in any case before hooks run or anything of the tenant's executes.
    let joined = std::cell::Cell::new(false);
    let ensure_joined = || -> R<()> {
        if joined.get() {
            return Ok(());
        }
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
        if a.new_cgroupns {
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).at("unshare", "cgroup")?;
        }
        joined.set(true);
        Ok(())
    };
    if a.double_fork {
        // The grandchild is born in the new pid namespace (as its pid 1) and
        // in the cgroup: wait for Joined first.
        ensure_joined()?;
        match moat_sys::clone3(0, None).at("fork init into the pid namespace", "pid")? {
            moat_sys::Cloned::Child => {}
            moat_sys::Cloned::Parent(gpid) => {
                let _ = send(chan, &Msg::Pid(gpid));
                moat_sys::exit_now(0);
            }
        }
    }
    if a.new_time {
        enter_time_ns(spec)?;
    }
    if !a.no_new_keyring {
        // EDQUOT/ENOSYS-like failures (keyrings disabled) are not fatal, as
        // in runc; a refusal by policy is not possible here (no seccomp yet).
        if let Err(e) = moat_sys::join_new_session_keyring() {
            if e.raw_os_error() != Some(libc::ENOSYS) {
                return Err(e).at("join new session keyring", "keyctl");
            }
        }
    }
    if a.new_net {
        moat_sys::net::loopback_up().at("bring the loopback interface up", "lo")?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        rustix::system::sethostname(h.as_bytes()).at("sethostname", h)?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        rustix::system::setdomainname(d.as_bytes()).at("setdomainname", d)?;
    }
    let root = if a.new_mnt {
        Some(
            rootfs::Prepare {
                spec,
                rootfs: a.rootfs,
                bundle: a.bundle,
                userns: a.new_user || a.joins_user,
                new_cgroupns: a.new_cgroupns,
                cgroup_paths: a.cgroup_paths,
                rootfs_tree,
                ensure_joined: &ensure_joined,
                trees: std::cell::RefCell::new(trees),
                dev_tree: a.dev_tree,
                host_mountinfo: a.host_mountinfo,
            }
            .run()?,
        )
    } else {
        None
    };
    ensure_joined()?;
    let mut hook_state = String::new();
    if a.hooks_sync {
        send(chan, &Msg::HooksPoint)?;
        match recv(chan)? {
            Msg::HooksDone(s) => hook_state = s,
            m => {
                return Err(Fail::new(
                    "unexpected sync message",
                    format!("{m:?}"),
                    libc::EPROTO,
                ))
            }
        }
        if let Some(h) = spec
            .hooks()
            .as_ref()
            .and_then(|h| h.create_container().as_deref())
        {
            crate::hooks::run("createContainer", h, &hook_state)
                .map_err(|e| Fail::new("createContainer hook", e, libc::ECANCELED))?;
        }
    }
    if a.new_mnt {
        let root = root.as_ref().expect("prepared with the mount namespace");
        rootfs::pivot(root, a.rootfs, a.no_pivot)?;
    } else {
        rustix::process::chdir(a.rootfs).at("chdir", a.rootfs.display())?;
    }
    // Sysctls go in through the container's own /proc before /proc/sys is
    // made read-only.
    for (k, v) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        write_sysctl(k, v)?;
    }
    if a.new_mnt {
        // The floor's user namespace (the parent made /dev for it): paths
        // its root cannot open need no mask (see rootfs::mask_paths).
        rootfs::finish(spec, a.dev_tree.is_some(), a.unopenable)?;
    }
    let process = spec.process().as_ref().expect("validated: process exists");
    // A session of our own: the caller's terminal, if our stdio is one, is
    // then not our controlling terminal, so TIOCSTI cannot push keystrokes
    // into the caller's shell (as runc does). The pty path below makes its
    // own session.
    if process.terminal() != Some(true) {
        rustix::process::setsid().at("setsid", "self")?;
    }
    if process.terminal() == Some(true) {
        setup_pty(chan, process.user().uid(), process.user().gid())?;
    }
    for r in process.rlimits().as_deref().unwrap_or_default() {
        let name = serde_json::to_value(r.typ()).ok();
        let name = name.as_ref().and_then(|v| v.as_str()).unwrap_or("");
        let res =
            rlimit_resource(name).ok_or_else(|| Fail::new("unknown rlimit", name, libc::EINVAL))?;
        nix::sys::resource::setrlimit(res, r.soft(), r.hard()).at("setrlimit", name)?;
    }
    if let Some(p) = linux.and_then(|l| l.personality().as_ref()) {
        // LINUX32 is PER_LINUX32 (uname reports i686); LINUX is the default.
        if p.domain() == oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 {
            nix::sys::personality::set(nix::sys::personality::Persona::from_bits_retain(0x0008))
                .at("personality", "LINUX32")?;
        }
    }
    let args = process.args().as_deref().unwrap_or_default();
    let mut env: Vec<&str> = process.env().iter().flatten().map(|s| s.as_str()).collect();
    // As runc: HOME from the container's /etc/passwd when the config has none.
    let home;
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        home = format!("HOME={}", home_dir(process.user().uid()));
        env.push(&home);
    }
    // Fail now, while the parent still listens, if start could not reach us.
    if a.exec_fifo {
        rustix::fs::accessat(
            a.state_dir,
            crate::state::FIFO,
            rustix::fs::Access::WRITE_OK,
            rustix::fs::AtFlags::empty(),
        )
        .at("access exec fifo", crate::state::FIFO)?;
    }
    let exe = find_executable(&args[0], &env)?;
    let c =
        |s: &str| CString::new(s).map_err(|_| Fail::new("argument contains NUL", s, libc::EINVAL));
    let argv = args.iter().map(|s| c(s)).collect::<R<Vec<_>>>()?;
    let envp = env.iter().map(|s| c(s)).collect::<R<Vec<_>>>()?;
    let exe_c = CString::new(exe.as_os_str().as_encoded_bytes())
        .map_err(|_| Fail::new("exe", exe.display(), libc::EINVAL))?;

    // Refuse a runtime-binary exec target now, while the parent still
    // listens (and again right before execve).
    refuse_magic_exe(&exe_c)?;
    send(chan, &Msg::Ready)?;
    match recv(chan)? {
        // `run`: started as soon as the state is saved.
        Msg::Start => {}
        Msg::Saved => {
            // Block until `moat start` opens the fifo for reading.
            let fifo = rustix::fs::openat(
                a.state_dir,
                crate::state::FIFO,
                OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .at("open exec fifo", crate::state::FIFO)?;
            rustix::io::write(&fifo, b"0").at("write exec fifo", crate::state::FIFO)?;
            drop(fifo);
        }
        _ => return Err(Fail::new("unexpected sync message", "parent", libc::EPROTO)),
    }
    // From here on nobody reads the sync channel: report on stderr.
    match finalize(a, &hook_state, &exe_c, &argv, &envp) {
        Ok(never) => match never {},
        Err(f) => {
            let _ = writeln!(
                std::io::stderr(),
                "moat: container init: {} {}: {}",
                f.step,
                f.path,
                std::io::Error::from_raw_os_error(f.errno)
            );
            moat_sys::exit_now(127)
        }
    }
}

/// After start: startContainer hooks, then identity, capabilities,
/// no_new_privs and seccomp in runc's order, then execve.
fn finalize(
    a: &InitArgs,
    hook_state: &str,
    exe: &CString,
    argv: &[CString],
    envp: &[CString],
) -> R<Never> {
    let spec = a.spec;
    let process = spec.process().as_ref().expect("validated");
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_deref())
    {
        let st = hook_state.replacen("\"creating\"", "\"created\"", 1);
        crate::hooks::run("startContainer", h, &st)
            .map_err(|e| Fail::new("startContainer hook", e, libc::ECANCELED))?;
    }
    exec_process(process, a.seccomp, a.preserve_fds, exe, argv, envp)
}

/// Drop to the process's identity and privileges and `execve` it: shared by
/// the container init and `exec`. Order: seccomp (without NNP), bounding
/// set, groups/gid/uid with KEEPCAPS, capsets, ambient, umask, cwd, NNP,
/// seccomp (with NNP), close fds, execve.
pub(crate) fn exec_process(
    process: &oci_spec::runtime::Process,
    seccomp: Option<&moat_seccomp::Program>,
    preserve_fds: i32,
    exe: &CString,
    argv: &[CString],
    envp: &[CString],
) -> R<Never> {
    let nnp = process.no_new_privileges() == Some(true);
    moat_sys::reset_sigpipe().at("reset SIGPIPE", "self")?;
    // Without no_new_privs the filter must go in while we still hold
    // CAP_SYS_ADMIN; with it, as late as possible.
    if let (Some(p), false) = (seccomp, nnp) {
        p.load()
            .map_err(|e| Fail::new("load seccomp filter", e, libc::EINVAL))?;
    }
    let sets = process
        .capabilities()
        .as_ref()
        .map(caps::Sets::from_spec)
        .unwrap_or_default();
    let last = caps::last_cap();
    for c in 0..=last {
        if sets.bounding & (1u64 << c) == 0 {
            match rustix::thread::remove_capability_from_bounding_set(
                rustix::thread::CapabilitySet::from_bits_retain(1u64 << c),
            ) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => {
                    return Err(Fail::new(
                        "drop bounding capability",
                        caps::NAMES.get(c as usize).unwrap_or(&"?"),
                        e.raw_os_error(),
                    ))
                }
            }
        }
    }
    let user = process.user();
    let gids: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).at("setgroups", format!("{gids:?}"))?;
    let (uid, gid) = (user.uid(), user.gid());
    nix::unistd::setresgid(gid.into(), gid.into(), gid.into()).at("setresgid", gid)?;
    rustix::thread::set_keep_capabilities(true).at("prctl PR_SET_KEEPCAPS", "1")?;
    nix::unistd::setresuid(uid.into(), uid.into(), uid.into()).at("setresuid", uid)?;
    rustix::thread::set_keep_capabilities(false).at("prctl PR_SET_KEEPCAPS", "0")?;
    rustix::thread::set_capabilities(
        None,
        rustix::thread::CapabilitySets {
            effective: rustix::thread::CapabilitySet::from_bits_retain(sets.effective),
            permitted: rustix::thread::CapabilitySet::from_bits_retain(sets.permitted),
            inheritable: rustix::thread::CapabilitySet::from_bits_retain(sets.inheritable),
        },
    )
    .at("capset", format!("{:#x}", sets.effective))?;
    for c in 0..=last {
        if sets.ambient & (1u64 << c) != 0 {
            // The kernel refuses (EPERM) an ambient cap that is not both
            // permitted and inheritable; runc 1.1 ignores that, and so do we.
            match rustix::thread::configure_capability_in_ambient_set(
                rustix::thread::CapabilitySet::from_bits_retain(1u64 << c),
                true,
            ) {
                Ok(()) | Err(rustix::io::Errno::PERM) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => {
                    return Err(Fail::new(
                        "raise ambient capability",
                        caps::NAMES.get(c as usize).unwrap_or(&"?"),
                        e.raw_os_error(),
                    ))
                }
            }
        }
    }
    if let Some(m) = user.umask() {
        rustix::process::umask(Mode::from_raw_mode(m & 0o777));
    }
    // Close everything not asked for *before* resolving cwd, so a cwd like
    // /proc/self/fd/N cannot land on a leaked host directory
    // (CVE-2024-21626); then check where we landed is under our root.
    moat_sys::close_fds_from(3 + preserve_fds, &[]).at("close inherited fds", "3..")?;
    let cwd = process.cwd();
    rustix::process::chdir(cwd).at("chdir to cwd", cwd.display())?;
    match rustix::process::getcwd(Vec::new()) {
        Ok(p) if p.to_bytes().starts_with(b"/") => {}
        _ => {
            return Err(Fail::new(
                "cwd is outside the container root",
                cwd.display(),
                libc::EPERM,
            ))
        }
    }
    refuse_magic_exe(exe)?;
    if nnp {
        rustix::thread::set_no_new_privs(true).at("prctl PR_SET_NO_NEW_PRIVS", "1")?;
    }
    if let (Some(p), true) = (seccomp, nnp) {
        p.load()
            .map_err(|e| Fail::new("load seccomp filter", e, libc::EINVAL))?;
    }
    let e = nix::unistd::execve(exe, argv, envp).unwrap_err();
    Err(Fail::new("exec", exe.to_string_lossy(), e as i32))
}

fn enter_time_ns(spec: &Spec) -> R<()> {
    nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)).at("unshare", "time")?;
    if let Some(offs) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    {
        let mut text = String::new();
        for (clock, o) in offs {
            text.push_str(&format!(
                "{clock} {} {}\n",
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            ));
        }
        std::fs::write("/proc/self/timens_offsets", text)
            .at("write", "/proc/self/timens_offsets")?;
    }
    let f = std::fs::File::open("/proc/self/ns/time_for_children")
        .at("open", "/proc/self/ns/time_for_children")?;
    nix::sched::setns(f.as_fd(), CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .at("setns", "time")?;
    Ok(())
}

fn write_sysctl(key: &str, value: &str) -> R<()> {
    let rel = format!("sys/{}", key.replace('.', "/"));
    let fd = rootfs::open_proc_write(&rel)?;
    rustix::io::write(&fd, value.as_bytes()).at("write sysctl", format!("/proc/{rel}"))?;
    Ok(())
}

pub(crate) fn setup_pty(chan: &Channel, uid: u32, gid: u32) -> R<()> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .at("open", "/dev/ptmx")?;
    grantpt(&master).at("grantpt", "/dev/ptmx")?;
    unlockpt(&master).at("unlockpt", "/dev/ptmx")?;
    let name = ptsname(&master, Vec::new()).at("ptsname", "/dev/ptmx")?;
    let name = name.to_string_lossy().into_owned();
    let slave = rustix::fs::open(
        name.as_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open pty slave", &name)?;
    rustix::fs::fchown(
        &slave,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )
    .at("chown pty slave", &name)?;
    rustix::process::setsid().at("setsid", "self")?;
    rustix::process::ioctl_tiocsctty(&slave).at("TIOCSCTTY", &name)?;
    rustix::stdio::dup2_stdin(&slave).at("dup2 pty slave", &name)?;
    rustix::stdio::dup2_stdout(&slave).at("dup2 pty slave", &name)?;
    rustix::stdio::dup2_stderr(&slave).at("dup2 pty slave", &name)?;
    chan.send_with_fd(&Msg::Pty, Some(master.as_fd()))
        .at("send pty master", "parent")?;
    Ok(())
}

pub(crate) fn rlimit_resource(name: &str) -> Option<nix::sys::resource::Resource> {
    use nix::sys::resource::Resource as X;
    Some(match name {
        "RLIMIT_AS" => X::RLIMIT_AS,
        "RLIMIT_CORE" => X::RLIMIT_CORE,
        "RLIMIT_CPU" => X::RLIMIT_CPU,
        "RLIMIT_DATA" => X::RLIMIT_DATA,
        "RLIMIT_FSIZE" => X::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => X::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => X::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => X::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => X::RLIMIT_NICE,
        "RLIMIT_NOFILE" => X::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => X::RLIMIT_NPROC,
        "RLIMIT_RSS" => X::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => X::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => X::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => X::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => X::RLIMIT_STACK,
        _ => return None,
    })
}

/// Find `arg0` as the container will exec it: a path, or a search of the
/// PATH in the process env (as runc does, before reporting Ready, so a
/// missing binary fails `create`, not `start`).
pub(crate) fn find_executable(arg0: &str, env: &[&str]) -> R<PathBuf> {
    let ok = |p: &Path| {
        rustix::fs::stat(p).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
                && st.st_mode & 0o111 != 0
        })
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return if ok(&p) {
            Ok(p)
        } else {
            Err(Fail::new(
                "exec: stat",
                arg0,
                rustix::fs::stat(&p)
                    .err()
                    .map(|e| e.raw_os_error())
                    .unwrap_or(libc::EACCES),
            ))
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(arg0);
        if ok(&p) {
            return Ok(p);
        }
    }
    Err(Fail::new(
        "exec: executable file not found in $PATH",
        arg0,
        libc::ENOENT,
    ))
}

/// The home directory of `uid` in the container's /etc/passwd, else "/".
pub(crate) fn home_dir(uid: u32) -> String {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty() {
            return f[5].to_string();
        }
    }
    "/".to_string()
}

/// CVE-2019-5736: the container must never get the kernel to execute *our*
/// binary for it — a symlink `/bin/sh -> /proc/self/exe`, or a script whose
/// interpreter is `/proc/self/exe`, would make the container's process the
/// moat binary of the host, which it could then reopen for writing. Refuse
/// any executable or interpreter (up to the kernel's 4 levels of `#!`)
/// that resolves through a magic link.
fn refuse_magic_exe(exe: &std::ffi::CStr) -> R<()> {
    use std::io::Read;
    let mut path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(exe.to_bytes()));
    for _ in 0..5 {
        let fd = match rustix::fs::openat2(
            rustix::fs::CWD,
            &path,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            rustix::fs::ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => {
                return Err(Fail::new(
                    "exec target resolves through a magic link (e.g. /proc/self/exe)",
                    path.display(),
                    libc::ELOOP,
                ))
            }
            // Not readable by us: not readable by an interpreter either.
            Err(_) => return Ok(()),
        };
        let mut head = [0u8; 256];
        let n = std::fs::File::from(fd).read(&mut head).unwrap_or(0);
        let Some(rest) = head[..n].strip_prefix(b"#!") else {
            return Ok(());
        };
        let line = rest.split(|b| *b == b'\n').next().unwrap_or(&[]);
        let interp = line
            .split(|b| *b == b' ' || *b == b'\t')
            .find(|w| !w.is_empty())
            .unwrap_or(&[]);
        if interp.is_empty() {
            return Ok(());
        }
        path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(interp));
    }
    Ok(())
}
