//! The container's mount namespace: mounts, devices, pivot_root, masked and
//! read-only paths. Runs in the container init, before `execve`.
//!
//! Every path inside the rootfs is hostile: it is resolved with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` (and `RESOLVE_NO_SYMLINKS`
//! for /proc, /sys, /dev and pseudo filesystems) and mounted through the
//! resulting fd (`/proc/self/fd/N`), never through a string re-resolved later.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

use crate::fail::{At, Fail, R};
use crate::mountopts::{self, MountOpts};

const NONE: Option<&str> = None;

/// `/proc/self/fd/N` for an fd, the handle mount(2) follows to the fd's file.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

fn resolve_flags(strict: bool) -> ResolveFlags {
    let mut f = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    if strict {
        f |= ResolveFlags::NO_SYMLINKS;
    }
    f
}

/// Open `p` (absolute, container view) beneath `root` as an O_PATH fd.
pub fn resolve(root: &OwnedFd, p: &Path, strict: bool) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        p,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        resolve_flags(strict),
    )
}

/// Resolve `p` beneath `root`, creating what is missing (directories, and a
/// regular file for the last component when `kind` is File).
fn ensure(root: &OwnedFd, p: &Path, kind: Kind, strict: bool) -> R<OwnedFd> {
    let disp = &p.display().to_string();
    match resolve(root, p, strict) {
        Ok(fd) => return check_not_root(root, fd, p),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => {
            return Err(Fail::new(
                "resolve mount destination",
                disp,
                e.raw_os_error(),
            ))
        }
    }
    let comps: Vec<&std::ffi::OsStr> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut prefix = PathBuf::from("/");
    let mut cur = rustix::io::dup(root).at("dup rootfs fd", disp)?;
    for (i, name) in comps.iter().enumerate() {
        prefix.push(name);
        let last = i + 1 == comps.len();
        match resolve(root, &prefix, strict) {
            Ok(fd) => cur = fd,
            Err(rustix::io::Errno::NOENT) => {
                if last && kind == Kind::File {
                    rustix::fs::openat(
                        &cur,
                        *name,
                        OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                        Mode::from_raw_mode(0o644),
                    )
                    .at("create mount destination", prefix.display())?;
                } else {
                    match rustix::fs::mkdirat(&cur, *name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => {
                            return Err(Fail::new(
                                "mkdir mount destination",
                                prefix.display(),
                                e.raw_os_error(),
                            ))
                        }
                    }
                }
                cur = resolve(root, &prefix, strict)
                    .at("resolve mount destination", prefix.display())?;
            }
            Err(e) => {
                return Err(Fail::new(
                    "resolve mount destination",
                    prefix.display(),
                    e.raw_os_error(),
                ))
            }
        }
    }
    check_not_root(root, cur, p)
}

/// A destination that resolves to the rootfs itself (e.g. via a symlink to
/// "/") would shadow the whole container root: refuse it.
fn check_not_root(root: &OwnedFd, fd: OwnedFd, p: &Path) -> R<OwnedFd> {
    let a = rustix::fs::fstat(root).at("stat rootfs", "/")?;
    let b = rustix::fs::fstat(&fd).at("stat mount destination", p.display())?;
    if a.st_dev == b.st_dev && a.st_ino == b.st_ino {
        return Err(Fail::new(
            "mount destination resolves to the container root",
            p.display(),
            libc::EINVAL,
        ));
    }
    Ok(fd)
}

/// Open `rel` (relative to /proc: "sys/kernel/domainname",
/// "self/oom_score_adj") in the container's procfs for writing.
/// CVE-2025-52881: whatever is mounted over part of /proc by then (a bind
/// of a tenant's directory, a tmpfs with symlinks) must not receive the
/// runtime's writes. /proc must be procfs; the walk may not leave it, cross
/// a mount or follow a magic link (procfs's own `self` link stays inside);
/// the opened file must be on procfs too.
pub fn open_proc_write(rel: &str) -> R<OwnedFd> {
    open_proc(rel, OFlags::WRONLY | OFlags::TRUNC)
}

/// An O_PATH handle of a directory in the real procfs, as `open_proc_write`.
fn open_proc_path(rel: &str) -> R<OwnedFd> {
    open_proc(rel, OFlags::PATH | OFlags::DIRECTORY)
}

fn open_proc(rel: &str, flags: OFlags) -> R<OwnedFd> {
    let path = format!("/proc/{rel}");
    let proc = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", "/proc")?;
    verify_procfs(&proc, "/proc")?;
    let fd = rustix::fs::openat2(
        &proc,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS,
    )
    .at("open in procfs (no mount crossing)", &path)?;
    verify_procfs(&fd, &path)?;
    Ok(fd)
}

