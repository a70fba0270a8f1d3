//! cgroup v2 manager: one directory in the unified hierarchy. Controllers are enabled in
//! every ancestor's `cgroup.subtree_control` on create (as runc's fs2 does), and the leaf
//! can be handed to `clone3(CLONE_INTO_CGROUP)` as a directory fd.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use rustix::fs::{Mode, OFlags};

use crate::dirs::{Dir, Dirs};
use crate::fsutil::{self, nap, parse_flat_keyed, read, read_u64, read_u64_opt};
use crate::path::CgPath;
use crate::stats::{BlkioEntry, Hugetlb, MemoryEntry, Stats};
use crate::v1::hugetlb_sizes;
use crate::{v2_resources, Cgroup, Error, FreezerState, Root};

pub(crate) struct V2 {
    dirs: Dirs,
}

impl V2 {
    pub(crate) fn new(root: &Root, p: &CgPath, recorded: Option<&[PathBuf]>) -> Result<V2, Error> {
        let u = root
            .unified
            .as_ref()
            .ok_or_else(|| Error::NoCgroupMounts("mountinfo (no cgroup2 mount)".into()))?;
        Ok(V2 {
            dirs: Dirs::new(vec![Dir::new(u, p, recorded)?], recorded),
        })
    }

    fn dir(&self) -> &Dir {
        &self.dirs.dirs[0]
    }

    fn leaf(&self) -> &Path {
        &self.dir().leaf
    }

    /// Enables every available controller in the subtree_control of the mount root and
    /// every level down to the leaf's parent. Failures are tolerated (a level with
    /// processes, a controller in threaded mode): the resource write will then fail with
    /// a precise path, which is the better error.
    fn enable_controllers(&self) {
        let d = self.dir();
        let rel = d.leaf.strip_prefix(&d.mount).unwrap_or(Path::new(""));
        let mut cur = d.mount.clone();
        let levels = rel.components().count();
        for (i, c) in std::iter::once(None)
            .chain(rel.components().map(Some))
            .enumerate()
        {
            if let Some(c) = c {
                cur.push(c);
            }
            if i == levels {
                break; // the leaf: no subtree_control (no-internal-process rule)
            }
            let Ok(avail) = read(&cur, "cgroup.controllers") else {
                continue;
            };
            let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
            if want.is_empty() {
                continue;
            }
            if fsutil::write(&cur, "cgroup.subtree_control", &want.join(" ")).is_err() {
                for w in &want {
                    let _ = fsutil::write(&cur, "cgroup.subtree_control", w);
                }
            }
        }
    }
}

impl Cgroup for V2 {
    fn paths(&self) -> Vec<PathBuf> {
        self.dirs.paths()
    }

