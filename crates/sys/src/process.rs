//! Process creation and teardown primitives.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Which side of a `clone3` the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloned {
    /// In the parent: the pid of the new child (in the parent's pid namespace).
    Parent(i32),
    /// In the child.
    Child,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Fork-like `clone3`: the child gets a copy-on-write copy of the caller's
/// memory (no separate stack), `SIGCHLD` as exit signal, the namespace
/// `flags` given (`CLONE_NEW*`), and, if `cgroup` is given, starts directly in
/// that cgroup v2 directory (`CLONE_INTO_CGROUP`).
///
/// The caller must be single-threaded (moat's binary is): the child must only
/// run code that does not depend on locks held by other threads at the time
/// of the call.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Cloned> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork:
    // the child runs on a private copy of our address space. `args` is a
    // valid, fully initialised clone_args of the size we pass. moat is single
    // threaded when it calls this (documented precondition), so no other
    // thread's lock can be held in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent(pid as i32)),
    }
}

/// Terminate the calling process at once, without running atexit handlers or
/// flushing stdio buffers inherited from the parent (a cloned child must not
/// flush the parent's buffers twice).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Close every file descriptor numbered `first` or higher, except those in
/// `keep` (used before `execve` so that nothing the config did not ask for
/// leaks into the container: CVE-2024-21626). Kept fds are left open; the
/// others are closed with `close_range` in as few calls as possible.
pub fn close_fds_from(first: RawFd, keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&f| f >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first as u32;
    for k in keep {
        let k = k as u32;
        if k > lo {
            close_range(lo, k - 1)?;
        }
        lo = k + 1;
    }
    close_range(lo, u32::MAX)
}

fn close_range(lo: u32, hi: u32) -> io::Result<()> {
    // SAFETY: close_range only closes descriptors; the caller (the container
    // init, right before execve) owns every descriptor in the range and holds
    // no Rust object that will use them afterwards.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Close one descriptor inherited across `clone3` that the child must not
/// keep (e.g. the parent's state-dir lock: an `flock` lives as long as any
/// copy of its open file description).
///
/// Only for the cloned child, which never uses the Rust object that owned the
/// descriptor in the parent (it leaves by `execve` or `exit_now`).
pub fn close_inherited(fd: RawFd) {
    // SAFETY: closing a descriptor number has no memory-safety effect; the
    // contract above guarantees no live Rust owner will use it afterwards.
    unsafe {
        libc::close(fd);
    }
}

/// Give the calling process a new anonymous session keyring, so that
/// containers never share the runtime's (or each other's) session keyring
/// (runc does the same unless `--no-new-keyring`).
pub fn join_new_session_keyring() -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING with a NULL name reads no memory
    // of ours; it only replaces this process's session keyring.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Put SIGPIPE back to its default action. The Rust runtime ignores it at
/// start-up, and an ignored signal stays ignored across `execve`: without
/// this every container process would inherit SIG_IGN for SIGPIPE.
pub fn reset_sigpipe() -> io::Result<()> {
    // SAFETY: installing SIG_DFL involves no handler code; it only changes
    // the disposition of one signal for this (single-threaded) process.
    let r = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if r == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The user namespace that owns the namespace `ns` (`NS_GET_USERNS`).
pub fn ns_owner(ns: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    const NS_GET_USERNS: libc::c_ulong = 0xb701;
    // SAFETY: NS_GET_USERNS takes no argument and returns a new fd or -1;
    // `ns` is a live fd for the duration of the call.
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_USERNS) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned `fd`, a new descriptor we own.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone3_plain_child_exits_with_code() {
        match clone3(0, None).unwrap() {
            Cloned::Child => exit_now(42),
            Cloned::Parent(pid) => {
                let st = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
                assert_eq!(
                    st,
                    nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 42)
                );
            }
        }
    }
}
