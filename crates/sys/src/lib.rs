//! moat-sys: the only crate in moat allowed to use `unsafe`.
//!
//! Thin, safe wrappers over the Linux syscalls the runtime needs and that the
//! safe `rustix`/`nix` APIs do not cover (clone3 with namespace flags and
//! `CLONE_INTO_CGROUP`, `_exit`, closing inherited fds, `mount_setattr`).
//! Every `unsafe` block carries a `// SAFETY:` line. Callers add step/path
//! context to the `std::io::Error`s returned here.

pub mod audit_raw;
pub mod bpf;
pub mod errno;
pub mod mount;
pub mod net;
pub mod probe;
pub mod process;
pub mod seccomp;

pub use process::{
    clone3, close_fds_from, close_inherited, exit_now, join_new_session_keyring, reset_sigpipe,
    Cloned,
};
