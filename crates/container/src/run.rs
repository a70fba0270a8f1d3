//! `run`: create + start, then (in the foreground) forward signals, relay
//! the pty, reap the init and delete the container, exiting with its status.

use std::os::fd::OwnedFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::create::{create, CreateOpts};
use crate::error::{Context, Error, Result};
use crate::state::Store;
use crate::tty::{copy_winsize, drain, relay_once, status_code, RawTerminal};

#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub create: CreateOpts,
    pub detach: bool,
    pub keep: bool,
    pub no_subreaper: bool,
}

/// Returns the exit code moat itself should exit with.
pub fn run(store: &Store, o: &RunOpts) -> Result<i32> {
    let mut co = o.create.clone();
    co.foreground = !o.detach;
    // No exec fifo: create tells the init to go on once the state is saved.
    co.start = true;
    if o.detach {
        create(store, &co)?;
        return Ok(0);
    }
    // Block the signals we forward before the init exists, so none is lost;
    // the init unblocks them for itself.
    let mut mask = SigSet::all();
    mask.remove(Signal::SIGKILL);
    mask.remove(Signal::SIGSTOP);
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
        .at("block signals", "self")?;
    if !o.no_subreaper {
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    }
    let c = create(store, &co)?;
    let id = c.state.id.clone();
    let pid = c.state.pid;
    let hooks = c.state.hooks.clone();
    let bundle = c.state.bundle.clone();
    let annotations = c.state.annotations.clone();
    let pty = c.pty;
    // Drop the lock so `state`, `kill` and friends work while we wait.
    drop(c.locked);
    if let Some(h) = hooks.as_ref().and_then(|h| h.poststart().as_deref()) {
        let js = crate::hooks::state_json(&id, "running", pid, &bundle, annotations.as_ref());
        if let Err(e) = crate::hooks::run("poststart", h, &js) {
            let _ = crate::ops::delete(store, &id, true);
            return Err(Error::Refused(e));
        }
    }
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).at("signalfd", "self")?;
    let _raw = pty.as_ref().map(|_| RawTerminal::enter());
    let code = wait_loop(pid, &sfd, pty.as_ref())?;
    drop(_raw);
    if !o.keep {
        if let Err(e) = crate::ops::delete(store, &id, true) {
            eprintln!("moat: warning: delete {id}: {e}");
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    Ok(code)
}

fn wait_loop(pid: i32, sfd: &SignalFd, pty: Option<&OwnedFd>) -> Result<i32> {
    let mut stdin_open = pty.is_some();
    let mut buf = [0u8; 8192];
    if let Some(m) = pty {
        copy_winsize(m);
    }
    loop {
        let Some(sig) = relay_once(sfd, pty, &mut stdin_open, &mut buf)? else {
            continue;
        };
        if sig == libc::SIGCHLD {
            // Reap everything (we are a subreaper); stop when the init is gone.
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(s) => {
                        if s.pid() == Some(Pid::from_raw(pid)) {
                            if let Some(c) = status_code(s) {
                                if let Some(m) = pty {
                                    drain(m, &mut buf);
                                }
                                return Ok(c);
                            }
                        }
                    }
                }
            }
        } else if sig == libc::SIGWINCH && pty.is_some() {
            copy_winsize(pty.expect("pty"));
        } else if let Ok(s) = Signal::try_from(sig) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
        }
    }
}
