//! The parts of the new mount API that rustix does not wrap.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::mount::{open_tree, OpenTreeFlags};

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const AT_EMPTY_PATH: u32 = 0x1000;
const AT_RECURSIVE: u32 = 0x8000;

/// A detached copy of the mount tree at `path` (recursive) whose ids are
/// mapped through the user namespace `userns` (`MOUNT_ATTR_IDMAP`): files
/// owned by host uid 0 appear owned by whatever that namespace maps to 0.
/// Attach it with `move_mount`. Needs CAP_SYS_ADMIN over the source mount and
/// a filesystem that supports id-mapped mounts (ext4, xfs, btrfs, tmpfs ≥ 6.3,
/// overlayfs ≥ 5.19).
pub fn idmapped_tree(path: &Path, userns: impl AsFd) -> io::Result<OwnedFd> {
    idmapped_tree_with(path, userns, true)
}

/// As [`idmapped_tree`], recursive (`ridmap`) or only the top mount (`idmap`).
pub fn idmapped_tree_with(path: &Path, userns: impl AsFd, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = open_tree(rustix::fs::CWD, path, flags)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_fd().as_raw_fd() as u64,
    };
    let empty = b"\0";
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes from `attr`,
    // a live, fully initialised repr(C) struct, and a NUL-terminated empty
    // path; both outlive the call. It does not touch other memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 },
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(tree)
}
