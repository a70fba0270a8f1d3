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

/// A detached copy of the mount tree at `path` (recursive or only the top
/// mount), ids as they are.
pub fn tree(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    Ok(open_tree(rustix::fs::CWD, path, flags)?)
}

/// As [`idmapped_tree`], recursive (`ridmap`) or only the top mount (`idmap`).
pub fn idmapped_tree_with(path: &Path, userns: impl AsFd, recursive: bool) -> io::Result<OwnedFd> {
    let tree = tree(path, recursive)?;
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

/// One overlayfs option to pass on: a flag or a `key=value`.
pub type OverlayOption<'a> = (&'a str, Option<&'a str>);

/// A detached overlayfs mount assembled from layer fds (Linux ≥ 6.15:
/// layers by fd, O_PATH fds and detached layer mounts): `lowers` top first,
/// `upper` and `work` on one mount, `options` as overlayfs takes them.
///
/// The overlay is created with filesystem ids `creator` (uid, gid) and the
/// caller's capabilities: overlayfs does its own work on the layers (work
/// dir, copy-up, whiteouts) with its creator's credentials, and through
/// id-mapped layers only ids inside the mapping can own files, so the
/// creator must be someone the mapping knows (the container's root).
/// `attrs` are `MOUNT_ATTR_*` flags for the mount (nosuid, nodev, …).
pub fn overlay_from_fds(
    lowers: &[OwnedFd],
    upper: impl AsFd,
    work: impl AsFd,
    options: &[OverlayOption<'_>],
    creator: (u32, u32),
    attrs: rustix::mount::MountAttrFlags,
) -> io::Result<OwnedFd> {
    use rustix::mount::{
        fsconfig_create, fsconfig_set_fd, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen,
        FsMountFlags, FsOpenFlags,
    };
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let with_log = |step: &str, e: rustix::io::Errno| fs_error(&fs, step, e);
    for l in lowers {
        fsconfig_set_fd(&fs, "lowerdir+", l).map_err(|e| with_log("lowerdir+", e))?;
    }
    fsconfig_set_fd(&fs, "upperdir", upper).map_err(|e| with_log("upperdir", e))?;
    fsconfig_set_fd(&fs, "workdir", work).map_err(|e| with_log("workdir", e))?;
    for (k, v) in options {
        match v {
            Some(v) => fsconfig_set_string(&fs, *k, *v),
            None => fsconfig_set_flag(&fs, *k),
        }
        .map_err(|e| with_log(k, e))?;
    }
    let created = as_fs_ids(creator, || fsconfig_create(&fs))?;
    created.map_err(|e| with_log("create", e))?;
    Ok(fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
}

/// The error of an fsconfig step with the kernel's own message, if it left
/// one in the context's log.
fn fs_error(fs: &OwnedFd, step: &str, e: rustix::io::Errno) -> io::Error {
    let mut buf = [0u8; 256];
    let msg = match rustix::io::read(fs, &mut buf) {
        Ok(n) if n > 0 => String::from_utf8_lossy(&buf[..n]).trim().to_string(),
        _ => String::new(),
    };
    let text = crate::errno::text_of(e.raw_os_error());
    let detail = if msg.is_empty() {
        format!("overlay {step}: {text}")
    } else {
        format!("overlay {step}: {text} ({msg})")
    };
    io::Error::new(
        io::Error::from_raw_os_error(e.raw_os_error()).kind(),
        detail,
    )
}

/// Run `f` in this thread with filesystem ids `ids` and the effective
/// capabilities it had before (a change of fsuid away from 0 clears the
/// file capabilities from the effective set; they are raised again from the
/// permitted set). The ids and capabilities are restored after.
fn as_fs_ids<T>(ids: (u32, u32), f: impl FnOnce() -> T) -> io::Result<T> {
    let caps = rustix::thread::capabilities(None)?;
    let (old_uid, old_gid) = (set_fs_uid(ids.0), set_fs_gid(ids.1));
    let raised = rustix::thread::set_capabilities(None, caps);
    let out = raised.map(|_| f());
    set_fs_gid(old_gid);
    set_fs_uid(old_uid);
    rustix::thread::set_capabilities(None, caps)?;
    Ok(out?)
}

fn set_fs_uid(uid: u32) -> u32 {
    // SAFETY: setfsuid only changes this thread's filesystem uid and
    // returns the previous one; it takes no pointers.
    unsafe { libc::setfsuid(uid) as u32 }
}

fn set_fs_gid(gid: u32) -> u32 {
    // SAFETY: as set_fs_uid, for the filesystem gid.
    unsafe { libc::setfsgid(gid) as u32 }
}
