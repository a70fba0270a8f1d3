//! `/dev` for a container in a new user namespace, made by the parent.
//!
//! The init may not `mknod` in its user namespace, and device nodes on a
//! filesystem it mounts there would not open (the superblock is marked
//! nodev). runc and crun therefore bind every host device node into the
//! container's `/dev`: six bind mounts per container for the defaults. Here
//! the parent, host root, makes the `/dev` tmpfs itself (`fsopen`, so its
//! superblock belongs to the host's user namespace), creates the nodes in
//! it and hands the detached mount to the init, which attaches it as it
//! would an id-mapped tree: one mount instead of seven.
//!
//! What this gives the container is what the binds gave it, and no more:
//! - the same nodes (defaults and `linux.devices`), opened through the
//!   same device cgroup;
//! - no new nodes: `mknod` of a device needs CAP_MKNOD in the host's user
//!   namespace, on any filesystem;
//! - the tmpfs root and the nodes belong to the container's root (runc
//!   without a user namespace shows the same `root root`; the binds showed
//!   `nobody`), so the tenant can add files to its `/dev` as before;
//! - the container cannot remount it (size, options): that needs
//!   CAP_SYS_ADMIN in the superblock's (the host's) user namespace.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, LinuxIdMapping, Spec};
use rustix::fs::{FileType, Mode};
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, FsMountFlags,
    FsOpenFlags, MountAttrFlags,
};

use crate::error::{Context, Error, Result};

/// The nodes every container gets (runc's list), unless `linux.devices`
/// names the same path.
pub const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Mount flags a detached tmpfs can carry as `MOUNT_ATTR_*`; a `/dev`
/// mount asking for anything else is left to the init.
fn attrs_of(flags: MsFlags) -> Option<MountAttrFlags> {
    let map = [
        (MsFlags::MS_NOSUID, MountAttrFlags::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, MountAttrFlags::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, MountAttrFlags::MOUNT_ATTR_NOEXEC),
        (
            MsFlags::MS_STRICTATIME,
            MountAttrFlags::MOUNT_ATTR_STRICTATIME,
        ),
        (MsFlags::MS_NOATIME, MountAttrFlags::MOUNT_ATTR_NOATIME),
        (MsFlags::MS_RELATIME, MountAttrFlags::MOUNT_ATTR_RELATIME),
        (
            MsFlags::MS_NODIRATIME,
            MountAttrFlags::MOUNT_ATTR_NODIRATIME,
        ),
    ];
    let mut attrs = MountAttrFlags::empty();
    let mut rest = flags;
    for (f, a) in map {
        if flags.contains(f) {
            attrs |= a;
            rest -= f;
        }
    }
    // MS_NODEV on /dev would make every node useless: keep runc's result
    // (the binds kept working because a bind does not inherit it).
    attrs -= MountAttrFlags::MOUNT_ATTR_NODEV;
    rest.is_empty().then_some(attrs)
}

/// The host id that container id `id` maps to.
fn to_host(maps: Option<&Vec<LinuxIdMapping>>, id: u32) -> Option<u32> {
    maps?.iter().find_map(|m| {
        (id >= m.container_id() && id - m.container_id() < m.size())
            .then(|| m.host_id() + (id - m.container_id()))
    })
}

/// One node to make: path below /dev, type, device number, mode, owner
/// (container ids).
struct Node {
    rel: PathBuf,
    ft: FileType,
    dev: (u32, u32),
    mode: u32,
    owner: (u32, u32),
}