    fn create(&self) -> Result<(), Error> {
        // The leaf's controller files appear as soon as its parent enables them in
        // subtree_control, so enabling after the mkdirs is enough.
        self.dirs.create()?;
        self.enable_controllers();
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<(), Error> {
        v2_resources::apply(self.leaf(), r)
    }

    fn add_pid(&self, pid: i32) -> Result<(), Error> {
        self.dirs.add_pid(pid)
    }

    fn pids(&self) -> Result<Vec<i32>, Error> {
        fsutil::read_pids(self.leaf())
    }

    fn freeze(&self) -> Result<(), Error> {
        let d = self.leaf();
        fsutil::write(d, "cgroup.freeze", "1")?;
        if !fsutil::exists(d, "cgroup.events") {
            return Ok(());
        }
        for _ in 0..1000 {
            if events_frozen(d)? {
                return Ok(());
            }
            nap(1);
        }
        fsutil::write(d, "cgroup.freeze", "0")?;
        Err(Error::FreezeTimeout {
            path: d.to_path_buf(),
        })
    }

    fn thaw(&self) -> Result<(), Error> {
        fsutil::write(self.leaf(), "cgroup.freeze", "0")
    }

    fn state(&self) -> Result<FreezerState, Error> {
        let d = self.leaf();
        let asked = match read(d, "cgroup.freeze") {
            Ok(s) => s.trim() == "1",
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        let frozen = asked && (!fsutil::exists(d, "cgroup.events") || events_frozen(d)?);
        Ok(if frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        })
    }

    fn stats(&self) -> Result<Stats, Error> {
        let d = self.leaf();
        let mut s = Stats::default();
        if let Ok(t) = read(d, "cpu.stat") {
            for (k, v) in parse_flat_keyed(&t) {
                match k {
                    "usage_usec" => s.cpu.usage.total = v.saturating_mul(1000),
                    "user_usec" => s.cpu.usage.user = v.saturating_mul(1000),
                    "system_usec" => s.cpu.usage.kernel = v.saturating_mul(1000),
                    "nr_periods" => s.cpu.throttling.periods = v,
                    "nr_throttled" => s.cpu.throttling.throttled_periods = v,
                    "throttled_usec" => s.cpu.throttling.throttled_time = v.saturating_mul(1000),
                    _ => {}
                }
            }
        }
        if fsutil::exists(d, "memory.current") {
            if let Ok(t) = read(d, "memory.stat") {
                for (k, v) in parse_flat_keyed(&t) {
                    s.memory.raw.insert(k.to_owned(), v);
                }
            }
            s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
            let oom = read(d, "memory.events").ok();
            let failcnt = oom
                .as_deref()
                .and_then(|t| {
                    parse_flat_keyed(t)
                        .find(|(k, _)| *k == "max")
                        .map(|(_, v)| v)
                })
                .unwrap_or(0);
            s.memory.usage = MemoryEntry {
                limit: read_u64(d, "memory.max")?,
                usage: read_u64(d, "memory.current")?,
                max: read_u64_opt(d, "memory.peak")?,
                failcnt,
            };
            // runc reports v2 swap with v1 memsw semantics: memory + swap.
            if fsutil::exists(d, "memory.swap.current") {
                let sw = read_u64(d, "memory.swap.current")?;
                let swmax = read_u64(d, "memory.swap.max")?;
                s.memory.swap = MemoryEntry {
                    usage: sw.saturating_add(s.memory.usage.usage),
                    limit: swmax.saturating_add(s.memory.usage.limit),
                    ..Default::default()
                };
            }
        }
        if fsutil::exists(d, "pids.current") {
            s.pids.current = read_u64(d, "pids.current")?;
            let max = read_u64(d, "pids.max")?;
            s.pids.limit = if max == u64::MAX { 0 } else { max };
        }
        if let Ok(t) = read(d, "io.stat") {
            io_stat(&t, &mut s);
        }
        for size in hugetlb_sizes(d, ".max")? {
            let ev = read(d, &format!("hugetlb.{size}.events")).unwrap_or_default();
            let e = Hugetlb {
                usage: read_u64_opt(d, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: parse_flat_keyed(&ev)
                    .find(|(k, _)| *k == "max")
                    .map_or(0, |(_, v)| v),
            };
            s.hugetlb.insert(size, e);
        }
        Ok(s)
    }

    fn destroy(&self) -> Result<(), Error> {
        self.dirs.destroy()
    }

    fn v2_dir_fd(&self) -> Option<OwnedFd> {
        rustix::fs::open(
            self.leaf(),
            OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        )
        .ok()
    }

    fn enter(&self) -> Result<Option<crate::Entered>, Error> {
        Ok(None)
    }

    fn is_v2(&self) -> bool {
        true
    }
}

fn events_frozen(d: &Path) -> Result<bool, Error> {
    let t = read(d, "cgroup.events")?;
    let frozen = parse_flat_keyed(&t).any(|(k, v)| k == "frozen" && v == 1);
    Ok(frozen)
}

/// "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
fn io_stat(t: &str, s: &mut Stats) {
    for l in t.lines() {
        let mut it = l.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
}
