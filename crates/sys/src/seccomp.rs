//! Loading a compiled seccomp BPF program into the calling thread.
//!
//! moat compiles seccomp profiles on the host, in the parent (`moat-seccomp`,
//! with libseccomp and a content-hash cache); the container's init only hands
//! the raw BPF bytes to [`load_filter`] just before `execve`. Nothing here
//! depends on libseccomp.
//!
//! Loading requires that the calling thread either has `no_new_privs` set
//! ([`set_no_new_privs`]) or has `CAP_SYS_ADMIN` in its user namespace;
//! otherwise the kernel answers `EACCES`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `SECCOMP_FILTER_FLAG_TSYNC`: apply the filter to every thread of the
/// process (fails if a thread cannot be synchronised).
pub const FLAG_TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
/// `SECCOMP_FILTER_FLAG_LOG`: log every action except `ALLOW` (Linux 4.14).
pub const FLAG_LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`: do not force the Speculative Store
/// Bypass mitigation (Linux 4.17).
pub const FLAG_SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: return a user-notification listener fd
/// for `SECCOMP_RET_USER_NOTIF` (Linux 5.0).
pub const FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH`: with `TSYNC`, report a failed
/// synchronisation as `ESRCH` instead of a thread id; required to combine
/// `TSYNC` with `NEW_LISTENER` (Linux 5.7).
pub const FLAG_TSYNC_ESRCH: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`: a notified task waits killably
/// once the supervisor has received the notification (Linux 5.19; only
/// together with `NEW_LISTENER`).
pub const FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;

/// Every filter flag [`load_filter`] accepts.
pub const KNOWN_FLAGS: u32 = FLAG_TSYNC
    | FLAG_LOG
    | FLAG_SPEC_ALLOW
    | FLAG_NEW_LISTENER
    | FLAG_TSYNC_ESRCH
    | FLAG_WAIT_KILLABLE_RECV;

/// Size of one BPF instruction (`struct sock_filter`) in bytes.
pub const INSN_SIZE: usize = std::mem::size_of::<libc::sock_filter>();
/// The kernel's limit on instructions per filter (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Install `bpf` — a native-endian array of `struct sock_filter`, as written
/// by libseccomp's `seccomp_export_bpf` — as a seccomp filter on the calling
/// thread (on every thread with [`FLAG_TSYNC`]).
///
/// `flags` is any combination of the `FLAG_*` constants. With
/// [`FLAG_NEW_LISTENER`] the kernel returns a user-notification listener,
/// handed back as `Some(fd)` (close-on-exec); otherwise `None`. `TSYNC`
/// together with `NEW_LISTENER` needs [`FLAG_TSYNC_ESRCH`] too (the kernel
/// rejects the pair with `EINVAL` otherwise).
///
/// Precondition, checked by the kernel: the thread has `no_new_privs`
/// ([`set_no_new_privs`]) or `CAP_SYS_ADMIN`, else `EACCES`.
///
/// Errors: `EINVAL` for an empty program, a length that is not a multiple of
/// 8 bytes, more than [`MAX_INSNS`] instructions or unknown flags (checked
/// here, before the syscall); otherwise the kernel's errno. Does not allocate,
/// so it may be called in a child forked from a multi-threaded process.
pub fn load_filter(bpf: &[u8], flags: u32) -> io::Result<Option<OwnedFd>> {
    if bpf.is_empty() || bpf.len() % INSN_SIZE != 0 || bpf.len() / INSN_SIZE > MAX_INSNS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if flags & !KNOWN_FLAGS != 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let prog = libc::sock_fprog {
        len: (bpf.len() / INSN_SIZE) as libc::c_ushort,
        // The kernel copies the instructions with copy_from_user, which has
        // no alignment requirement; Rust never dereferences this pointer, so
        // a byte slice that is not aligned for sock_filter is fine.
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` is a valid sock_fprog whose `filter` points to
    // `len * 8` readable bytes borrowed from `bpf` for the whole call; the
    // kernel only reads them (and copies them) during the syscall.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a non-negative return
        // value is a new file descriptor that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) }))
    } else {
        Ok(None)
    }
}

/// Load a filter given as instructions (see [`load_filter`]).
pub fn load_filter_insns(insns: &[libc::sock_filter], flags: u32) -> io::Result<Option<OwnedFd>> {
    let mut bytes = Vec::with_capacity(insns.len() * INSN_SIZE);
    for i in insns {
        bytes.extend_from_slice(&i.code.to_ne_bytes());
        bytes.push(i.jt);
        bytes.push(i.jf);
        bytes.extend_from_slice(&i.k.to_ne_bytes());
    }
    load_filter(&bytes, flags)
}

/// Whether the running kernel supports the seccomp return action `action`
/// (a `SECCOMP_RET_*` value such as `0x7fc0_0000` for `USER_NOTIF`), via
/// `SECCOMP_GET_ACTION_AVAIL`. `Ok(false)` when the kernel does not know it.
pub fn action_available(action: u32) -> io::Result<bool> {
    let act: u32 = action;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 through the pointer,
    // which points to a live local for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL as libc::c_ulong,
            0 as libc::c_ulong,
            &act as *const u32,
        )
    };
    if ret == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(err),
    }
}

/// The calling thread's seccomp mode (`PR_GET_SECCOMP`): 0 disabled,
/// 1 strict, 2 filter. `Err(EINVAL)` if the kernel lacks seccomp.
pub fn mode() -> io::Result<u32> {
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments and only returns a
    // value.
    let ret = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as u32)
    }
}

