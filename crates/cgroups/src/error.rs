//! The one error type of this crate. Every I/O failure names the step, the path and the
//! errno, and reads like runc's messages:
//! `cgroups: write /sys/fs/cgroup/memory/x/memory.limit_in_bytes: device or resource busy`.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Errors of the cgroups crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on a cgroup file or directory failed.
    #[error("cgroups: {step} {}: {}", path.display(), Errno(source))]
    Io {
        /// What we were doing: "read", "write", "mkdir", "rmdir", "open", ...
        step: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No cgroup v1 or v2 filesystem is mounted (or none that we recognise).
    #[error("cgroups: no cgroup filesystem found in {0}")]
    NoCgroupMounts(String),
    /// A line of mountinfo or /proc/self/cgroup could not be parsed.
    #[error("cgroups: parse {what}: {detail}")]
    Parse {
        /// Which file or value.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// The cgroupsPath (or container id) is not acceptable.
    #[error("cgroups: invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The cgroupsPath is in systemd `slice:prefix:name` form.
    #[error(
        "cgroups: cgroupsPath {0:?} is in systemd form (slice:prefix:name), but the systemd cgroup \
         driver is not available here (moat only has the cgroupfs driver); use a path such as /moat/<id>"
    )]
    SystemdPath(String),
    /// A resource was requested for a controller that is not mounted.
    #[error("cgroups: cannot set {resource}: the {controller} controller is not mounted")]
    ControllerMissing {
        /// The OCI resource, e.g. "memory.limit".
        resource: &'static str,
        /// The cgroup controller, e.g. "memory".
        controller: &'static str,
    },
    /// The request cannot be honoured with this cgroup layout.
    #[error("cgroups: {what} is not supported on {layout}")]
    Unsupported {
        /// What was asked.
        what: String,
        /// "cgroup v1", "cgroup v2", "hybrid cgroups".
        layout: &'static str,
    },
    /// A resource value is out of range or inconsistent.
    #[error("cgroups: invalid {what}: {detail}")]
    InvalidValue {
        /// The resource.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The memory limit could not be lowered below what the cgroup uses (EBUSY).
    #[error(
        "cgroups: write {}: unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})",
        path.display()
    )]
    MemoryBusy {
        /// The limit file.
        path: PathBuf,
        /// The requested limit.
        limit: i64,
        /// memory.usage_in_bytes / memory.current.
        usage: u64,
        /// memory.max_usage_in_bytes / memory.peak.
        peak: u64,
    },
    /// Freezing did not complete in time (the cgroup is thawed again).
    #[error("cgroups: freeze {}: timed out waiting for the cgroup to freeze", path.display())]
    FreezeTimeout {
        /// The freezer dir.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(step: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            step,
            path: path.into(),
            source,
        }
    }

    /// The errno of an I/O error, if any (for callers that decide on EBUSY/ENOENT etc.).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Displays an io::Error as runc words it (moat_sys::errno::text).
struct Errno<'a>(&'a io::Error);

impl fmt::Display for Errno<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&moat_sys::errno::text(self.0))
    }
}
