//! An overlayfs rootfs for a container with its own user namespace.
//!
//! containerd, docker and podman hand the runtime a rootfs that is an
//! overlayfs mount. overlayfs itself cannot be id-mapped, but its layers can
//! (Linux ≥ 5.19), and since 6.15 an overlay can be assembled from detached
//! layer mounts passed by fd. So for a floor-made user namespace moat reads
//! the overlay's layers from the mount table, id-maps each one into the
//! container's user namespace and builds a second, detached overlay of them
//! that the init attaches over its rootfs (in its own mount namespace; the
//! host's overlay stays as it was). The image then needs no chown, the
//! container's root owns its files, and what it writes lands in the upper
//! layer with the image's own ids.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use rustix::mount::MountAttrFlags;

/// An overlay mount's configuration as the mount table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layers {
    /// Lower layers, top first.
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Other overlayfs options, passed on as they are.
    pub options: Vec<(String, Option<String>)>,
    /// The mount's own flags (nosuid, nodev, …).
    pub attrs: MountAttrFlags,
}

/// Options passed on to the new overlay unchanged.
const PASSED: [&str; 9] = [
    "redirect_dir",
    "fsync",
    "uuid",
    "nfs_export",
    "xino",
    "metacopy",
    "verity",
    "userxattr",
    "index",
];

/// The layers of the overlay mounted at `rootfs`, or why it cannot be
/// rebuilt id-mapped.
pub fn layers(rootfs: &Path) -> Result<Layers, String> {
    if !kernel_at_least(6, 15) {
        return Err("overlay layers by fd need Linux 6.15".into());
    }
    let st = rustix::fs::statx(
        rustix::fs::CWD,
        rootfs,
        AtFlags::empty(),
        StatxFlags::MNT_ID,
    )
    .map_err(|e| format!("statx {}: {e}", rootfs.display()))?;
    let real = std::fs::canonicalize(rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
    let line = table
        .lines()
        .find(|l| l.split(' ').next() == Some(&st.stx_mnt_id.to_string()))
        .ok_or("rootfs mount not in /proc/self/mountinfo")?;
    parse_mountinfo_line(line, &real)
}

/// One mountinfo line of the overlay at `mount_point`.
fn parse_mountinfo_line(line: &str, mount_point: &Path) -> Result<Layers, String> {
    let (head, tail) = line.split_once(" - ").ok_or("malformed mountinfo line")?;
    let head: Vec<&str> = head.split(' ').collect();
    let tail: Vec<&str> = tail.split(' ').collect();
    if head.len() < 6 || tail.len() < 3 {
        return Err("malformed mountinfo line".into());
    }
    if tail[0] != "overlay" {
        return Err(format!("rootfs is {}, not overlay", tail[0]));
    }
    if head[3] != "/" || Path::new(OsStr::from_bytes(&unescape(head[4]))) != mount_point {
        return Err("rootfs is a directory inside an overlay, not its mount point".into());
    }
    let mut attrs = MountAttrFlags::empty();
    for o in head[5].split(',') {
        attrs |= match o {
            "ro" => MountAttrFlags::MOUNT_ATTR_RDONLY,
            "nosuid" => MountAttrFlags::MOUNT_ATTR_NOSUID,
            "nodev" => MountAttrFlags::MOUNT_ATTR_NODEV,
            "noexec" => MountAttrFlags::MOUNT_ATTR_NOEXEC,
            "noatime" => MountAttrFlags::MOUNT_ATTR_NOATIME,
            "nodiratime" => MountAttrFlags::MOUNT_ATTR_NODIRATIME,
            "strictatime" => MountAttrFlags::MOUNT_ATTR_STRICTATIME,
            _ => MountAttrFlags::empty(),
        };
    }
    let (mut lowers, mut upper, mut work, mut options) = (Vec::new(), None, None, Vec::new());
    for o in tail[2].split(',') {
        let (k, v) = match o.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (o, None),
        };
        match (k, v) {
            ("rw", None) => {}
            ("ro", None) => attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY,
            ("lowerdir", Some(v)) => {
                for part in split_layers(v) {
                    if part.is_empty() {
                        return Err("data-only lower layers are not supported".into());
                    }
                    lowers.push(absolute(&part)?);
                }
            }
            ("lowerdir+", Some(v)) => lowers.push(absolute(&unescape(v))?),
            ("upperdir", Some(v)) => upper = Some(absolute(&unescape(v))?),
            ("workdir", Some(v)) => work = Some(absolute(&unescape(v))?),
            ("volatile", None) | ("fsync", Some("volatile")) => {
                // A volatile overlay marks its work dir; a second mount on it
                // is refused ("incompat feature 'volatile'").
                return Err("volatile overlay (podman run --rm)".into());
            }
            ("index", Some("on")) => {
                // A second overlay on the same upper layer is refused (EBUSY)
                // while the index is on.
                return Err("overlay option index=on".into());
            }
            (k, v) if PASSED.contains(&k) => {
                let v = v.map(|v| String::from_utf8_lossy(&unescape(v)).into_owned());
                options.push((k.to_string(), v));
            }
            _ => return Err(format!("overlay option {o} is not passed on")),
        }
    }
    let (Some(upper), Some(work)) = (upper, work) else {
        return Err("overlay has no upper layer (read-only overlay)".into());
    };
    if lowers.is_empty() {
        return Err("overlay has no lower layer".into());
    }
    Ok(Layers {
        lowers,
        upper,
        work,
        options,
        attrs,
    })
}

