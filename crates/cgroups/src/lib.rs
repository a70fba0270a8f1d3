#![forbid(unsafe_code)]
//! moat's cgroup managers: one [`Cgroup`] trait, implemented for cgroup v1, v2 and hybrid
//! hosts with the cgroupfs driver semantics of runc 1.1. The mount locations come from a
//! [`Root`], which tests build from fake mountinfo text over a temp dir.
//!
//! See README.md for the design.

mod dirs;
mod error;
mod fsutil;
mod path;
pub mod resources;
mod root;
mod stats;
mod v1;
mod v1_resources;
mod v2;
pub mod v2_devices;
mod v2_resources;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub use error::Error;
pub use oci_spec::runtime::LinuxResources;
pub use root::{Layout, Root};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};

/// Freezer state, as `runc state` needs it ("paused" when Frozen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    /// Tasks run (also reported while a v1 freeze is still in progress).
    Thawed,
    /// All tasks are frozen.
    Frozen,
}

/// One container's cgroup, across every hierarchy of the host.
pub trait Cgroup: Send + Sync {
    /// Every directory this cgroup owns (the leaf of each hierarchy, plus parents that do
    /// not exist yet and that `create` will make), shallowest first / deepest last. Record
    /// them before [`Cgroup::create`] so that a SIGKILLed create can be undone
    /// (see [`open_recorded`]).
    fn paths(&self) -> Vec<PathBuf>;
    /// `mkdir -p` in every hierarchy (v1: cpuset.cpus/mems are copied from the parent when
    /// empty; v2: controllers are enabled in every parent's `cgroup.subtree_control`).
    fn create(&self) -> Result<(), Error>;
    /// Applies `linux.resources`.
    fn apply(&self, r: &LinuxResources) -> Result<(), Error>;
    /// Writes `pid` to `cgroup.procs` of every hierarchy, back to back.
    fn add_pid(&self, pid: i32) -> Result<(), Error>;
    /// The processes in the cgroup (v1: the freezer, else memory, else first hierarchy).
    fn pids(&self) -> Result<Vec<i32>, Error>;
    /// Freezes all tasks and waits until the kernel reports them frozen.
    fn freeze(&self) -> Result<(), Error>;
    /// Thaws.
    fn thaw(&self) -> Result<(), Error>;
    /// Current freezer state.
    fn state(&self) -> Result<FreezerState, Error>;
    /// Usage statistics (runc `events --stats` shape).
    fn stats(&self) -> Result<Stats, Error>;
    /// rmdir deepest-first in every hierarchy; retries EBUSY briefly; ENOENT is fine.
    /// Parents are removed only if this cgroup made them (or they were recorded) and they
    /// are empty.
    fn destroy(&self) -> Result<(), Error>;
    /// An `O_DIRECTORY|O_CLOEXEC` fd of the cgroup2 leaf (pure v2, or hybrid's unified
    /// hierarchy), for `clone3(CLONE_INTO_CGROUP)`.
    fn v2_dir_fd(&self) -> Option<OwnedFd>;
    /// Moves the calling thread into every v1 hierarchy's leaf by writing `0` to its
    /// `tasks` file, so that the child it forks next starts in the cgroup (with
    /// [`Cgroup::v2_dir_fd`] for a unified hierarchy). The kernel migrates a single thread
    /// named as `0` without its global threadgroup lock, whose RCU wait a pid written to
    /// `cgroup.procs` pays (~2 ms here, per container). Returns where the thread was, for
    /// [`leave`]; `None` where there is no v1 hierarchy (pure v2: clone3 places the child).
    fn enter(&self) -> Result<Option<Entered>, Error>;
    /// Whether this is a pure cgroup v2 cgroup (the child is placed by clone3 alone).
    fn is_v2(&self) -> bool {
        false
    }
}

/// The v1 cgroups a thread left for [`Cgroup::enter`].
#[derive(Debug)]
pub struct Entered {
    origins: Vec<PathBuf>,
}

/// Moves the calling thread back where it was before [`Cgroup::enter`].
pub fn leave(e: &Entered) -> Result<(), Error> {
    for o in &e.origins {
        fsutil::write(o, "tasks", "0")?;
    }
    Ok(())
}

/// Opens (without touching the filesystem, except to see which parents exist) the cgroup
/// of a container. `cgroups_path` follows runc's cgroupfs driver; see README.md.
pub fn open(
    root: &Root,
    cgroups_path: Option<&str>,
    container_id: &str,
) -> Result<Box<dyn Cgroup>, Error> {
    open_inner(root, cgroups_path, container_id, None)
}

/// Like [`open`], for `delete`: `recorded` is what [`Cgroup::paths`] returned before
/// `create` (from the state file). Parents named there are removed by `destroy` too, if
/// empty. Recorded paths that are not the leaf or one of its ancestors below a mount point
/// are ignored, so a tampered state file cannot make destroy rmdir anything else.
pub fn open_recorded(
    root: &Root,
    cgroups_path: Option<&str>,
    container_id: &str,
    recorded: &[PathBuf],
) -> Result<Box<dyn Cgroup>, Error> {
    open_inner(root, cgroups_path, container_id, Some(recorded))
}

fn open_inner(
    root: &Root,
    cgroups_path: Option<&str>,
    container_id: &str,
    recorded: Option<&[PathBuf]>,
) -> Result<Box<dyn Cgroup>, Error> {
    let p = path::parse(cgroups_path, container_id)?;
    Ok(match root.layout {
        Layout::V2 => Box::new(v2::V2::new(root, &p, recorded)?),
        Layout::V1 | Layout::Hybrid => Box::new(v1::V1::new(root, &p, recorded)?),
    })
}
