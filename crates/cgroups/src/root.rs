//! Where the cgroup hierarchies are: parsed from /proc/self/mountinfo (and /proc/self/cgroup
//! for the runtime's own cgroup, which relative cgroupsPaths hang below).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::Error;

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// Only the cgroup2 unified hierarchy.
    V2,
    /// v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified) with no controllers
    /// we use: resources go through v1, but the cgroup2 dir is created and joined too.
    Hybrid,
}

impl Layout {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Layout::V1 => "cgroup v1",
            Layout::V2 => "cgroup v2",
            Layout::Hybrid => "hybrid cgroups (v1 controllers)",
        }
    }
}

/// v1 controllers runc's cgroupfs driver joins (plus the `name=systemd` hierarchy).
const V1_KNOWN: &[&str] = &[
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "freezer",
    "rdma",
    "misc",
];

/// One mounted hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct Hierarchy {
    /// The mount point, with the test prefix applied.
    pub mount: PathBuf,
    /// The mountinfo "root" field (not "/" inside a cgroup namespace or a bind mount).
    pub root: String,
    /// v1: the controllers (and `name=...`) of this hierarchy; v2: empty.
    pub controllers: Vec<String>,
    /// The runtime's own cgroup in this hierarchy (from /proc/self/cgroup), "/" if unknown.
    pub own: String,
}

impl Hierarchy {
    pub(crate) fn has(&self, ctrl: &str) -> bool {
        self.controllers.iter().any(|c| c == ctrl)
    }

    /// The base dir that relative cgroupsPaths are joined to: own cgroup relative to the mount.
    pub(crate) fn own_dir(&self) -> Result<PathBuf, Error> {
        let root = self.root.trim_end_matches('/');
        let rel = if root.is_empty() {
            Some(self.own.as_str())
        } else {
            self.own
                .strip_prefix(root)
                .filter(|r| r.is_empty() || r.starts_with('/'))
        };
        let rel = rel.ok_or_else(|| Error::Parse {
            what: "/proc/self/cgroup".into(),
            detail: format!(
                "own cgroup {} is outside the mount root {} of {}",
                self.own,
                self.root,
                self.mount.display()
            ),
        })?;
        Ok(self.mount.join(rel.trim_start_matches('/')))
    }
}

/// The cgroup mounts of the host (or of a fake tree in tests).
#[derive(Debug, Clone)]
pub struct Root {
    pub(crate) layout: Layout,
    pub(crate) v1: Vec<Hierarchy>,
    pub(crate) unified: Option<Hierarchy>,
}

impl Root {
    /// Reads /proc/self/mountinfo and /proc/self/cgroup.
    pub fn detect() -> Result<Root, Error> {
        Root::detect_with_mountinfo().map(|(root, _)| root)
    }