fn nodes(devices: &[LinuxDevice]) -> Option<Vec<Node>> {
    let mut v = Vec::new();
    for (name, major, minor) in DEFAULT_DEVICES {
        let p = Path::new("/dev").join(name);
        if devices.iter().any(|d| d.path() == &p) {
            continue;
        }
        v.push(Node {
            rel: PathBuf::from(name),
            ft: FileType::CharacterDevice,
            dev: (major, minor),
            mode: 0o666,
            owner: (0, 0),
        });
    }
    for d in devices {
        let rel = d.path().strip_prefix("/dev").ok()?;
        // Plain names only: nothing may walk out of the new tmpfs.
        if rel.as_os_str().is_empty()
            || rel.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            return None;
        }
        let ft = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            LinuxDeviceType::A => return None,
        };
        v.push(Node {
            rel: rel.to_path_buf(),
            ft,
            dev: (d.major() as u32, d.minor() as u32),
            mode: d.file_mode().unwrap_or(0o666),
            owner: (d.uid().unwrap_or(0), d.gid().unwrap_or(0)),
        });
    }
    Some(v)
}

/// For a container in a new user namespace whose `/dev` is a tmpfs:
/// `(index of that mount, the detached tmpfs with every device node)`.
/// `None` when the config asks for something this does not cover (a bind
/// `/dev`, a device outside /dev, flags a detached mount cannot carry):
/// the init then mounts and binds as runc does.
pub fn build(spec: &Spec) -> Result<Option<(usize, OwnedFd)>> {
    let linux = spec.linux().as_ref().expect("validated");
    let (umaps, gmaps) = (linux.uid_mappings().as_ref(), linux.gid_mappings().as_ref());
    let Some((i, m)) = spec
        .mounts()
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, m)| m.destination() == Path::new("/dev"))
    else {
        return Ok(None);
    };
    if m.typ().as_deref() != Some("tmpfs") {
        return Ok(None);
    }
    let o = crate::mountopts::parse(m.options().as_deref().unwrap_or_default())
        .map_err(Error::Refused)?;
    if o.is_bind() || o.idmap.is_some() || !o.propagation.is_empty() {
        return Ok(None);
    }
    let Some(attrs) = attrs_of(o.flags) else {
        return Ok(None);
    };
    let Some(nodes) = nodes(linux.devices().as_deref().unwrap_or_default()) else {
        return Ok(None);
    };
    let host = |c: (u32, u32)| Some((to_host(umaps, c.0)?, to_host(gmaps, c.1)?));
    let Some(root) = host((0, 0)) else {
        return Ok(None);
    };
    let Some(owners) = nodes
        .iter()
        .map(|n| host(n.owner))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };

    const STEP: &str = "make /dev tmpfs";
    let opt = |s: &str| format!("/dev ({s})");
    let fs = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC).at(STEP, opt("fsopen"))?;
    let source = m
        .source()
        .as_ref()
        .and_then(|p| p.to_str())
        .unwrap_or("tmpfs");
    fsconfig_set_string(&fs, "source", source).at(STEP, opt("source"))?;
    let mut have_uid = false;
    let mut have_gid = false;
    for kv in o.data.split(',').filter(|s| !s.is_empty()) {
        match kv.split_once('=') {
            // uid=/gid= name container ids: the superblock is the host's.
            Some(("uid", v)) | Some(("gid", v)) => {
                let uid = kv.starts_with("uid");
                let id: u32 = v
                    .parse()
                    .map_err(|_| Error::Refused(format!("mount /dev: bad option {kv}")))?;
                let Some(h) = to_host(if uid { umaps } else { gmaps }, id) else {
                    return Ok(None);
                };
                let k = if uid { "uid" } else { "gid" };
                fsconfig_set_string(&fs, k, h.to_string().as_str()).at(STEP, opt(kv))?;
                have_uid |= uid;
                have_gid |= !uid;
            }
            Some((k, v)) => fsconfig_set_string(&fs, k, v).at(STEP, opt(kv))?,
            None => fsconfig_set_flag(&fs, kv).at(STEP, opt(kv))?,
        }
    }
    if !have_uid {
        fsconfig_set_string(&fs, "uid", root.0.to_string().as_str()).at(STEP, opt("uid"))?;
    }
    if !have_gid {
        fsconfig_set_string(&fs, "gid", root.1.to_string().as_str()).at(STEP, opt("gid"))?;
    }
    fsconfig_create(&fs).at(STEP, opt("create"))?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).at(STEP, opt("fsmount"))?;
    for (n, owner) in nodes.iter().zip(owners) {
        make_node(&mnt, n, owner, root)?;
    }
    Ok(Some((i, mnt)))
}

