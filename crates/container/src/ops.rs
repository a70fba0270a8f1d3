//! start, kill, delete, state and list: operations on an existing container.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};

use crate::error::{Context, Error, Result};
use crate::state::{Locked, State, Status, Store};

/// A container's state, loaded under its lock.
pub struct Loaded {
    pub locked: Locked,
    pub state: Option<State>,
}

impl Loaded {
    pub fn open(store: &Store, id: &str) -> Result<Loaded> {
        let locked = store.open(id)?;
        let state = locked.load()?;
        Ok(Loaded { locked, state })
    }

    /// A read-only view that does not wait for the container's lock.
    pub fn peek(store: &Store, id: &str) -> Result<Loaded> {
        let locked = store.peek(id)?;
        let state = locked.load()?;
        Ok(Loaded { locked, state })
    }

    pub fn cgroup(&self) -> Option<Box<dyn moat_cgroups::Cgroup>> {
        let st = self.state.as_ref()?;
        let root = moat_cgroups::Root::detect().ok()?;
        // The recorded dirs, not a fresh resolution: a relative path would
        // resolve against *this* process's cgroup, not create's.
        moat_cgroups::open_recorded(&root, st.cgroups_path.as_deref(), &st.id, &st.cgroup_paths)
            .ok()
    }

    pub fn status(&self) -> Status {
        match &self.state {
            None => Status::Stopped,
            Some(st) => st.status(&self.locked.dir, || {
                self.cgroup()
                    .and_then(|c| c.state().ok())
                    .is_some_and(|s| s == moat_cgroups::FreezerState::Frozen)
            }),
        }
    }

    fn state(&self) -> Result<&State> {
        self.state
            .as_ref()
            .ok_or_else(|| Error::Refused(format!("container {} has no state yet", self.locked.id)))
    }
}

/// Parse a signal as runc does: "KILL", "SIGKILL", "kill" or a number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Refused(format!("unknown signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| Error::Refused(format!("unknown signal {s:?}")))
}

/// Open a pidfd for the recorded init, refusing a recycled pid.
fn init_pidfd(st: &State) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(st.pid)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    // Check after opening: the pidfd now pins the process we verified.
    st.init_alive().then_some(fd)
}

fn send_signal(fd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    let sig = rustix::process::Signal::from_named_raw(sig)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    rustix::process::pidfd_send_signal(fd, sig).map_err(Into::into)
}

/// Wait until the process behind `fd` has exited (or the timeout passed).
fn wait_exit(fd: &OwnedFd, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let ts = rustix::fs::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// `start`: release the init blocked on the exec fifo.
pub fn start(store: &Store, id: &str) -> Result<()> {
    let l = Loaded::open(store, id)?;
    match l.status() {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::Refused(
                "cannot start a container that has stopped".into(),
            ))
        }
        s => {
            return Err(Error::Refused(format!(
                "cannot start an already running container (status {})",
                s.as_str()
            )))
        }
    }
    let st = l.state()?;
    let pidfd = init_pidfd(st).ok_or_else(|| Error::Refused("container init is gone".into()))?;
    release_fifo(&l.locked, &pidfd)?;
    if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststart().as_deref()) {
        let js =
            crate::hooks::state_json(id, "running", st.pid, &st.bundle, st.annotations.as_ref());
        crate::hooks::run("poststart", h, &js).map_err(Error::Refused)?;
    }
    Ok(())
}