    /// [`Root::detect`], also handing back the mountinfo text it read: a
    /// caller that needs the cgroup mounts' options too (the container's
    /// `type: cgroup` mount) need not have the kernel format it again.
    pub fn detect_with_mountinfo() -> Result<(Root, String), Error> {
        let mi = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
        let mut root = Root::from_mountinfo(&mi, Path::new("/"))?;
        let cg = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| Error::io("read", "/proc/self/cgroup", e))?;
        root.set_self_cgroup(&cg)?;
        Ok((root, mi))
    }

    /// Builds a Root from mountinfo text; mount points are taken relative to `prefix` (use
    /// "/" for the real host). The runtime's own cgroup is "/" until
    /// [`Root::set_self_cgroup`] is called.
    pub fn from_mountinfo(text: &str, prefix: &Path) -> Result<Root, Error> {
        let mut v1: Vec<Hierarchy> = Vec::new();
        let mut unified: Option<Hierarchy> = None;
        // Every mount point, in mount order: a cgroup mount with a later
        // mount at or above its path is hidden (e.g. cgroup2 mounted over
        // /sys/fs/cgroup on a hybrid host), as runc's statfs check sees it.
        let points: Vec<String> = text
            .lines()
            .filter_map(|l| {
                l.split_once(" - ")
                    .and_then(|(pre, _)| pre.split(' ').nth(4))
            })
            .map(|p| unescape(p).into_owned())
            .collect();
        let hidden = |i: usize, mp: &str| {
            points[i + 1..].iter().any(|later| {
                let later = later.trim_end_matches('/');
                mp == later || later.is_empty() || mp.starts_with(&format!("{later}/"))
            })
        };
        for (i, line) in text.lines().enumerate() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let mut post_it = post.split(' ');
            let fstype = post_it.next().unwrap_or("");
            if fstype != "cgroup" && fstype != "cgroup2" {
                continue;
            }
            let _source = post_it.next();
            let superopts = post_it.next().unwrap_or("");
            let mut pre_it = pre.split(' ');
            let (Some(_id), Some(_parent), Some(_dev), Some(mroot), Some(mpoint)) = (
                pre_it.next(),
                pre_it.next(),
                pre_it.next(),
                pre_it.next(),
                pre_it.next(),
            ) else {
                return Err(Error::Parse {
                    what: "mountinfo".into(),
                    detail: format!("short line: {line:?}"),
                });
            };
            if hidden(i, &unescape(mpoint)) {
                continue;
            }
            let mount = prefixed(prefix, &unescape(mpoint));
            if fstype == "cgroup2" {
                if unified.is_none() {
                    unified = Some(Hierarchy {
                        mount,
                        root: unescape(mroot).into_owned(),
                        controllers: Vec::new(),
                        own: "/".into(),
                    });
                }
                continue;
            }
            let controllers: Vec<String> = superopts
                .split(',')
                .filter(|o| V1_KNOWN.contains(o) || *o == "name=systemd")
                .map(str::to_owned)
                .collect();
            if controllers.is_empty() {
                continue;
            }
            // The same hierarchy can be mounted twice (bind mounts): keep the first.
            if v1.iter().any(|h| h.controllers == controllers) {
                continue;
            }
            v1.push(Hierarchy {
                mount,
                root: unescape(mroot).into_owned(),
                controllers,
                own: "/".into(),
            });
        }
        let real_v1 = v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        let layout = match (real_v1, unified.is_some()) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::V1,
            (false, true) => {
                // A lone name=systemd v1 mount on a v2 host is not ours to join.
                v1.clear();
                Layout::V2
            }
            (false, false) => return Err(Error::NoCgroupMounts("mountinfo".into())),
        };
        Ok(Root {
            layout,
            v1,
            unified,
        })
    }

    /// Sets the runtime's own cgroup per hierarchy from /proc/self/cgroup text (relative
    /// cgroupsPaths, and the default path, are placed below it, as runc does).
    pub fn set_self_cgroup(&mut self, text: &str) -> Result<(), Error> {
        for line in text.lines() {
            let mut it = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if ctrls.is_empty() {
                if let Some(u) = self.unified.as_mut() {
                    u.own = path.to_owned();
                }
                continue;
            }
            for h in self.v1.iter_mut() {
                let n = ctrls.split(',').count();
                if n == h.controllers.len() && ctrls.split(',').all(|c| h.has(c)) {
                    h.own = path.to_owned();
                }
            }
        }
        Ok(())
    }

    /// The detected layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Mount points of all hierarchies we use (v1 first, then the unified one).
    pub fn mounts(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.v1.iter().map(|h| h.mount.clone()).collect();
        if let Some(u) = &self.unified {
            v.push(u.mount.clone());
        }
        v
    }
}

fn prefixed(prefix: &Path, mp: &str) -> PathBuf {
    if prefix == Path::new("/") {
        PathBuf::from(mp)
    } else {
        prefix.join(mp.trim_start_matches('/'))
    }
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn layouts() {
        let r = Root::from_mountinfo(HYBRID, Path::new("/")).unwrap();
        assert_eq!(r.layout(), Layout::Hybrid);
        assert_eq!(r.v1.len(), 3);
        assert_eq!(
            r.unified.as_ref().unwrap().mount,
            Path::new("/sys/fs/cgroup/unified")
        );
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Root::from_mountinfo(v2, Path::new("/t")).unwrap().layout(),
            Layout::V2
        );
        let v1: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            Root::from_mountinfo(&v1, Path::new("/")).unwrap().layout(),
            Layout::V1
        );
        assert!(matches!(
            Root::from_mountinfo("1 2 3:4 / / rw - ext4 /dev/sda rw\n", Path::new("/")),
            Err(Error::NoCgroupMounts(_))
        ));
    }

    #[test]
    fn combined_controllers_and_self_cgroup() {
        let mi = "1 0 0:1 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n2 0 0:2 /sub /cg/memory rw - cgroup cgroup rw,memory\n";
        let mut r = Root::from_mountinfo(mi, Path::new("/")).unwrap();
        r.set_self_cgroup("3:cpuacct,cpu:/a/b\n2:memory:/sub/x\n")
            .unwrap();
        assert_eq!(r.v1[0].own, "/a/b");
        assert_eq!(r.v1[0].own_dir().unwrap(), Path::new("/cg/cpu,cpuacct/a/b"));
        assert_eq!(r.v1[1].own_dir().unwrap(), Path::new("/cg/memory/x"));
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