fn make_node(mnt: &OwnedFd, n: &Node, owner: (u32, u32), root: (u32, u32)) -> Result<()> {
    use rustix::fs::{chmodat, chownat, mkdirat, mknodat, AtFlags, Gid, Uid};
    let disp = Path::new("/dev").join(&n.rel);
    let own = |p: &Path, ids: (u32, u32)| {
        chownat(
            mnt.as_fd(),
            p,
            Some(Uid::from_raw(ids.0)),
            Some(Gid::from_raw(ids.1)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
    };
    // Parent directories (/dev/net for /dev/net/tun), the container root's.
    let mut dir = PathBuf::new();
    for c in n.rel.parent().into_iter().flat_map(|p| p.components()) {
        dir.push(c);
        match mkdirat(mnt.as_fd(), &dir, Mode::from_raw_mode(0o755)) {
            Ok(()) => own(&dir, root).at("chown device dir", Path::new("/dev").join(&dir))?,
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e).at("mkdir device dir", Path::new("/dev").join(&dir)),
        }
    }
    let dev = rustix::fs::makedev(n.dev.0, n.dev.1);
    match mknodat(
        mnt.as_fd(),
        &n.rel,
        n.ft,
        Mode::from_raw_mode(n.mode & 0o7777),
        dev,
    ) {
        Ok(()) => {}
        // Listed twice in linux.devices: the last one wins, as in the init.
        Err(rustix::io::Errno::EXIST) => {
            rustix::fs::unlinkat(mnt.as_fd(), &n.rel, AtFlags::empty())
                .at("replace device", &disp)?;
            mknodat(
                mnt.as_fd(),
                &n.rel,
                n.ft,
                Mode::from_raw_mode(n.mode & 0o7777),
                dev,
            )
            .at("mknod", &disp)?;
        }
        Err(e) => return Err(e).at("mknod", &disp),
    }
    // mknod applied our umask: set the mode exactly.
    chmodat(
        mnt.as_fd(),
        &n.rel,
        Mode::from_raw_mode(n.mode & 0o7777),
        AtFlags::empty(),
    )
    .at("chmod device", &disp)?;
    own(&n.rel, owner).at("chown device", &disp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_a_detached_mount_cannot_carry_fall_back() {
        assert!(attrs_of(MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME).is_some());
        assert!(attrs_of(MsFlags::MS_SYNCHRONOUS).is_none());
        assert!(attrs_of(MsFlags::MS_RDONLY).is_none());
        // nodev is dropped, not honoured: /dev must keep working.
        assert_eq!(attrs_of(MsFlags::MS_NODEV), Some(MountAttrFlags::empty()));
    }

    #[test]
    fn maps_container_ids_to_host() {
        let m = vec![oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(1_000_000_000u32)
            .size(65536u32)
            .build()
            .unwrap()];
        assert_eq!(to_host(Some(&m), 0), Some(1_000_000_000));
        assert_eq!(to_host(Some(&m), 5), Some(1_000_000_005));
        assert_eq!(to_host(Some(&m), 65536), None);
        assert_eq!(to_host(None, 0), None);
    }

    #[test]
    fn device_paths_must_stay_below_dev() {
        let dev = |p: &str| {
            oci_spec::runtime::LinuxDeviceBuilder::default()
                .path(p)
                .typ(LinuxDeviceType::C)
                .major(10)
                .minor(200)
                .build()
                .unwrap()
        };
        assert!(nodes(&[dev("/dev/net/tun")]).is_some());
        assert!(nodes(&[dev("/dev/../etc/x")]).is_none());
        assert!(nodes(&[dev("/opt/tun")]).is_none());
        // A config entry replaces the default of the same path.
        let v = nodes(&[dev("/dev/null")]).unwrap();
        assert_eq!(v.iter().filter(|n| n.rel == Path::new("null")).count(), 1);
    }
}
