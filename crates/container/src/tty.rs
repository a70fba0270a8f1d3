//! The caller's side of a relayed pty (foreground `run -t` / `exec -t`):
//! raw mode for the caller's terminal, window size, draining the master.

use std::os::fd::OwnedFd;

use nix::sys::signalfd::SignalFd;
use nix::sys::wait::WaitStatus;
use rustix::event::{poll, PollFd, PollFlags};

use crate::error::{Context, Result};

/// One wait of a foreground `run`/`exec`: poll the signalfd, the pty master
/// and (while open) the caller's stdin; copy the pty's output to stdout and
/// stdin to the pty. Returns the signal that arrived, if one did.
pub(crate) fn relay_once(
    sfd: &SignalFd,
    pty: Option<&OwnedFd>,
    stdin_open: &mut bool,
    buf: &mut [u8],
) -> Result<Option<i32>> {
    let stdin = std::io::stdin();
    let mut fds = vec![PollFd::new(sfd, PollFlags::IN)];
    if let Some(m) = pty {
        fds.push(PollFd::new(m, PollFlags::IN));
        if *stdin_open {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
    }
    match poll(&mut fds, None) {
        Err(rustix::io::Errno::INTR) => return Ok(None),
        Err(e) => return Err(e).at("poll", "signals"),
        Ok(_) => {}
    }
    let sig_ready = !fds[0].revents().is_empty();
    let master_ready = fds.get(1).is_some_and(|f| !f.revents().is_empty());
    let stdin_ready = fds.get(2).is_some_and(|f| !f.revents().is_empty());
    drop(fds);
    if let (true, Some(m)) = (master_ready, pty) {
        // EIO once the slave side is gone: nothing to copy.
        if let Ok(n @ 1..) = rustix::io::read(m, &mut *buf) {
            let _ = rustix::io::write(std::io::stdout(), &buf[..n]);
        }
    }
    if let (true, Some(m)) = (stdin_ready, pty) {
        match rustix::io::read(&stdin, &mut *buf) {
            Ok(0) | Err(_) => *stdin_open = false,
            Ok(n) => {
                let _ = rustix::io::write(m, &buf[..n]);
            }
        }
    }
    if !sig_ready {
        return Ok(None);
    }
    Ok(sfd
        .read_signal()
        .ok()
        .flatten()
        .map(|si| si.ssi_signo as i32))
}

/// The shell's exit code for a wait status: the code, or 128 + signal.
pub(crate) fn status_code(s: WaitStatus) -> Option<i32> {
    match s {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Copy what is left in the pty master to stdout once the process is gone.
pub(crate) fn drain(m: &OwnedFd, buf: &mut [u8]) {
    let _ = rustix::fs::fcntl_setfl(m, rustix::fs::OFlags::NONBLOCK);
    while let Ok(n) = rustix::io::read(m, &mut *buf) {
        if n == 0 {
            break;
        }
        let _ = rustix::io::write(std::io::stdout(), &buf[..n]);
    }
}

/// Give the pty the caller's window size.
pub(crate) fn copy_winsize(m: &OwnedFd) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(std::io::stdin()) {
        let _ = rustix::termios::tcsetwinsize(m, ws);
    }
}

/// The caller's terminal in raw mode while relaying; restored on drop.
pub(crate) struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    pub(crate) fn enter() -> RawTerminal {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}