/// `lowerdir=a:b:c` as overlayfs splits it: on `:` not escaped by `\`,
/// each part then unescaped (the table's octal escapes and `\:`). An empty
/// part marks data-only layers (`::`).
fn split_layers(v: &str) -> Vec<Vec<u8>> {
    let (mut parts, mut cur, mut bytes) = (Vec::new(), String::new(), v.chars().peekable());
    while let Some(c) = bytes.next() {
        match c {
            '\\' if bytes.peek() == Some(&':') => {
                cur.push(':');
                bytes.next();
            }
            ':' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts.iter().map(|p| unescape(p)).collect()
}

/// The mount table's octal escapes (`\040` for a space, `\134` for `\`).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = |c: u8| (b'0'..=b'7').contains(&c);
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|&c| oct(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn absolute(p: &[u8]) -> Result<PathBuf, String> {
    let p = PathBuf::from(OsStr::from_bytes(p));
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(format!("overlay layer path {} is relative", p.display()))
    }
}

/// A detached overlay of `l`'s layers, each id-mapped through `userns`,
/// created as the container's root (`root`: its host uid and gid).
pub fn build(l: &Layers, userns: impl AsFd, root: (u32, u32)) -> std::io::Result<OwnedFd> {
    use moat_sys::mount::idmapped_tree_with;
    let ns = userns.as_fd();
    let lowers = l
        .lowers
        .iter()
        .map(|p| idmapped_tree_with(p, ns, false).map_err(|e| in_layer(e, p)))
        .collect::<std::io::Result<Vec<_>>>()?;
    // upper and work must sit on one mount: map their common parent once.
    let top = common_parent(&l.upper, &l.work);
    let tree = idmapped_tree_with(&top, ns, false).map_err(|e| in_layer(e, &top))?;
    let open = |p: &Path| {
        let rel = p.strip_prefix(&top).expect("below the common parent");
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        rustix::fs::openat(
            &tree,
            rel,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| in_layer(e.into(), p))
    };
    let (upper, work) = (open(&l.upper)?, open(&l.work)?);
    let options: Vec<(&str, Option<&str>)> = l
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    moat_sys::mount::overlay_from_fds(&lowers, upper, work, &options, root, l.attrs)
}

fn in_layer(e: std::io::Error, p: &Path) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!("{}: {}", p.display(), moat_sys::errno::text(&e)),
    )
}

fn common_parent(a: &Path, b: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for (x, y) in a.components().zip(b.components()) {
        if x != y || matches!(x, Component::ParentDir | Component::CurDir) {
            break;
        }
        out.push(x);
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let uts = rustix::system::uname();
    let release = uts.release().to_string_lossy();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINERD: &str = "1084 1083 0:193 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw,nosuid,relatime shared:600 - overlay overlay rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs:/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/11/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/13/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/13/work,uuid=on";

    #[test]
    fn containerd_overlay_parses() {
        let mp = Path::new("/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs");
        let l = parse_mountinfo_line(CONTAINERD, mp).unwrap();
        let s = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots";
        assert_eq!(
            l.lowers,
            vec![
                PathBuf::from(format!("{s}/12/fs")),
                PathBuf::from(format!("{s}/11/fs"))
            ]
        );
        assert_eq!(l.upper, PathBuf::from(format!("{s}/13/fs")));
        assert_eq!(l.work, PathBuf::from(format!("{s}/13/work")));
        assert_eq!(
            l.options,
            vec![("uuid".to_string(), Some("on".to_string()))]
        );
        assert_eq!(l.attrs, MountAttrFlags::MOUNT_ATTR_NOSUID);
        assert_eq!(
            common_parent(&l.upper, &l.work),
            PathBuf::from(format!("{s}/13"))
        );
    }

    #[test]
    fn refuses_what_it_cannot_rebuild() {
        let mp = Path::new("/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs");
        let other = Path::new("/elsewhere");
        assert!(parse_mountinfo_line(CONTAINERD, other)
            .unwrap_err()
            .contains("inside an overlay"));
        let ext4 = "20 1 8:1 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - ext4 /dev/sda1 rw";
        assert!(parse_mountinfo_line(ext4, mp).unwrap_err().contains("ext4"));
        for (from, to, why) in [
            (",uuid=on", ",index=on", "index=on"),
            ("lowerdir=/var", "lowerdir=var", "relative"),
            ("/11/fs,", "/11/fs::/data,", "data-only"),
            (",uuid=on", ",frobnicate", "frobnicate"),
            (",upperdir=", ",x=", "x="),
            (",uuid=on", ",uuid=on,fsync=volatile", "volatile"),
        ] {
            let line = CONTAINERD.replacen(from, to, 1);
            let e = parse_mountinfo_line(&line, mp).unwrap_err();
            assert!(e.contains(why), "{to}: {e}");
        }
    }

    #[test]
    fn escapes_in_layer_paths() {
        let parts = split_layers(r"/a\040b:/c\:d:/e\134f");
        assert_eq!(
            parts,
            vec![b"/a b".to_vec(), b"/c:d".to_vec(), b"/e\\f".to_vec()]
        );
        let line = CONTAINERD.replace("/13/fs,", "/13/f\\054s,");
        let mp = Path::new("/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs");
        let l = parse_mountinfo_line(&line, mp).unwrap();
        assert!(l.upper.ends_with("13/f,s"));
    }

    #[test]
    fn kernel_version_compares() {
        assert!(kernel_at_least(2, 6));
        assert!(!kernel_at_least(999, 0));
    }
}