fn verify_procfs(fd: &OwnedFd, path: &str) -> R<()> {
    let st = rustix::fs::fstatfs(fd).at("statfs", path)?;
    if st.f_type != libc::PROC_SUPER_MAGIC {
        return Err(Fail::new("verify procfs", path, libc::EXDEV));
    }
    Ok(())
}

/// One cgroup hierarchy of the host, from /proc/self/mountinfo.
struct Hierarchy {
    /// basename under /sys/fs/cgroup ("memory", "cpu,cpuacct", "unified").
    name: String,
    v2: bool,
    /// mount options naming the controllers ("memory", "name=systemd").
    opts: String,
}

/// From `mountinfo` (the parent's, see `Prepare::host_mountinfo`), or read.
fn host_cgroup_hierarchies(mountinfo: Option<&str>) -> Vec<Hierarchy> {
    let read;
    let text = match mountinfo {
        Some(t) => t,
        None => {
            read = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            read.as_str()
        }
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), Some(_src), Some(sopts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        let Some(mp) = left.split(' ').nth(4) else {
            continue;
        };
        if !mp.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let name = mp
            .trim_start_matches("/sys/fs/cgroup")
            .trim_start_matches('/');
        match fstype {
            "cgroup2" => out.push(Hierarchy {
                name: name.to_string(),
                v2: true,
                opts: String::new(),
            }),
            "cgroup" => {
                let opts: Vec<&str> = sopts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
                    .collect();
                out.push(Hierarchy {
                    name: name.to_string(),
                    v2: false,
                    opts: opts.join(","),
                })
            }
            _ => {}
        }
    }
    out
}

/// Mount flags that a user namespace cannot clear on a bind remount.
fn locked_flags(fd: &impl AsFd) -> MsFlags {
    let mut f = MsFlags::empty();
    if let Ok(st) = rustix::fs::fstatvfs(fd) {
        use rustix::fs::StatVfsMountFlags as S;
        let m = st.f_flag;
        for (s, ms) in [
            (S::NODEV, MsFlags::MS_NODEV),
            (S::NOSUID, MsFlags::MS_NOSUID),
            (S::NOEXEC, MsFlags::MS_NOEXEC),
            (S::RDONLY, MsFlags::MS_RDONLY),
            (S::NOATIME, MsFlags::MS_NOATIME),
            (S::NODIRATIME, MsFlags::MS_NODIRATIME),
            (S::RELATIME, MsFlags::MS_RELATIME),
        ] {
            if m.contains(s) {
                f |= ms;
            }
        }
    }
    f
}

/// Remount a bind mount with `flags`, keeping flags the kernel locked.
fn bind_remount(target: &str, fd: &impl AsFd, flags: MsFlags) -> nix::Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(NONE, target, NONE, base | flags, NONE) {
        Err(nix::errno::Errno::EPERM) => {
            let keep = locked_flags(fd) & !(MsFlags::MS_RDONLY);
            mount(NONE, target, NONE, base | flags | keep, NONE)
        }
        r => r,
    }
}

/// Everything before pivot_root.
pub struct Prepare<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub userns: bool,
    pub new_cgroupns: bool,
    pub cgroup_paths: &'a [PathBuf],
    /// An id-mapped copy of the rootfs made by the parent, to attach in
    /// place of the plain bind.
    pub rootfs_tree: Option<OwnedFd>,
    /// Blocks until the parent has put us in our cgroup (and unshares the
    /// cgroup namespace); called before the first cgroup mount.
    pub ensure_joined: &'a dyn Fn() -> R<()>,
    /// Id-mapped trees by mount index (idmap/ridmap binds), and `/dev`'s
    /// tmpfs with its nodes when the parent made it (devtree.rs).
    pub trees: std::cell::RefCell<Vec<Option<OwnedFd>>>,
    /// The mount index of that parent-made `/dev`.
    pub dev_tree: Option<usize>,
    /// The parent's mountinfo text when our mount namespace is a copy of
    /// its: the host's cgroup hierarchies are read from it.
    pub host_mountinfo: Option<&'a str>,
}

