//! moat-seccomp: compile an OCI `linux.seccomp` profile to a seccomp BPF
//! program on the host, cache it by content hash, and load the raw bytes in
//! the container's init.
//!
//! ```text
//! moat create (parent, on the host)         container init (child)
//!   compile_cached(&spec, cache_dir) ---->    [no_new_privs or CAP_SYS_ADMIN]
//!     hit:  read <cache_dir>/<sha256>.bpf     program.load()  (just before execve)
//!     miss: compact compiler or libseccomp      -> Some(listener fd) with NOTIFY
//!           -> BPF, write file
//! ```
//!
//! Compiling docker's default profile with libseccomp costs ~11 ms; loading
//! the result ~1 ms. The child never touches libseccomp. Profiles the compact
//! compiler supports (moat's default: 306 instructions instead of 1199) do
//! not go through libseccomp's filter at all; it is only asked for syscall
//! numbers.
#![forbid(unsafe_code)]

mod cache;
mod compact;
mod compile;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use cache::{cache_key, compile_cached};
pub use compile::{compile, compile_compact, compile_libseccomp, Unsupported};

/// Filter flags [`Program::flags`] may carry (values of the kernel's
/// `SECCOMP_FILTER_FLAG_*`).
pub use moat_sys::seccomp::{
    FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_TSYNC_ESRCH,
    FLAG_WAIT_KILLABLE_RECV,
};

/// Everything that can go wrong compiling, caching or loading a profile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile itself is invalid (a default action, an errno, ...).
    #[error("seccomp profile: {field}: {reason}")]
    InvalidProfile { field: &'static str, reason: String },
    /// One syscall rule is invalid (bad action, errno or argument).
    #[error("seccomp profile: syscall {syscall}: {reason}")]
    InvalidRule { syscall: String, reason: String },
    /// libseccomp refused a rule.
    #[error("seccomp: adding rule for syscall {syscall}: {source}")]
    Rule {
        syscall: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// A libseccomp step other than adding a rule failed.
    #[error("seccomp: {step}: {source}")]
    Libseccomp {
        step: &'static str,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// An I/O step failed (exporting the BPF, reading or writing the cache).
    #[error("seccomp: {step} {}: {source}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cache directory could be written by someone other than us: a
    /// planted entry would be loaded into containers as their filter.
    #[error("seccomp: refusing cache dir {}: {reason}", path.display())]
    InsecureCacheDir { path: PathBuf, reason: String },
    /// The kernel refused the program.
    #[error("seccomp: loading filter ({insns} instructions, flags {flags:#x}){hint}: {source}")]
    Load {
        insns: usize,
        flags: u32,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A compiled seccomp program: the BPF bytes (a native-endian array of
/// `struct sock_filter`) and how to load them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub(crate) bpf: Vec<u8>,
    pub(crate) flags: u32,
    pub(crate) uses_notify: bool,
    pub(crate) listener_path: Option<PathBuf>,
}

impl Program {
    /// Install the filter on the calling thread (every thread with
    /// [`FLAG_TSYNC`]). Returns the user-notification listener fd when the
    /// profile uses `SCMP_ACT_NOTIFY` (`FLAG_NEW_LISTENER` is then set), else
    /// `None`.
    ///
    /// The caller must have set `no_new_privs`
    /// ([`moat_sys::seccomp::set_no_new_privs`]) or hold `CAP_SYS_ADMIN`;
    /// which of the two, and when relative to dropping capabilities, is the
    /// runtime's decision (runc: before dropping capabilities when
    /// `noNewPrivileges` is off, after when on). Does not allocate.
    pub fn load(&self) -> Result<Option<OwnedFd>, Error> {
        moat_sys::seccomp::load_filter(&self.bpf, self.flags).map_err(|source| {
            let hint = if source.kind() == std::io::ErrorKind::PermissionDenied {
                " (no_new_privs is not set and CAP_SYS_ADMIN is missing)"
            } else {
                ""
            };
            Error::Load {
                insns: self.instructions(),
                flags: self.flags,
                hint,
                source,
            }
        })
    }

    /// The BPF program as bytes, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bpf
    }

    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.bpf.len() / moat_sys::seccomp::INSN_SIZE
    }

    /// `SECCOMP_FILTER_FLAG_*` bits [`Program::load`] passes to the kernel.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether the profile has `SCMP_ACT_NOTIFY` rules (then loading returns
    /// a listener fd to hand to the agent at [`Program::listener_path`]).
    pub fn uses_notify(&self) -> bool {
        self.uses_notify
    }

    /// The profile's `listenerPath`: the seccomp agent's unix socket.
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }
}
