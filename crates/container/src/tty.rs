//! The caller's side of a relayed pty (foreground `run -t` / `exec -t`):
//! raw mode for the caller's terminal, window size, draining the master.

use std::os::fd::OwnedFd;

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