impl Prepare<'_> {
    /// Set up propagation, bind the rootfs, do every configured mount and
    /// create the devices. Returns the rootfs fd.
    pub fn run(&self) -> R<OwnedFd> {
        let linux = self.spec.linux().as_ref();
        let prop = linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .and_then(mountopts::propagation)
            .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
        // Private first so nothing the container mounts leaks to the host,
        // whatever the configured propagation.
        let first = if prop.contains(MsFlags::MS_SHARED) {
            MsFlags::MS_PRIVATE | MsFlags::MS_REC
        } else {
            prop
        };
        mount(NONE, "/", NONE, first, NONE).at("set propagation of", "/")?;
        let root = match &self.rootfs_tree {
            // Attached through fds: a user-namespaced init may not be able
            // to walk the host path to the bundle (e.g. a 0700 parent).
            Some(tree) => {
                // The init stands in the rootfs (its cwd, carried into this
                // mount namespace): attach there.
                rustix::mount::move_mount(
                    tree,
                    "",
                    rustix::fs::CWD,
                    ".",
                    rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                )
                .at("attach id-mapped rootfs", self.rootfs.display())?;
                // The tree fd is now the root of the attached mount.
                rustix::io::dup(tree).at("dup rootfs fd", self.rootfs.display())?
            }
            None => {
                mount(
                    Some(self.rootfs),
                    self.rootfs,
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    NONE,
                )
                .at("bind rootfs", self.rootfs.display())?;
                rustix::fs::open(
                    self.rootfs,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .at("open rootfs", self.rootfs.display())?
            }
        };

        let mounts = self.spec.mounts().as_deref().unwrap_or_default();
        let mut dev_is_bind = false;
        for (i, m) in mounts.iter().enumerate() {
            let opts =
                mountopts::parse(m.options().as_deref().unwrap_or_default()).map_err(|_| {
                    Fail::new(
                        "parse mount options",
                        m.destination().display(),
                        libc::EINVAL,
                    )
                })?;
            if m.destination() == Path::new("/dev") && opts.is_bind() {
                dev_is_bind = true;
            }
            let tree = self.trees.borrow_mut().get_mut(i).and_then(|t| t.take());
            if self.dev_tree == Some(i) {
                let tree = tree.ok_or_else(|| Fail::new("receive /dev", "/dev", libc::EPROTO))?;
                self.attach_dev(&root, &tree, &opts)?;
                continue;
            }
            self.mount_one(&root, m, &opts, tree)?;
        }
        if !dev_is_bind {
            self.devices(&root)?;
        }
        Ok(root)
    }

    fn mount_one(&self, root: &OwnedFd, m: &Mount, o: &MountOpts, tree: Option<OwnedFd>) -> R<()> {
        let dest = m.destination();
        let typ = m.typ().as_deref().unwrap_or("");
        let pseudo = matches!(
            typ,
            "proc" | "sysfs" | "cgroup" | "cgroup2" | "devpts" | "mqueue"
        );
        let strict = pseudo
            || dest.starts_with("/proc")
            || dest.starts_with("/sys")
            || dest.starts_with("/dev");
        if let Some(tree) = tree {
            // idmap/ridmap: the parent made an id-mapped copy of the source;
            // attach it at the destination through fds.
            let is_dir = rustix::fs::fstat(&tree)
                .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
                .at("stat id-mapped source", dest.display())?;
            let kind = if is_dir { Kind::Dir } else { Kind::File };
            let dfd = ensure(root, dest, kind, strict)?;
            rustix::mount::move_mount(
                &tree,
                "",
                &dfd,
                "",
                rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH
                    | rustix::mount::MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
            )
            .at("attach id-mapped mount", dest.display())?;
            return self.finish_bind(root, dest, o, strict);
        }
        if o.is_bind() {
            let src = m.source().as_ref().ok_or_else(|| {
                Fail::new("bind mount without source", dest.display(), libc::EINVAL)
            })?;
            let src = if src.is_absolute() {
                src.clone()
            } else {
                self.bundle.join(src)
            };
            let srcfd = rustix::fs::open(&src, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                .at("open bind source", src.display())?;
            let is_dir = rustix::fs::fstat(&srcfd)
                .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
                .at("stat bind source", src.display())?;
            let kind = if is_dir { Kind::Dir } else { Kind::File };
            let dfd = ensure(root, dest, kind, strict)?;
            let target = fd_path(&dfd);
            mount(
                Some(fd_path(&srcfd).as_str()),
                target.as_str(),
                NONE,
                o.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
                NONE,
            )
            .at("bind mount", dest.display())?;
            return self.finish_bind(root, dest, o, strict);
        }
        if typ == "cgroup" || typ == "cgroup2" {
            (self.ensure_joined)()?;
        }
        if typ == "cgroup" {
            return self.mount_cgroup(root, dest, o);
        }
        let dfd = ensure(root, dest, Kind::Dir, strict)?;
        let target = fd_path(&dfd);
        let src = m
            .source()
            .as_ref()
            .map(|s| s.as_path())
            .unwrap_or(Path::new(typ));
        let data = (!o.data.is_empty()).then_some(o.data.as_str());
        let r = mount(Some(src), target.as_str(), Some(typ), o.flags, data);
        match (r, typ) {
            (Ok(()), _) => {}
            // In a user namespace the gid= of devpts may be unmapped.
            (Err(nix::errno::Errno::EINVAL), "devpts") if o.data.contains("gid=") => {
                let data: Vec<&str> = o
                    .data
                    .split(',')
                    .filter(|d| !d.starts_with("gid="))
                    .collect();
                mount(
                    Some(src),
                    target.as_str(),
                    Some(typ),
                    o.flags,
                    Some(data.join(",").as_str()),
                )
                .at("mount devpts", dest.display())?;
            }
            // sysfs needs a network namespace owned by our user namespace:
            // fall back to a read-only bind of the host's /sys, as runc does.
            (Err(nix::errno::Errno::EPERM), "sysfs") if self.userns => {
                mount(
                    Some("/sys"),
                    target.as_str(),
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    NONE,
                )
                .at("bind sysfs", dest.display())?;
                let dfd =
                    resolve(root, dest, true).at("resolve mount destination", dest.display())?;
                bind_remount(&fd_path(&dfd), &dfd, o.flags | MsFlags::MS_RDONLY)
                    .at("remount sysfs", dest.display())?;
            }
            (Err(e), _) => return Err(Fail::new("mount", dest.display(), e as i32)),
        }
        if typ == "proc" {
            let pfd = resolve(root, dest, true).at("resolve proc", dest.display())?;
            let st = rustix::fs::fstatfs(&pfd).at("statfs proc", dest.display())?;
            if st.f_type != libc::PROC_SUPER_MAGIC {
                return Err(Fail::new("verify procfs", dest.display(), libc::EXDEV));
            }
        }
        self.propagate(root, dest, o, strict)
    }

    /// The parent-made `/dev` (its flags set by fsmount), then propagation.
    fn attach_dev(&self, root: &OwnedFd, tree: &OwnedFd, o: &MountOpts) -> R<()> {
        let dest = Path::new("/dev");
        let dfd = ensure(root, dest, Kind::Dir, true)?;
        rustix::mount::move_mount(
            tree,
            "",
            &dfd,
            "",
            rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH
                | rustix::mount::MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )
        .at("attach /dev", "/dev")?;
        self.propagate(root, dest, o, true)
    }

    /// After a bind: the flags a bind cannot set itself (ro, nosuid...) by
    /// a remount, then propagation.
    fn finish_bind(&self, root: &OwnedFd, dest: &Path, o: &MountOpts, strict: bool) -> R<()> {
        let extra = o.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            // Re-open: an fd taken before the bind points at the covered dir.
            let dfd =
                resolve(root, dest, strict).at("resolve mount destination", dest.display())?;
            bind_remount(&fd_path(&dfd), &dfd, extra).at("remount bind", dest.display())?;
        }
        self.propagate(root, dest, o, strict)
    }

    fn propagate(&self, root: &OwnedFd, dest: &Path, o: &MountOpts, strict: bool) -> R<()> {
        if o.propagation.is_empty() {
            return Ok(());
        }
        let dfd = resolve(root, dest, strict).at("resolve mount destination", dest.display())?;
        let target = fd_path(&dfd);
        for p in &o.propagation {
            mount(NONE, target.as_str(), NONE, *p, NONE).at("set propagation", dest.display())?;
        }
        Ok(())
    }

    /// `type: cgroup`: a tmpfs with one mount per host hierarchy (v1/hybrid),
    /// or a single cgroup2 mount (pure v2).
    fn mount_cgroup(&self, root: &OwnedFd, dest: &Path, o: &MountOpts) -> R<()> {
        let hs = host_cgroup_hierarchies(self.host_mountinfo);
        let ro = o.flags.contains(MsFlags::MS_RDONLY);
        let flags = o.flags & !MsFlags::MS_RDONLY;
        let dfd = ensure(root, dest, Kind::Dir, true)?;
        let pure_v2 = hs.len() == 1 && hs[0].v2 && hs[0].name.is_empty();
        if pure_v2 {
            mount(
                Some("cgroup2"),
                fd_path(&dfd).as_str(),
                Some("cgroup2"),
                o.flags,
                NONE,
            )
            .at("mount cgroup2", dest.display())?;
            return Ok(());
        }
        mount(
            Some("tmpfs"),
            fd_path(&dfd).as_str(),
            Some("tmpfs"),
            flags,
            Some("mode=755"),
        )
        .at("mount cgroup tmpfs", dest.display())?;
        // As runc: one mount per v1 hierarchy; the tmpfs itself stays
        // writable and the unified hierarchy of a hybrid host is not shown.
        for h in hs.iter().filter(|h| !h.v2) {
            if h.name.is_empty() || h.name.contains('/') {
                continue;
            }
            let sub = dest.join(&h.name);
            let sfd = ensure(root, &sub, Kind::Dir, true)?;
            let fl = flags
                | if ro {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                };
            if self.userns || !self.new_cgroupns {
                // Without a cgroup namespace a fresh mount would show the
                // host's whole hierarchy, and a user namespace may not mount
                // cgroup v1 at all: bind the container's own directory.
                let mnt = Path::new("/sys/fs/cgroup").join(&h.name);
                let Some(own) = self.cgroup_paths.iter().rev().find(|p| p.starts_with(&mnt)) else {
                    continue;
                };
                mount(
                    Some(own),
                    fd_path(&sfd).as_str(),
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    NONE,
                )
                .at("bind cgroup", sub.display())?;
                let sfd =
                    resolve(root, &sub, true).at("resolve mount destination", sub.display())?;
                bind_remount(&fd_path(&sfd), &sfd, fl).at("remount cgroup", sub.display())?;
                continue;
            }
            let source = h.opts.strip_prefix("name=").unwrap_or("cgroup");
            mount(
                Some(source),
                fd_path(&sfd).as_str(),
                Some("cgroup"),
                fl,
                Some(h.opts.as_str()),
            )
            .at("mount cgroup", sub.display())?;
        }
        if ro && !self.new_cgroupns {
            // As runc: the tmpfs stays rw but its root becomes 0555, so the
            // container (without CAP_DAC_OVERRIDE) cannot add to it.
            let dfd = resolve(root, dest, true).at("resolve mount destination", dest.display())?;
            rustix::fs::chmod(fd_path(&dfd).as_str(), Mode::from_raw_mode(0o555))
                .at("chmod cgroup tmpfs", dest.display())?;
        }
        Ok(())
    }

    fn devices(&self, root: &OwnedFd) -> R<()> {
        let dev = match resolve(root, Path::new("/dev"), true) {
            Ok(fd) => fd,
            Err(e) => return Err(Fail::new("resolve", "/dev", e.raw_os_error())),
        };
        let defaults = crate::devtree::DEFAULT_DEVICES;
        let cfg: &[LinuxDevice] = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().as_deref())
            .unwrap_or_default();
        for (name, major, minor) in defaults {
            let p = PathBuf::from("/dev").join(name);
            if cfg.iter().any(|d| d.path() == &p) {
                continue;
            }
            self.make_device(
                root,
                &p,
                FileType::CharacterDevice,
                major,
                minor,
                0o666,
                None,
                None,
            )?;
        }
        for d in cfg {
            let ft = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
                LinuxDeviceType::B => FileType::BlockDevice,
                LinuxDeviceType::P => FileType::Fifo,
                LinuxDeviceType::A => {
                    return Err(Fail::new(
                        "device type 'a' is not a file",
                        d.path().display(),
                        libc::EINVAL,
                    ))
                }
            };
            self.make_device(
                root,
                d.path(),
                ft,
                d.major() as u32,
                d.minor() as u32,
                d.file_mode().unwrap_or(0o666),
                d.uid(),
                d.gid(),
            )?;
        }
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            symlink_if_missing(&dev, target, link)?;
        }
        if Path::new("/proc/kcore").exists() {
            symlink_if_missing(&dev, "/proc/kcore", "core")?;
        }
        if resolve(root, Path::new("/dev/pts/ptmx"), true).is_ok() {
            // A regular /dev/ptmx in the image would not reach our devpts.
            match rustix::fs::unlinkat(&dev, "ptmx", rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(Fail::new("remove", "/dev/ptmx", e.raw_os_error())),
            }
            symlink_if_missing(&dev, "pts/ptmx", "ptmx")?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn make_device(
        &self,
        root: &OwnedFd,
        p: &Path,
        ft: FileType,
        major: u32,
        minor: u32,
        mode: u32,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> R<()> {
        let disp = &p.display().to_string();
        if self.dev_tree.is_some() && p.starts_with("/dev") {
            // The parent made it in /dev's tmpfs.
            return Ok(());
        }
        if self.userns {
            // mknod is not allowed in a user namespace: bind the host node.
            let host = rustix::fs::open(p, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                .at("open host device", disp)?;
            let dfd = ensure(root, p, Kind::File, true)?;
            mount(
                Some(fd_path(&host).as_str()),
                fd_path(&dfd).as_str(),
                NONE,
                MsFlags::MS_BIND,
                NONE,
            )
            .at("bind device", disp)?;
            return Ok(());
        }
        let parent = p.parent().unwrap_or(Path::new("/"));
        let name = p
            .file_name()
            .ok_or_else(|| Fail::new("device path", disp, libc::EINVAL))?;
        let pfd = ensure(root, parent, Kind::Dir, true)?;
        let dirfd = rustix::fs::openat(
            &pfd,
            ".",
            OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .at("open device dir", parent.display())?;
        match rustix::fs::unlinkat(&dirfd, name, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(Fail::new("replace device", disp, e.raw_os_error())),
        }
        let dev = rustix::fs::makedev(major, minor);
        rustix::fs::mknodat(&dirfd, name, ft, Mode::from_raw_mode(mode & 0o7777), dev)
            .at("mknod", disp)?;
        // mknod applies the umask: set the mode exactly.
        let f = rustix::fs::openat(
            &dirfd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .at("open device", disp)?;
        rustix::fs::chmod(fd_path(&f).as_str(), Mode::from_raw_mode(mode & 0o7777))
            .at("chmod device", disp)?;
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                &dirfd,
                name,
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .at("chown device", disp)?;
        }
        Ok(())
    }
}

fn symlink_if_missing(dev: &OwnedFd, target: &str, link: &str) -> R<()> {
    let dirfd = rustix::fs::openat(dev, ".", OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .at("open", "/dev")?;
    match rustix::fs::symlinkat(target, &dirfd, link) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(Fail::new(
            "symlink",
            format!("/dev/{link}"),
            e.raw_os_error(),
        )),
    }
}

/// Make the prepared rootfs the root: pivot_root (or MS_MOVE + chroot).
pub fn pivot(root: &OwnedFd, rootfs: &Path, no_pivot: bool) -> R<()> {
    let disp = &rootfs.display().to_string();
    rustix::process::fchdir(root).at("chdir", disp)?;
    if no_pivot {
        mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE).at("move rootfs", disp)?;
        rustix::process::chroot(".").at("chroot", disp)?;
    } else {
        rustix::process::pivot_root(".", ".").at("pivot_root", disp)?;
        // The old root is stacked under the new one: detach it.
        umount2(".", MntFlags::MNT_DETACH).at("unmount old root", disp)?;
    }
    rustix::process::chdir("/").at("chdir", "/")?;
    Ok(())
}

/// After pivot_root: masked and read-only paths, read-only rootfs, and the
/// final propagation of "/".
///
/// `skip_unopenable`: the floor's user namespace, where masked paths its
/// root cannot open get no mount; `known` (from [`host_unopenable`]) names
/// those the parent already found unopenable or absent, which are not even
/// looked up.
pub fn finish(spec: &Spec, skip_unopenable: bool, known: &[bool]) -> R<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", "/")?;
    // From here "/proc" is the container's, which the tenant may have
    // covered in part (CVE-2025-52881): mount through a verified handle of
    // the real /proc/self/fd as cwd, by relative name, never through a
    // "/proc/self/fd/N" string resolved in the container's /proc.
    let fds = open_proc_path("self/fd")?;
    rustix::process::fchdir(&fds).at("chdir", "/proc/self/fd")?;
    let linux = spec.linux().as_ref();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default();
    if !masked.is_empty() {
        mask_paths(&root, masked, skip_unopenable, known)?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default()
    {
        let fd = match resolve(&root, Path::new(p), true) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(Fail::new("resolve readonly path", p, e.raw_os_error())),
        };
        let t = rel_fd_path(&fd);
        mount(
            Some(t.as_str()),
            t.as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .at("bind readonly path", p)?;
        let fd = resolve(&root, Path::new(p), true).at("resolve readonly path", p)?;
        bind_remount(&rel_fd_path(&fd), &fd, MsFlags::MS_RDONLY).at("remount readonly path", p)?;
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        bind_remount("/", &root, MsFlags::MS_RDONLY).at("remount rootfs read-only", "/")?;
    }
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(mountopts::propagation)
    {
        mount(NONE, "/", NONE, p, NONE).at("set rootfs propagation", "/")?;
    }
    rustix::process::chdir("/").at("chdir", "/")?;
    Ok(())
}

/// `N` for an fd: its magic link in the verified /proc/self/fd that
/// `finish` stands in.
fn rel_fd_path(fd: &impl AsRawFd) -> String {
    fd.as_raw_fd().to_string()
}

/// Whether nothing in this user namespace can open `fd` (a file of proc or
/// sysfs, which have no ACLs): its root, with every capability of the
/// namespace, is refused reading and writing (and, for a directory,
/// searching) with EACCES. A capability overrides permissions only for
/// files whose owner and group the namespace maps, so that refusal means
/// the owner and group are unmapped (no process here is either) and the
/// "other" bits deny: /proc/kmsg, /proc/kpage*, /proc/timer_list (0400
/// host root), /sys/kernel/debug (0700). Masking those costs a mount each
/// and hides nothing the tenant could reach.
fn unopenable(fd: &OwnedFd, dir: bool) -> bool {
    let Ok(fs) = rustix::fs::fstatfs(fd) else {
        return false;
    };
    if fs.f_type != libc::PROC_SUPER_MAGIC && fs.f_type != libc::SYSFS_MAGIC {
        return false;
    }
    // Through its magic link in the verified /proc/self/fd we stand in.
    let link = rel_fd_path(fd);
    let denied = |a: rustix::fs::Access| {
        rustix::fs::accessat(
            rustix::fs::CWD,
            link.as_str(),
            a,
            rustix::fs::AtFlags::EACCESS,
        ) == Err(rustix::io::Errno::ACCESS)
    };
    use rustix::fs::Access;
    denied(Access::READ_OK) && denied(Access::WRITE_OK) && (!dir || denied(Access::EXEC_OK))
}

/// For each masked path: does the floor's user namespace need no mount for
/// it, as the host's proc and sysfs show? Decided in the parent, so the init
/// does not look these paths up in its new proc or sysfs at all: a lookup
/// leaves a dentry and an inode there (~1 KiB charged to the container, for
/// as long as the mount lives), and the path needs no mask: the container's
/// root cannot open it (`unopenable`) or it does not exist
/// (`absent_in_container`).
///
/// True only when every one of these holds: the container's proc or sysfs
/// at that path is the config's own `/proc` (type proc) or `/sys` (type
/// sysfs) mount, not something mounted over it; the user namespace maps
/// neither host uid 0 nor gid 0; and the host's file, reached without
/// symlinks or mount crossings from a verified host /proc or /sys, is owned
/// by root:root with no read or write (for a directory: nothing) allowed to
/// group and others. Proc and sysfs entries outside pid and network
/// directories are the kernel's, one set for every mount of them: the
/// container's root, with no capability over files of unmapped owners, is
/// refused them as it is refused the host's. Anything else is left to the
/// init (`unopenable`, or a mask).
pub fn host_unopenable(spec: &Spec) -> Vec<bool> {
    let linux = spec.linux().as_ref();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default();
    let mut out = vec![false; masked.len()];
    let maps_root = |m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.into_iter()
            .flatten()
            .any(|m| m.host_id() == 0 && m.size() > 0)
    };
    let Some(l) = linux else { return out };
    if maps_root(l.uid_mappings().as_ref()) || maps_root(l.gid_mappings().as_ref()) {
        return out;
    }
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let mut hosts: Vec<(&str, Option<OwnedFd>)> = Vec::new();
    for (i, p) in masked.iter().enumerate() {
        let path = Path::new(p);
        // The last mount whose destination holds the path must be /proc's
        // proc or /sys's sysfs.
        let Some(m) = mounts
            .iter()
            .rev()
            .find(|m| path.starts_with(m.destination()))
        else {
            continue;
        };
        let (top, magic) = match (m.destination().to_str(), m.typ().as_deref()) {
            (Some("/proc"), Some("proc")) => ("/proc", libc::PROC_SUPER_MAGIC),
            (Some("/sys"), Some("sysfs")) => ("/sys", libc::SYSFS_MAGIC),
            _ => continue,
        };
        let Ok(rel) = path.strip_prefix(top) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dir = match hosts.iter().position(|(t, _)| *t == top) {
            Some(k) => &hosts[k].1,
            None => {
                let fd = rustix::fs::open(
                    top,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ok()
                .filter(|fd| rustix::fs::fstatfs(fd).is_ok_and(|f| f.f_type == magic));
                hosts.push((top, fd));
                &hosts[hosts.len() - 1].1
            }
        };
        let Some(dir) = dir else { continue };
        let fd = match rustix::fs::openat2(
            dir,
            rel,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS
                | ResolveFlags::NO_XDEV,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                out[i] = absent_in_container(top, rel, dir);
                continue;
            }
            Err(_) => continue,
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            continue;
        };
        let closed = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => st.st_mode & 0o066 == 0,
            FileType::Directory => st.st_mode & 0o077 == 0,
            _ => false,
        };
        out[i] = closed && st.st_uid == 0 && st.st_gid == 0;
    }
    out
}