/// Open the exec fifo for reading and read the init's byte; fails instead
/// of hanging when the init dies first.
pub fn release_fifo(l: &Locked, pidfd: &OwnedFd) -> Result<()> {
    let path = l.fifo();
    let fifo = rustix::fs::open(
        &path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open exec fifo", &path)?;
    loop {
        let mut fds = [
            PollFd::new(&fifo, PollFlags::IN),
            PollFd::new(pidfd, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e).at("wait on exec fifo", &path),
            Ok(_) => {}
        }
        let fifo_ready = !fds[0].revents().is_empty();
        let dead = !fds[1].revents().is_empty();
        if fifo_ready {
            let mut b = [0u8; 1];
            match rustix::io::read(&fifo, &mut b) {
                Ok(1) => break,
                Ok(_) | Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(e).at("read exec fifo", &path),
            }
        }
        if dead {
            return Err(Error::Refused("container init exited before start".into()));
        }
    }
    std::fs::remove_file(&path).at("remove exec fifo", &path)?;
    Ok(())
}

/// `kill`.
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let l = Loaded::open(store, id)?;
    // `--all` signals whatever is left in the cgroup, even of a stopped
    // container (runc: nothing left is success, not "not running").
    if all {
        if let Some(cg) = l.cgroup() {
            for p in cg.pids().unwrap_or_default() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::try_from(sig).ok(),
                );
            }
            return Ok(());
        }
        if matches!(l.status(), Status::Stopped) {
            return Ok(());
        }
    }
    if matches!(l.status(), Status::Stopped) {
        return Err(Error::Refused("container not running".into()));
    }
    let st = l.state()?;
    let fd = init_pidfd(st).ok_or_else(|| Error::Refused("container not running".into()))?;
    send_signal(&fd, sig).at("kill", format!("pid {}", st.pid))
}

/// `delete`.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    let l = Loaded::open(store, id)?;
    let status = l.status();
    match status {
        Status::Stopped | Status::Created | Status::Creating => {}
        Status::Running | Status::Paused if force => {}
        s => {
            return Err(Error::Refused(format!(
                "cannot delete container {id} that is not stopped: {}",
                s.as_str()
            )))
        }
    }
    let cg = l.cgroup();
    if let Some(st) = &l.state {
        if status != Status::Stopped {
            if let Some(cg) = &cg {
                if status == Status::Paused {
                    let _ = cg.thaw();
                }
            }
            if let Some(fd) = init_pidfd(st) {
                let _ = send_signal(&fd, libc::SIGKILL);
                wait_exit(&fd, Duration::from_secs(10));
            }
        }
        // Whatever is left in the cgroup (exec'd processes of a shared pid
        // namespace, or anything after a SIGKILLed create) goes too.
        if let Some(cg) = &cg {
            kill_cgroup(&**cg);
            cg.destroy()?;
        } else {
            remove_dirs(&st.cgroup_paths);
        }
        if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststop().as_deref()) {
            let js =
                crate::hooks::state_json(id, "stopped", 0, &st.bundle, st.annotations.as_ref());
            if let Err(e) = crate::hooks::run("poststop", h, &js) {
                eprintln!("moat: warning: {e}");
            }
        }
    }
    match l.state.as_ref().and_then(|s| s.userns_slot) {
        Some(n) => crate::userns::release(&store.root, n),
        None => crate::userns::release_by_id(&store.root, id),
    }
    l.locked.remove()
}

/// SIGKILL everything in the cgroup and wait (bounded) for it to empty.
pub fn kill_cgroup(cg: &dyn moat_cgroups::Cgroup) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = cg.pids().unwrap_or_default();
        if pids.is_empty() || Instant::now() > end {
            return;
        }
        for p in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn remove_dirs(paths: &[std::path::PathBuf]) {
    for p in paths.iter().rev() {
        let _ = std::fs::remove_dir(p);
    }
}

/// runc's `state` document.
pub fn state_value(l: &Loaded) -> Result<serde_json::Value> {
    let status = l.status();
    let st = l.state()?;
    let mut v = serde_json::json!({
        "ociVersion": "1.0.2-dev",
        "id": st.id,
        "pid": if status == Status::Stopped { 0 } else { st.pid },
        "status": status.as_str(),
        "bundle": st.bundle,
        "rootfs": st.rootfs,
        "created": st.created,
        "owner": st.owner,
    });
    if let Some(a) = &st.annotations {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    Ok(v)
}

/// All containers' state documents, sorted by id; unreadable ones skipped.
pub fn list(store: &Store) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for id in store.ids()? {
        if let Ok(l) = Loaded::peek(store, &id) {
            if let Ok(v) = state_value(&l) {
                out.push(v);
            }
        }
    }
    Ok(out)
}
