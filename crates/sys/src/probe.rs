//! Harmless attempts at dangerous syscalls, for tests and audits run inside
//! containers: each is called with arguments that cannot change the system
//! (NULL attribute pointers, read-only queries), so the only interesting
//! outcome is whether the kernel (seccomp, capabilities) lets it through.

use std::io;

/// A dangerous syscall to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
    Keyctl,
    /// userfaultfd(UFFD_USER_MODE_ONLY): an fd, closed at once.
    Userfaultfd,
    /// perf_event_open(NULL, 0, -1, -1, 0): EFAULT when reachable.
    PerfEventOpen,
    /// io_uring_setup(1, NULL): EFAULT when reachable.
    IoUringSetup,
    /// bpf(BPF_MAP_CREATE, NULL, 0)
    Bpf,
    /// init_module(NULL, 0, ""): EPERM without CAP_SYS_MODULE.
    InitModule,
    /// unshare(CLONE_NEWUSER): only affects the calling (probe) process.
    UnshareUser,
    /// ioctl(0, TIOCSTI, "\0"): ENOTTY unless stdin is a terminal, where it
    /// would push a NUL byte into that terminal's input.
    Tiocsti,
}

impl Probe {
    pub const ALL: [Probe; 8] = [
        Probe::Keyctl,
        Probe::Userfaultfd,
        Probe::PerfEventOpen,
        Probe::IoUringSetup,
        Probe::Bpf,
        Probe::InitModule,
        Probe::UnshareUser,
        Probe::Tiocsti,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Probe::Keyctl => "keyctl",
            Probe::Userfaultfd => "userfaultfd",
            Probe::PerfEventOpen => "perf_event_open",
            Probe::IoUringSetup => "io_uring_setup",
            Probe::Bpf => "bpf",
            Probe::InitModule => "init_module",
            Probe::UnshareUser => "unshare_user",
            Probe::Tiocsti => "tiocsti",
        }
    }

    pub fn from_name(s: &str) -> Option<Probe> {
        Probe::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Make the call. `Ok(value)` means the kernel accepted it (for keyctl,
    /// the value is the session keyring's serial).
    pub fn run(self) -> io::Result<i64> {
        let empty = b"\0";
        // SAFETY: every call below passes only integers, NULL pointers (which
        // the kernel rejects with EFAULT without touching our memory) or a
        // pointer to a static NUL-terminated string; none maps, unmaps or
        // writes memory of this process. A returned fd is closed right away.
        let ret = unsafe {
            match self {
                Probe::Keyctl => libc::syscall(libc::SYS_keyctl, 0i64, -3i64, 0i64),
                Probe::Userfaultfd => libc::syscall(libc::SYS_userfaultfd, 1i64),
                Probe::PerfEventOpen => libc::syscall(
                    libc::SYS_perf_event_open,
                    std::ptr::null::<u8>(),
                    0i64,
                    -1i64,
                    -1i64,
                    0i64,
                ),
                Probe::IoUringSetup => {
                    libc::syscall(libc::SYS_io_uring_setup, 1i64, std::ptr::null::<u8>())
                }
                Probe::Bpf => libc::syscall(libc::SYS_bpf, 0i64, std::ptr::null::<u8>(), 0i64),
                Probe::InitModule => libc::syscall(
                    libc::SYS_init_module,
                    std::ptr::null::<u8>(),
                    0i64,
                    empty.as_ptr(),
                ),
                Probe::UnshareUser => libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER as i64),
                Probe::Tiocsti => {
                    libc::syscall(libc::SYS_ioctl, 0i64, libc::TIOCSTI as i64, empty.as_ptr())
                }
            }
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        if self == Probe::Userfaultfd {
            // SAFETY: the kernel just returned this fd to us; nothing else owns it.
            unsafe { libc::close(ret as i32) };
        }
        Ok(ret)
    }
}