/// A path the host's proc or sysfs does not have (`dir`, verified, at
/// `top`): the container's new one will not have it either. A new sysfs
/// differs from the host's only in network devices (a new namespace has
/// fewer); a new proc only in pid directories (`rel` must not start with
/// one) and in what a host mount option hides: `subset=pid` hides every
/// global entry, so the host's must show one (`filesystems`). The init
/// would find the path missing and mask nothing; this spares its lookup
/// (a negative dentry, or inodes of the directories on the way).
fn absent_in_container(top: &str, rel: &Path, dir: &OwnedFd) -> bool {
    match top {
        "/sys" => true,
        "/proc" => {
            let first = rel.components().next().and_then(|c| match c {
                Component::Normal(n) => n.to_str(),
                _ => None,
            });
            first.is_some_and(|f| !f.starts_with(|c: char| c.is_ascii_digit()))
                && rustix::fs::statat(dir, "filesystems", rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok()
        }
        _ => false,
    }
}

fn mask_paths(root: &OwnedFd, masked: &[String], skip_unopenable: bool, known: &[bool]) -> R<()> {
    // The /dev/null we bind over masked files must be the real one, not
    // something the image put there (CVE-2025-31133).
    let null = resolve(root, Path::new("/dev/null"), true).at("resolve", "/dev/null")?;
    let st = rustix::fs::fstat(&null).at("stat", "/dev/null")?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || st.st_rdev != rustix::fs::makedev(1, 3)
    {
        return Err(Fail::new(
            "verify /dev/null is the null device",
            "/dev/null",
            libc::EPERM,
        ));
    }
    // Every masked directory shows the same empty read-only tmpfs: the
    // first gets a new one, the others a bind of it. A tmpfs each (runc,
    // crun) costs a superblock, its root inode and its shrinker each, ~4
    // KiB of kernel memory per directory and container (docs/perf.md).
    let mut empty: Option<OwnedFd> = None;
    for (i, p) in masked.iter().enumerate() {
        if skip_unopenable && known.get(i) == Some(&true) {
            continue;
        }
        let fd = match resolve(root, Path::new(p), true) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(Fail::new("resolve masked path", p, e.raw_os_error())),
        };
        let st = rustix::fs::fstat(&fd).at("stat masked path", p)?;
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if skip_unopenable && unopenable(&fd, is_dir) {
            continue;
        }
        let t = rel_fd_path(&fd);
        if let (true, Some(empty)) = (is_dir, &empty) {
            // A bind keeps the read-only flag of its source.
            mount(
                Some(rel_fd_path(empty).as_str()),
                t.as_str(),
                NONE,
                MsFlags::MS_BIND,
                NONE,
            )
            .at("mask directory", p)?;
        } else if is_dir {
            mount(
                Some("tmpfs"),
                t.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                NONE,
            )
            .at("mask directory", p)?;
            empty = Some(resolve(root, Path::new(p), true).at("resolve masked path", p)?);
        } else {
            mount(
                Some(rel_fd_path(&null).as_str()),
                t.as_str(),
                NONE,
                MsFlags::MS_BIND,
                NONE,
            )
            .at("mask file", p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host_unopenable;
    use oci_spec::runtime::Spec;

    fn spec(masked: &[&str], mounts: serde_json::Value, host_uid: u32) -> Spec {
        let map = serde_json::json!([{"containerID": 0, "hostID": host_uid, "size": 65536}]);
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": mounts,
            "linux": {"maskedPaths": masked, "uidMappings": map, "gidMappings": map}
        }))
        .unwrap()
    }

    fn std_mounts() -> serde_json::Value {
        serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs"}
        ])
    }

    // Reads the host's /proc: /proc/kmsg is 0400 root:root on Linux.
    #[test]
    fn host_root_only_or_absent_paths_need_no_mask() {
        let masked = [
            "/proc/kmsg",
            "/proc/version",
            "/proc/no-such-file",
            "/proc/99999999/environ",
            "/sys/no-such-dir",
            "/etc/kmsg",
        ];
        let got = host_unopenable(&spec(&masked, std_mounts(), 100000));
        // Absent on the host: absent in the container too, but a pid
        // directory may exist in its pid namespace and not in the host's.
        assert_eq!(got, [true, false, true, false, true, false]);
    }

    #[test]
    fn not_when_the_path_is_not_the_configs_proc() {
        // Something mounted over /proc (or no proc mount at all): the host's
        // proc says nothing about what the container will see there.
        let mut m = std_mounts();
        m.as_array_mut().unwrap().push(
            serde_json::json!({"destination": "/proc/kmsg", "type": "bind", "source": "/tmp"}),
        );
        assert_eq!(host_unopenable(&spec(&["/proc/kmsg"], m, 100000)), [false]);
        let tmpfs = serde_json::json!([{"destination": "/proc", "type": "tmpfs", "source": "t"}]);
        assert_eq!(
            host_unopenable(&spec(&["/proc/kmsg"], tmpfs, 100000)),
            [false]
        );
    }

    #[test]
    fn not_when_host_root_is_mapped() {
        assert_eq!(
            host_unopenable(&spec(&["/proc/kmsg"], std_mounts(), 0)),
            [false]
        );
    }
}