/// Whether seccomp filters can be used at all on this kernel.
pub fn filter_supported() -> bool {
    mode().is_ok() && action_available(libc::SECCOMP_RET_ALLOW).unwrap_or(false)
}

/// Set `no_new_privs` on the calling thread (inherited by children and kept
/// across `execve`; cannot be unset). Required before [`load_filter`] unless
/// the thread has `CAP_SYS_ADMIN`.
pub fn set_no_new_privs() -> io::Result<()> {
    nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)
}

/// Whether `no_new_privs` is set on the calling thread.
pub fn no_new_privs() -> io::Result<bool> {
    nix::sys::prctl::get_no_new_privs().map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{clone3, exit_now, Cloned};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::Pid;

    // Classic BPF opcodes and seccomp_data offsets.
    const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const OFF_NR: u32 = 0;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
        libc::sock_filter { code, jt, jf, k }
    }

    /// `nr == target ? action : ALLOW` (no arch check: test only).
    fn deny_one(target: libc::c_long, action: u32) -> Vec<libc::sock_filter> {
        vec![
            insn(BPF_LD_W_ABS, 0, 0, OFF_NR),
            insn(BPF_JEQ_K, 0, 1, target as u32),
            insn(BPF_RET_K, 0, 0, action),
            insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        ]
    }

    fn to_bytes(insns: &[libc::sock_filter]) -> Vec<u8> {
        let mut b = Vec::new();
        for i in insns {
            b.extend_from_slice(&i.code.to_ne_bytes());
            b.push(i.jt);
            b.push(i.jf);
            b.extend_from_slice(&i.k.to_ne_bytes());
        }
        b
    }

    /// Run `f` in a forked child (which must not allocate: the test harness
    /// is multi-threaded) and return how it ended.
    fn in_child(f: impl FnOnce() -> i32) -> WaitStatus {
        match clone3(0, None).expect("clone3") {
            Cloned::Child => exit_now(f()),
            Cloned::Parent(pid) => waitpid(Pid::from_raw(pid), None).expect("waitpid"),
        }
    }

    fn errno_of(r: nix::Result<impl Sized>) -> i32 {
        match r {
            Ok(_) => 0,
            Err(e) => e as i32,
        }
    }

    #[test]
    fn rejects_malformed_programs_before_the_syscall() {
        assert_eq!(
            load_filter(&[], 0).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            load_filter(&[0u8; 7], 0).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            load_filter(&vec![0u8; 8 * (MAX_INSNS + 1)], 0)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EINVAL)
        );
        let ok = to_bytes(&deny_one(libc::SYS_uname, libc::SECCOMP_RET_ERRNO | 1));
        assert_eq!(
            load_filter(&ok, 1 << 30).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn probes() {
        assert!(filter_supported());
        assert_eq!(mode().unwrap(), 0);
        assert!(action_available(libc::SECCOMP_RET_KILL_PROCESS).unwrap());
        assert!(!action_available(0x1234_0000).unwrap());
    }

    #[test]
    fn errno_filter_applies_in_child_only() {
        let bytes = to_bytes(&deny_one(libc::SYS_uname, libc::SECCOMP_RET_ERRNO | 77));
        let st = in_child(|| {
            if set_no_new_privs().is_err() || !no_new_privs().unwrap_or(false) {
                return 100;
            }
            if load_filter(&bytes, 0).is_err() {
                return 101;
            }
            if mode().ok() != Some(2) {
                return 102;
            }
            errno_of(nix::sys::utsname::uname())
        });
        assert_eq!(st, WaitStatus::Exited(st.pid().unwrap(), 77));
        // The parent is untouched.
        assert!(nix::sys::utsname::uname().is_ok());
    }

    #[test]
    fn unaligned_bytes_load() {
        let bytes = to_bytes(&deny_one(libc::SYS_uname, libc::SECCOMP_RET_ERRNO | 5));
        let mut buf = vec![0u8; bytes.len() + 1];
        buf[1..].copy_from_slice(&bytes);
        let st = in_child(|| {
            let _ = set_no_new_privs();
            if load_filter(&buf[1..], 0).is_err() {
                return 101;
            }
            errno_of(nix::sys::utsname::uname())
        });
        assert_eq!(st, WaitStatus::Exited(st.pid().unwrap(), 5));
    }

    #[test]
    fn kill_process_and_tsync_log_flags() {
        let insns = deny_one(libc::SYS_uname, libc::SECCOMP_RET_KILL_PROCESS);
        let st = in_child(|| {
            let _ = set_no_new_privs();
            if load_filter_insns(&insns, FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW).is_err() {
                return 101;
            }
            let _ = nix::sys::utsname::uname();
            0
        });
        assert_eq!(
            st,
            WaitStatus::Signaled(st.pid().unwrap(), nix::sys::signal::SIGSYS, false)
        );
    }

    #[test]
    fn new_listener_returns_an_fd() {
        let bytes = to_bytes(&deny_one(libc::SYS_uname, libc::SECCOMP_RET_USER_NOTIF));
        let st = in_child(|| {
            let _ = set_no_new_privs();
            match load_filter(&bytes, FLAG_NEW_LISTENER) {
                Ok(Some(fd)) => {
                    // Close-on-exec, as the kernel promises.
                    match nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD) {
                        Ok(f) if f & libc::FD_CLOEXEC != 0 => 0,
                        _ => 103,
                    }
                }
                Ok(None) => 102,
                Err(e) => e.raw_os_error().unwrap_or(101),
            }
        });
        assert_eq!(st, WaitStatus::Exited(st.pid().unwrap(), 0));
    }
}
