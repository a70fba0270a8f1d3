//! moat-sys: the only crate in moat allowed to use `unsafe`.
//!
//! Thin, safe wrappers over the Linux syscalls the runtime needs. Every
//! `unsafe` block carries a `// SAFETY:` line. Everything returns `OwnedFd`s
//! and `std::io::Error`s; callers add the step/path context.

pub mod seccomp;
