//! The container crate's error: every failure names its step and path.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A host-side operation failed.
    #[error("{step} {}: {}", path.display(), moat_sys::errno::text(source))]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The container init reported a failure over the sync channel.
    #[error("container init: {step} {path}: {}", moat_sys::errno::text_of(*errno))]
    Init {
        step: String,
        path: String,
        errno: i32,
    },
    #[error(transparent)]
    Spec(#[from] moat_spec::Error),
    #[error(transparent)]
    Cgroup(#[from] moat_cgroups::Error),
    #[error(transparent)]
    Seccomp(#[from] moat_seccomp::Error),
    #[error("container does not exist")]
    NotFound(String),
    #[error("container with given ID already exists")]
    Exists(String),
    /// A refused request, worded like runc's message for it.
    #[error("{0}")]
    Refused(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a step and path to an io error.
pub trait Context<T> {
    fn at(self, step: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T, E: Into<std::io::Error>> Context<T> for std::result::Result<T, E> {
    fn at(self, step: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::Io {
            step,
            path: path.into(),
            source: e.into(),
        })
    }
}
